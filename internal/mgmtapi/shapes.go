package mgmtapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/transferd/transferd/internal/control"
	"github.com/transferd/transferd/internal/policy"
	"github.com/transferd/transferd/internal/transfer"
)

// The shapes below are the Transfer API model's, member for member (the AWS SDK for Go's
// types.go and api_op_*.go). Input fields are named as the members they decode; pointers tell
// absent from empty. Output fields marshal under their Go names, which are the member names.

// Model limits checked here (the CLI checks them on the client side, the SDKs do not).
const (
	minMaxResults   = 1
	maxMaxResults   = 1000
	maxNextToken    = 6144
	maxUserName     = 100
	minARN          = 20
	maxARN          = 1600
	maxPolicyName   = 100
	maxPosixID      = 4294967295
	maxSecondaryGID = 16
)

// EndpointTag is the CreateServer tag whose value is the new server's listen address
// (host:port). It is taken out of the stored tags; see the package comment.
const EndpointTag = transfer.EndpointTag

type tagIn struct {
	Key   *string
	Value *string
}

type tagOut struct {
	Key   string
	Value string
}

type mappingIn struct {
	Entry  *string
	Target *string
	Type   *string
}

type mappingOut struct {
	Entry  string
	Target string
	Type   string `json:",omitempty"`
}

type posixProfileIn struct {
	Gid           *int64
	SecondaryGids []int64
	Uid           *int64
}

type posixProfileOut struct {
	Gid           uint32
	SecondaryGids []uint32 `json:",omitempty"`
	Uid           uint32
}

type protocolDetailsIn struct {
	As2Transports            []string
	PassiveIp                *string
	SetStatOption            *string
	TlsSessionResumptionMode *string
}

type protocolDetailsOut struct {
	SetStatOption string `json:",omitempty"`
}

type identityProviderDetailsIn struct {
	DirectoryId               *string
	Function                  *string
	InvocationRole            *string
	SftpAuthenticationMethods *string
	Url                       *string
}

type identityProviderDetailsOut struct {
	Function                  string `json:",omitempty"`
	InvocationRole            string `json:",omitempty"`
	SftpAuthenticationMethods string `json:",omitempty"`
	Url                       string `json:",omitempty"`
}

type s3StorageOptionsIn struct {
	DirectoryListingOptimization *string
}

type workflowDetailsIn struct {
	OnPartialUpload []workflowDetailIn
	OnUpload        []workflowDetailIn
}

type workflowDetailIn struct {
	WorkflowId    *string
	ExecutionRole *string
}

// serverSettings are the members CreateServer and UpdateServer share.
type serverSettings struct {
	Certificate                   *string
	EndpointDetails               json.RawMessage
	EndpointType                  *string
	HostKey                       *string
	IdentityProviderDetails       *identityProviderDetailsIn
	IdentityProviderType          *string
	IpAddressType                 *string
	LoggingRole                   *string
	PostAuthenticationLoginBanner *string
	PreAuthenticationLoginBanner  *string
	ProtocolDetails               *protocolDetailsIn
	Protocols                     []string
	S3StorageOptions              *s3StorageOptionsIn
	SecurityPolicyName            *string
	StructuredLogDestinations     []string
	WorkflowDetails               *workflowDetailsIn
}

type createServerInput struct {
	serverSettings
	Domain *string
	Tags   []tagIn
}

type serverIDOutput struct {
	ServerId string
}

type serverIDInput struct {
	ServerId *string
}

type updateServerInput struct {
	serverSettings
	ServerId *string
}

type describedServer struct {
	Arn                           string
	Domain                        string `json:",omitempty"`
	Endpoint                      string `json:",omitempty"` // transferd's extension: the listen address
	EndpointType                  string
	HostKeyFingerprint            string                      `json:",omitempty"`
	IdentityProviderDetails       *identityProviderDetailsOut `json:",omitempty"`
	IdentityProviderType          string                      `json:",omitempty"`
	IpAddressType                 string
	LoggingRole                   string `json:",omitempty"`
	PostAuthenticationLoginBanner string `json:",omitempty"`
	PreAuthenticationLoginBanner  string `json:",omitempty"`
	ProtocolDetails               *protocolDetailsOut
	Protocols                     []string
	SecurityPolicyName            string `json:",omitempty"`
	ServerId                      string
	State                         string `json:",omitempty"`
	Tags                          []tagOut
	UserCount                     int
	WorkflowDetails               *transfer.WorkflowDetails `json:",omitempty"`
}

type describeServerOutput struct {
	Server describedServer
}

type listInput struct {
	MaxResults *int
	NextToken  *string
}

type listedServer struct {
	Arn                  string
	Domain               string `json:",omitempty"`
	Endpoint             string `json:",omitempty"` // transferd's extension: the listen address
	EndpointType         string
	IdentityProviderType string `json:",omitempty"`
	LoggingRole          string `json:",omitempty"`
	ServerId             string
	State                string `json:",omitempty"`
	UserCount            int
}

type listServersOutput struct {
	NextToken string `json:",omitempty"`
	Servers   []listedServer
}

type emptyOutput struct{}

// userSettings are the members CreateUser and UpdateUser share.
type userSettings struct {
	HomeDirectory         *string
	HomeDirectoryMappings []mappingIn
	HomeDirectoryType     *string
	Policy                *string
	PosixProfile          *posixProfileIn
	Role                  *string
}

type createUserInput struct {
	userSettings
	ServerId         *string
	SshPublicKeyBody *string
	Tags             []tagIn
	UserName         *string
}

type userInput struct {
	ServerId *string
	UserName *string
}

type updateUserInput struct {
	userSettings
	ServerId *string
	UserName *string
}

type userOutput struct {
	ServerId string
	UserName string
}

type sshPublicKeyOut struct {
	DateImported     epochSeconds
	SshPublicKeyBody string
	SshPublicKeyId   string
}

type describedUser struct {
	Arn                   string
	HomeDirectory         string           `json:",omitempty"`
	HomeDirectoryMappings []mappingOut     `json:",omitempty"`
	HomeDirectoryType     string           `json:",omitempty"`
	Policy                string           `json:",omitempty"`
	PosixProfile          *posixProfileOut `json:",omitempty"`
	Role                  string           `json:",omitempty"`
	SshPublicKeys         []sshPublicKeyOut
	Tags                  []tagOut
	UserName              string
}

type describeUserOutput struct {
	ServerId string
	User     describedUser
}

type listUsersInput struct {
	listInput
	ServerId *string
}

type listedUser struct {
	Arn               string
	HomeDirectory     string `json:",omitempty"`
	HomeDirectoryType string `json:",omitempty"`
	Role              string `json:",omitempty"`
	SshPublicKeyCount int
	UserName          string
}

type listUsersOutput struct {
	NextToken string `json:",omitempty"`
	ServerId  string
	Users     []listedUser
}

type importSSHPublicKeyInput struct {
	ServerId         *string
	SshPublicKeyBody *string
	UserName         *string
}

type importSSHPublicKeyOutput struct {
	ServerId       string
	SshPublicKeyId string
	UserName       string
}

type deleteSSHPublicKeyInput struct {
	ServerId       *string
	SshPublicKeyId *string
	UserName       *string
}

type importHostKeyInput struct {
	Description *string
	HostKeyBody *string
	ServerId    *string
	Tags        []tagIn
}

type hostKeyIDOutput struct {
	HostKeyId string
	ServerId  string
}

type hostKeyInput struct {
	HostKeyId *string
	ServerId  *string
}

type updateHostKeyInput struct {
	Description *string
	HostKeyId   *string
	ServerId    *string
}

type describedHostKey struct {
	Arn                string
	DateImported       epochSeconds
	Description        string `json:",omitempty"`
	HostKeyFingerprint string
	HostKeyId          string
	Tags               []tagOut
	Type               string
}

type describeHostKeyOutput struct {
	HostKey describedHostKey
}

type listHostKeysInput struct {
	listInput
	ServerId *string
}

type listedHostKey struct {
	Arn          string
	DateImported epochSeconds
	Description  string `json:",omitempty"`
	Fingerprint  string
	HostKeyId    string
	Type         string
}

type listHostKeysOutput struct {
	HostKeys  []listedHostKey
	NextToken string `json:",omitempty"`
	ServerId  string
}

type listSecurityPoliciesOutput struct {
	NextToken           string `json:",omitempty"`
	SecurityPolicyNames []string
}

type describeSecurityPolicyInput struct {
	SecurityPolicyName *string
}

type describeSecurityPolicyOutput struct {
	SecurityPolicy *policy.Policy
}

type tagResourceInput struct {
	Arn  *string
	Tags []tagIn
}

type untagResourceInput struct {
	Arn     *string
	TagKeys []string
}

type listTagsForResourceInput struct {
	listInput
	Arn *string
}

type listTagsForResourceOutput struct {
	Arn       string
	NextToken string `json:",omitempty"`
	Tags      []tagOut
}

// Converting and checking members.

// required returns *p, or an error naming the member when it is absent.
func required(member string, p *string) (string, error) {
	if p == nil {
		return "", invalid(member, "required member missing")
	}
	return *p, nil
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// quote quotes client-supplied text for an error message, shortened when long.
func quote(s string) string {
	const limit = 100
	if len(s) > limit {
		return fmt.Sprintf("%q...", s[:limit])
	}
	return fmt.Sprintf("%q", s)
}

func serverIDOf(p *string) (string, error) {
	id, err := required("ServerId", p)
	if err != nil {
		return "", err
	}
	if !transfer.ValidServerID(id) {
		return "", invalid("ServerId", "%s must match ^s-([0-9a-f]{17})$", quote(id))
	}
	return id, nil
}

func userNameOf(p *string) (string, error) {
	name, err := required("UserName", p)
	if err != nil {
		return "", err
	}
	if len(name) > maxUserName {
		return "", invalid("UserName", "is %d characters long; at most %d are allowed", len(name), maxUserName)
	}
	if err := transfer.ValidateUserName(name); err != nil {
		return "", err
	}
	return name, nil
}

func hostKeyIDOf(p *string) (string, error) {
	id, err := required("HostKeyId", p)
	if err != nil {
		return "", err
	}
	if !transfer.ValidHostKeyID(id) {
		return "", invalid("HostKeyId", "%s must match ^hostkey-[0-9a-f]{17}$", quote(id))
	}
	return id, nil
}

func sshPublicKeyIDOf(p *string) (string, error) {
	id, err := required("SshPublicKeyId", p)
	if err != nil {
		return "", err
	}
	if !transfer.ValidSSHPublicKeyID(id) {
		return "", invalid("SshPublicKeyId", "%s must match ^key-[0-9a-f]{17}$", quote(id))
	}
	return id, nil
}

func arnOf(p *string) (string, error) {
	arn, err := required("Arn", p)
	if err != nil {
		return "", err
	}
	if len(arn) < minARN || len(arn) > maxARN {
		return "", invalid("Arn", "is %d characters long; it must have %d to %d", len(arn), minARN, maxARN)
	}
	return arn, nil
}

// page checks MaxResults and NextToken.
func (in *listInput) page() (control.Page, error) {
	var p control.Page
	if in.MaxResults != nil {
		if n := *in.MaxResults; n < minMaxResults || n > maxMaxResults {
			return p, invalid("MaxResults", "%d must be between %d and %d", n, minMaxResults, maxMaxResults)
		}
		p.MaxResults = *in.MaxResults
	}
	if in.NextToken != nil {
		if len(*in.NextToken) > maxNextToken {
			return p, invalid("NextToken", "is %d characters long; at most %d are allowed", len(*in.NextToken), maxNextToken)
		}
		p.NextToken = *in.NextToken
	}
	return p, nil
}

// tagsIn checks and converts request tags; nil stays nil.
func tagsIn(member string, tags []tagIn) ([]transfer.Tag, error) {
	if tags == nil {
		return nil, nil
	}
	out := make([]transfer.Tag, 0, len(tags))
	for i, t := range tags {
		if t.Key == nil {
			return nil, invalid(fmt.Sprintf("%s[%d].Key", member, i), "required member missing")
		}
		if t.Value == nil {
			return nil, invalid(fmt.Sprintf("%s[%d].Value", member, i), "required member missing")
		}
		out = append(out, transfer.Tag{Key: *t.Key, Value: *t.Value})
	}
	return out, nil
}

// tagsOut converts tags for a response; the list is never null.
func tagsOut(tags []transfer.Tag) []tagOut {
	out := make([]tagOut, 0, len(tags))
	for _, t := range tags {
		out = append(out, tagOut(t))
	}
	return out
}

// splitEndpointTag takes the transferd:Endpoint tag out of CreateServer's tags.
func splitEndpointTag(tags []transfer.Tag) (rest []transfer.Tag, endpoint string, err error) {
	found := false
	for _, t := range tags {
		if t.Key != EndpointTag {
			rest = append(rest, t)
			continue
		}
		if found {
			return nil, "", invalid("Tags", "%s appears more than once", EndpointTag)
		}
		found, endpoint = true, t.Value
	}
	return rest, endpoint, nil
}

func mappingsIn(ms []mappingIn) ([]transfer.Mapping, error) {
	if ms == nil {
		return nil, nil
	}
	out := make([]transfer.Mapping, 0, len(ms))
	for i, m := range ms {
		if m.Entry == nil {
			return nil, invalid(fmt.Sprintf("HomeDirectoryMappings[%d].Entry", i), "required member missing")
		}
		if m.Target == nil {
			return nil, invalid(fmt.Sprintf("HomeDirectoryMappings[%d].Target", i), "required member missing")
		}
		out = append(out, transfer.Mapping{Entry: *m.Entry, Target: *m.Target, Type: deref(m.Type)})
	}
	return out, nil
}

func mappingsOut(ms []transfer.Mapping) []mappingOut {
	if len(ms) == 0 {
		return nil
	}
	out := make([]mappingOut, 0, len(ms))
	for _, m := range ms {
		out = append(out, mappingOut(m))
	}
	return out
}

func posixID(member string, v int64) (uint32, error) {
	if v < 0 || v > maxPosixID {
		return 0, invalid(member, "%d must be between 0 and %d", v, int64(maxPosixID))
	}
	return uint32(v), nil
}

func toPosixProfile(p *posixProfileIn) (*transfer.PosixProfile, error) {
	if p == nil {
		return nil, nil
	}
	if p.Uid == nil {
		return nil, invalid("PosixProfile.Uid", "required member missing")
	}
	if p.Gid == nil {
		return nil, invalid("PosixProfile.Gid", "required member missing")
	}
	var out transfer.PosixProfile
	var err error
	if out.UID, err = posixID("PosixProfile.Uid", *p.Uid); err != nil {
		return nil, err
	}
	if out.GID, err = posixID("PosixProfile.Gid", *p.Gid); err != nil {
		return nil, err
	}
	if len(p.SecondaryGids) > maxSecondaryGID {
		return nil, invalid("PosixProfile.SecondaryGids", "has %d entries; at most %d are allowed", len(p.SecondaryGids), maxSecondaryGID)
	}
	for i, g := range p.SecondaryGids {
		id, err := posixID(fmt.Sprintf("PosixProfile.SecondaryGids[%d]", i), g)
		if err != nil {
			return nil, err
		}
		out.SecondaryGIDs = append(out.SecondaryGIDs, id)
	}
	return &out, nil
}

func fromPosixProfile(p *transfer.PosixProfile) *posixProfileOut {
	if p == nil {
		return nil
	}
	return &posixProfileOut{Uid: p.UID, Gid: p.GID, SecondaryGids: slices.Clone(p.SecondaryGIDs)}
}

// present reports whether a raw member was sent with a value other than null.
func present(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && !bytes.Equal(raw, []byte("null"))
}

// checkSupported refuses the server settings transferd cannot honour and accepts those that
// only shape AWS's infrastructure when they ask for what transferd does anyway.
func (s *serverSettings) checkSupported() error {
	if deref(s.Certificate) != "" {
		return notSupported("Certificate", "it is for FTPS and AS2; transferd serves SFTP")
	}
	if present(s.EndpointDetails) {
		return notSupported("EndpointDetails", "servers listen on a host:port; see the transferd:Endpoint tag")
	}
	switch v := deref(s.EndpointType); v {
	case "", "PUBLIC":
	case "VPC", "VPC_ENDPOINT":
		return notSupported("EndpointType "+v, "use PUBLIC; servers listen on a host:port")
	default:
		return invalid("EndpointType", "%s must be PUBLIC, VPC or VPC_ENDPOINT", quote(v))
	}
	if d := s.IdentityProviderDetails; d != nil && d.DirectoryId != nil {
		return notSupported("IdentityProviderDetails.DirectoryId", "AWS_DIRECTORY_SERVICE is not available; use API_GATEWAY or AWS_LAMBDA")
	}
	switch v := deref(s.IpAddressType); v {
	case "", "IPV4":
	case "DUALSTACK":
		return notSupported("IpAddressType DUALSTACK", "use IPV4; the listen address decides the IP version")
	default:
		return invalid("IpAddressType", "%s must be IPV4 or DUALSTACK", quote(v))
	}
	if pd := s.ProtocolDetails; pd != nil {
		if v := deref(pd.PassiveIp); v != "" && v != "AUTO" {
			return notSupported("ProtocolDetails.PassiveIp", "it is for FTP and FTPS; transferd serves SFTP")
		}
		if v := deref(pd.TlsSessionResumptionMode); v != "" && v != "ENFORCED" {
			return notSupported("ProtocolDetails.TlsSessionResumptionMode", "it is for FTPS; transferd serves SFTP")
		}
		if len(pd.As2Transports) > 1 || len(pd.As2Transports) == 1 && pd.As2Transports[0] != "HTTP" {
			return notSupported("ProtocolDetails.As2Transports", "it is for AS2; transferd serves SFTP")
		}
	}
	if so := s.S3StorageOptions; so != nil {
		switch v := deref(so.DirectoryListingOptimization); v {
		case "", "ENABLED", "DISABLED":
		default:
			return invalid("S3StorageOptions.DirectoryListingOptimization", "%s must be ENABLED or DISABLED", quote(v))
		}
	}
	if len(s.StructuredLogDestinations) > 0 {
		return notSupported("StructuredLogDestinations", "transferd writes its activity log where its configuration says")
	}
	return nil
}

// workflowDetails converts CreateServer's and UpdateServer's WorkflowDetails; nil stays nil.
func workflowDetails(d *workflowDetailsIn) (*transfer.WorkflowDetails, error) {
	if d == nil {
		return nil, nil
	}
	out := &transfer.WorkflowDetails{}
	for _, list := range []struct {
		member string
		in     []workflowDetailIn
		out    *[]transfer.WorkflowDetail
	}{{"WorkflowDetails.OnUpload", d.OnUpload, &out.OnUpload}, {"WorkflowDetails.OnPartialUpload", d.OnPartialUpload, &out.OnPartialUpload}} {
		for i, w := range list.in {
			f := fmt.Sprintf("%s[%d]", list.member, i)
			id, err := required(f+".WorkflowId", w.WorkflowId)
			if err != nil {
				return nil, err
			}
			role, err := required(f+".ExecutionRole", w.ExecutionRole)
			if err != nil {
				return nil, err
			}
			*list.out = append(*list.out, transfer.WorkflowDetail{WorkflowId: id, ExecutionRole: role})
		}
	}
	return out, nil
}

// workflowDetailsOut is DescribeServer's WorkflowDetails: nil when the server runs none.
func workflowDetailsOut(d *transfer.WorkflowDetails) *transfer.WorkflowDetails {
	if d.Empty() {
		return nil
	}
	return d
}

// identityDetails converts CreateServer's IdentityProviderDetails.
func identityDetails(d *identityProviderDetailsIn) transfer.IdentityProviderDetails {
	if d == nil {
		return transfer.IdentityProviderDetails{}
	}
	return transfer.IdentityProviderDetails{URL: deref(d.Url), InvocationRole: deref(d.InvocationRole),
		Function: deref(d.Function), SftpAuthenticationMethods: deref(d.SftpAuthenticationMethods)}
}

// identityUpdate converts UpdateServer's IdentityProviderDetails: absent members stay as they are.
func identityUpdate(d *identityProviderDetailsIn) *control.IdentityDetailsUpdate {
	if d == nil {
		return nil
	}
	return &control.IdentityDetailsUpdate{URL: d.Url, InvocationRole: d.InvocationRole, Function: d.Function,
		SftpAuthenticationMethods: d.SftpAuthenticationMethods}
}

func identityDetailsOut(d transfer.IdentityProviderDetails) *identityProviderDetailsOut {
	if d.IsZero() {
		return nil
	}
	return &identityProviderDetailsOut{Function: d.Function, InvocationRole: d.InvocationRole,
		SftpAuthenticationMethods: d.SftpAuthenticationMethods, Url: d.URL}
}

type testIdentityProviderInput struct {
	ServerId       *string
	ServerProtocol *string
	SourceIp       *string
	UserName       *string
	UserPassword   *string
}

type testIdentityProviderOutput struct {
	Message    string `json:",omitempty"`
	Response   string `json:",omitempty"`
	StatusCode int
	Url        string
}

func setStatOption(pd *protocolDetailsIn) *string {
	if pd == nil {
		return nil
	}
	return pd.SetStatOption
}

func serverProtocols(ps []string) []string {
	if ps == nil {
		return []string{}
	}
	return ps
}
