// Package config owns transferd's bootstrap file: the YAML schema (field names as in AWS Transfer
// Family and CloudFormation), its defaults, and validation that names the file, line and field of
// every problem before anything starts.
//
// The types are plain data: the zero value of a field means its default, Parse and Load fill the
// defaults in, and the comments on the fields are the reference documentation of the file.
package config

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/transferd/transferd/internal/transfer"
)

// Config is the bootstrap file given to `transferd serve --config FILE`. transferd applies it to
// its state store on every start; it reconciles only the servers and users the file created.
type Config struct {
	// Region is the AWS region that ARNs name (arn:aws:transfer:REGION:...). transferd runs in
	// no region; the value only shapes ARNs. Default us-east-1.
	Region string `yaml:"Region,omitempty"`

	// AccountId is the 12-digit AWS account ID that ARNs name. Quote it ("000000000000") or
	// write it unquoted: the digits are taken as written. Default 000000000000.
	AccountID string `yaml:"AccountId,omitempty"`

	// Storage is where files live. Default: local storage under DATA_DIR/storage.
	Storage Storage `yaml:"Storage,omitempty"`

	// IdentityProviders says how transferd calls the custom identity providers of servers with
	// IdentityProviderType API_GATEWAY or AWS_LAMBDA. Read at start.
	IdentityProviders IdentityProviders `yaml:"IdentityProviders,omitempty"`

	// Secrets (transferd) stands in for AWS Secrets Manager, where workflows' DECRYPT steps
	// find their PGP keys.
	Secrets Secrets `yaml:"Secrets,omitempty"`

	// Penalties (transferd) are the brute-force penalties of every server: source addresses
	// whose connections end without a login earn penalty time, during which their new
	// connections are refused before the SSH handshake. Applied again on SIGHUP.
	Penalties Penalties `yaml:"Penalties,omitempty"`

	// Workflows are managed workflows the file keeps, with AWS::Transfer::Workflow's
	// properties and the API's member names, and the WorkflowId servers name them by (w- and 17
	// lowercase letters and digits, chosen by the file). Servers of the file and of the API may
	// run them; the API may read them but not delete them. A workflow the file no longer lists is
	// deleted, unless a server still runs it.
	Workflows []Workflow `yaml:"Workflows,omitempty"`

	// Servers are the SFTP endpoints to run, at least one.
	Servers []Server `yaml:"Servers"`
}

// Workflow is a managed workflow of the file.
type Workflow struct {
	WorkflowID       string                  `yaml:"WorkflowId"`
	Description      string                  `yaml:"Description,omitempty"`
	Steps            []transfer.WorkflowStep `yaml:"Steps"`
	OnExceptionSteps []transfer.WorkflowStep `yaml:"OnExceptionSteps,omitempty"`
	Tags             []Tag                   `yaml:"Tags,omitempty"`
}

// TransferWorkflow is the workflow as the state store keeps it.
func (w *Workflow) TransferWorkflow() transfer.Workflow {
	out := transfer.Workflow{WorkflowId: w.WorkflowID, Description: w.Description, Steps: slices.Clone(w.Steps),
		OnExceptionSteps: slices.Clone(w.OnExceptionSteps), Source: transfer.SourceConfig}
	if out.Steps == nil {
		out.Steps = []transfer.WorkflowStep{}
	}
	out.Tags = transferTags(w.Tags)
	return out
}

// Secrets is a directory of secrets: the secret NAME is the file Directory/NAME, whose owner
// must be the user transferd runs as and whose mode must give the group and others nothing
// (0600 or 0400), or it is not read. A DECRYPT step reads the JSON secret
// aws/transfer/SERVER-ID/USER-NAME, or aws/transfer/SERVER-ID/@pgp-default when the user has
// none, with the members PGPPrivateKey (an armored OpenPGP private key) and PGPPassphrase, as
// Transfer Family reads them from Secrets Manager. Read when a step needs them.
type Secrets struct {
	Directory string `yaml:"Directory,omitempty"`
}

// Penalties configure the brute-force penalties, as OpenSSH's PerSourcePenalties do: each
// connection that ends without a login earns its source address the penalty of the worst thing
// it did; penalties add up while they run (up to MaxSeconds), and once an address's exceeds
// MinSeconds its new connections are refused until it has been served. A field left out has its
// default; 0 seconds means that offence earns nothing.
type Penalties struct {
	// AuthFailureSeconds: a failed authentication (default 5).
	AuthFailureSeconds *int `yaml:"AuthFailureSeconds,omitempty"`
	// InvalidUserSeconds: an authentication naming a user that does not exist (default 5).
	InvalidUserSeconds *int `yaml:"InvalidUserSeconds,omitempty"`
	// NoAuthSeconds: a connection that ended without trying to authenticate, a failed key
	// exchange included (default 1).
	NoAuthSeconds *int `yaml:"NoAuthSeconds,omitempty"`
	// GraceExceededSeconds: a connection that did not log in within the login grace time
	// (default 10).
	GraceExceededSeconds *int `yaml:"GraceExceededSeconds,omitempty"`
	// MinSeconds: penalties below it refuse nothing (default 15). MaxSeconds: the most an
	// address accrues (default 600).
	MinSeconds *int `yaml:"MinSeconds,omitempty"`
	MaxSeconds *int `yaml:"MaxSeconds,omitempty"`
	// MaxSources caps the addresses remembered (default 65536); when that many are penalised,
	// further addresses are not, and a warning is logged.
	MaxSources int `yaml:"MaxSources,omitempty"`
	// ExemptNetworks are addresses or CIDR networks never penalised, such as a monitoring host
	// or the load balancer's health checks.
	ExemptNetworks []string `yaml:"ExemptNetworks,omitempty"`
}

// Penalty defaults and bounds.
const (
	maxPenaltySeconds       = 86400
	DefaultPenaltyMaxSource = 65536
	maxPenaltySources       = 10_000_000
)

// PenaltySettings are the penalties with defaults filled in: seconds for each offence, the
// bounds, the table's size and the exempt networks, parsed.
type PenaltySettings struct {
	AuthFailure, InvalidUser, NoAuth, GraceExceeded, Min, Max time.Duration
	MaxSources                                                int
	Exempt                                                    []netip.Prefix
}

// Settings returns the penalties with defaults; the file was validated, so every network parses.
func (p *Penalties) Settings() PenaltySettings {
	sec := func(v *int, def int) time.Duration {
		if v == nil {
			return time.Duration(def) * time.Second
		}
		return time.Duration(*v) * time.Second
	}
	s := PenaltySettings{
		AuthFailure:   sec(p.AuthFailureSeconds, 5),
		InvalidUser:   sec(p.InvalidUserSeconds, 5),
		NoAuth:        sec(p.NoAuthSeconds, 1),
		GraceExceeded: sec(p.GraceExceededSeconds, 10),
		Min:           sec(p.MinSeconds, 15),
		Max:           sec(p.MaxSeconds, 600),
		MaxSources:    p.MaxSources,
	}
	if s.MaxSources == 0 {
		s.MaxSources = DefaultPenaltyMaxSource
	}
	for _, n := range p.ExemptNetworks {
		if pfx, err := transfer.ParseNetwork(n); err == nil {
			s.Exempt = append(s.Exempt, pfx)
		}
	}
	return s
}

// Storage says where files live. Servers with Domain EFS always use the local directory (Local,
// default DATA_DIR/storage); servers with Domain S3 (the default) use S3 when S3 is set, and the
// local directory otherwise.
type Storage struct {
	// Local keeps files in a local directory tree. The storage path /bucket/a/b is the file
	// ROOT/bucket/a/b; the directories directly under ROOT are the buckets.
	Local *LocalStorage `yaml:"Local,omitempty"`
	// S3 keeps files in Amazon S3 or an S3-compatible server: the storage path /bucket/a/b is the
	// object s3://bucket/a/b. transferd never creates buckets.
	S3 *S3Storage `yaml:"S3,omitempty"`
}

// S3Storage is an S3 or S3-compatible endpoint.
type S3Storage struct {
	// Endpoint is the endpoint URL, e.g. http://127.0.0.1:7070; empty means AWS's endpoint for
	// the Region.
	Endpoint string `yaml:"Endpoint,omitempty"`
	// Region is the signing region; default us-east-1.
	Region string `yaml:"Region,omitempty"`
	// ForcePathStyle addresses buckets as ENDPOINT/bucket instead of bucket.ENDPOINT, as most
	// S3-compatible servers need.
	ForcePathStyle bool `yaml:"ForcePathStyle,omitempty"`
	// AccessKeyId and SecretAccessKey are static credentials; leave both out to use the standard
	// AWS credential chain (AWS_* environment variables, shared config and profile, web identity,
	// ECS and EC2 instance roles).
	AccessKeyID     string `yaml:"AccessKeyId,omitempty"`
	SecretAccessKey string `yaml:"SecretAccessKey,omitempty"`
	// SessionToken goes with temporary AccessKeyId and SecretAccessKey.
	SessionToken string `yaml:"SessionToken,omitempty"`
	// ChecksumWhenRequired sends request checksums only where S3 requires them, for older
	// S3-compatible servers that reject the CRC32 checksums sent by default.
	ChecksumWhenRequired bool `yaml:"ChecksumWhenRequired,omitempty"`
	// PartSizeMiB is the size of the first part of a multipart upload, 5 to 5120 (default 8);
	// later parts double every 900 parts so that a file can reach S3's 5 TiB. A file no larger
	// than one part is uploaded with one PutObject. An upload holds about three parts in memory.
	PartSizeMiB int `yaml:"PartSizeMiB,omitempty"`
	// ReorderBufferMiB bounds what a file being uploaded holds ahead of its contiguous bytes,
	// 4 to 1024 (default 16): SFTP clients write several requests at once (the OpenSSH client up
	// to 64 of 255 KiB) and they may arrive out of order; a write further ahead is refused as a
	// random-access write.
	ReorderBufferMiB int `yaml:"ReorderBufferMiB,omitempty"`
	// MaxRenameObjects is the most objects a directory rename copies (default 1000); a larger
	// directory is refused. 0 refuses every directory rename.
	MaxRenameObjects *int `yaml:"MaxRenameObjects,omitempty"`
}

// S3 limits the configuration is checked against.
const (
	minPartSizeMiB      = 5
	maxPartSizeMiB      = 5 << 10
	minReorderBufferMiB = 4
	maxReorderBufferMiB = 1 << 10
	maxRenameObjects    = 1_000_000
)

// IdentityProviders are the settings transferd calls custom identity providers with (transferd;
// on AWS they are the service's own).
type IdentityProviders struct {
	// TimeoutSeconds bounds one call to a provider, 1 to 60 (default 10). A login's grace time
	// (2 minutes) bounds it too; a provider that does not answer in time fails the login with
	// "identity provider unreachable".
	TimeoutSeconds int `yaml:"TimeoutSeconds,omitempty"`
	// MaxConcurrentCalls bounds the calls in flight to one server's provider, 1 to 1000
	// (default 16); more logins at once wait for a place until their deadline.
	MaxConcurrentCalls int `yaml:"MaxConcurrentCalls,omitempty"`
	// CABundle is a PEM file of certificates trusted for HTTPS providers in addition to the
	// system's roots, for providers with a private CA. A relative path is relative to the
	// config file's directory.
	CABundle string `yaml:"CABundle,omitempty"`
	// Region is the AWS region API Gateway calls are signed for, and Lambda functions are
	// invoked in, when the provider's URL or function ARN does not name one. Default us-east-1.
	Region string `yaml:"Region,omitempty"`
	// LambdaEndpoint is a Lambda-compatible endpoint URL to invoke AWS_LAMBDA providers at
	// instead of AWS's, e.g. the AWS Lambda Runtime Interface Emulator. With it, a function is
	// invoked by the name in its ARN (arn:aws:lambda:REGION:ACCOUNT:function:NAME), as such
	// endpoints know their functions; the emulator serves one function, named "function".
	LambdaEndpoint string `yaml:"LambdaEndpoint,omitempty"`
	// AccessKeyId and SecretAccessKey (with SessionToken for temporary ones) are the AWS
	// credentials that sign API Gateway calls of servers with an InvocationRole and Lambda
	// invocations; leave them out to use the standard AWS credential chain.
	AccessKeyID     string `yaml:"AccessKeyId,omitempty"`
	SecretAccessKey string `yaml:"SecretAccessKey,omitempty"`
	SessionToken    string `yaml:"SessionToken,omitempty"`
}

// LoadCABundle reads a PEM file of CA certificates and returns the system's roots with them
// added; a file without a certificate is an error.
func LoadCABundle(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", file)
	}
	return pool, nil
}

// Limits of IdentityProviders.
const (
	maxIdPTimeoutSeconds = 60
	maxIdPConcurrent     = 1000
)

// LocalStorage is a local directory that holds the buckets.
type LocalStorage struct {
	// Root is the directory that holds the buckets. A relative path is relative to the directory
	// of the config file; Load and Parse make it so. Default: DATA_DIR/storage (resolved by the
	// caller, which knows --data-dir).
	Root string `yaml:"Root,omitempty"`
}

// Server is one SFTP endpoint: what Transfer Family calls a server.
type Server struct {
	// ServerId is the server's ID: s- and 17 lowercase hex digits, e.g. s-0123456789abcdef0.
	// Optional: when absent, the state store generates an ID on the first start and finds the
	// server again by its Endpoint on later starts. IDs must be distinct.
	ServerID string `yaml:"ServerId,omitempty"`

	// Endpoint is the host:port to listen on. Required. The host may be an IP address, a host
	// name, or empty (":2222") for all interfaces; the port is 1 to 65535. Two servers may not
	// listen on the same address, and a server on all interfaces takes its port on every host.
	Endpoint string `yaml:"Endpoint"`

	// SecurityPolicyName names the security policy that sets the SSH key exchanges, ciphers,
	// MACs and host key algorithms, as in Transfer Family. Default TransferSecurityPolicy-2024-01.
	// `transferd policy list` shows the catalog.
	SecurityPolicyName string `yaml:"SecurityPolicyName,omitempty"`

	// PreAuthenticationLoginBanner is sent to SSH clients before they authenticate. At most
	// 4096 characters of printable ASCII, tabs and line breaks.
	PreAuthenticationLoginBanner string `yaml:"PreAuthenticationLoginBanner,omitempty"`

	// PostAuthenticationLoginBanner is accepted and kept, as Transfer Family does, but SFTP
	// clients are never shown it (Transfer Family shows it over FTP and FTPS only); setting it
	// gives a warning. Same limits as PreAuthenticationLoginBanner.
	PostAuthenticationLoginBanner string `yaml:"PostAuthenticationLoginBanner,omitempty"`

	// Domain is the kind of storage Transfer Family would use: S3 or EFS. Default S3.
	Domain string `yaml:"Domain,omitempty"`

	// IdentityProviderType says who authenticates users: SERVICE_MANAGED (the users listed here,
	// and any created through the API; keys only), API_GATEWAY (an HTTP(S) identity
	// provider) or AWS_LAMBDA (a Lambda function). Default SERVICE_MANAGED. A server with a custom
	// provider has no Users here: the provider answers for them at every login.
	IdentityProviderType string `yaml:"IdentityProviderType,omitempty"`

	// IdentityProviderDetails configure a custom identity provider.
	IdentityProviderDetails IdentityProviderDetails `yaml:"IdentityProviderDetails,omitempty"`

	// Protocols lists the file transfer protocols served. Only SFTP is supported; FTP, FTPS and
	// AS2 are errors. Default [SFTP].
	Protocols []string `yaml:"Protocols,omitempty"`

	// ProtocolDetails holds protocol settings.
	ProtocolDetails ProtocolDetails `yaml:"ProtocolDetails,omitempty"`

	// Tags are 0 to 50 key/value pairs attached to the server. Keys are 1 to 128 characters,
	// values 0 to 256, and keys are distinct. The tag transferd:RecordClientOffer is set by the
	// RecordClientOffer field, not here.
	Tags []Tag `yaml:"Tags,omitempty"`

	// RecordClientOffer (transferd; not a Transfer Family field) makes the server record each
	// client's whole first KEXINIT (its ten algorithm lists, in order) in its CONNECTED and
	// KEX_FAILURE activity records as client-offer, for `transferd explain --client-offer` and
	// `transferd policy-impact`. Default false. The management API sets the same with the server
	// tag transferd:RecordClientOffer (true or false); the file's value wins when it is applied.
	RecordClientOffer bool `yaml:"RecordClientOffer,omitempty"`

	// Limits (transferd; not Transfer Family fields) are the server's resource limits; one not
	// given has its default (see transfer.Limits). The management API sets the same with the
	// server tags transferd:<Name>; the file's values win when it is applied, and a limit the
	// file does not give returns to its default.
	Limits Limits `yaml:"Limits,omitempty"`

	// WorkflowDetails are the workflows the server runs after uploads, as the API's:
	// OnUpload and OnPartialUpload, each at most one {WorkflowId, ExecutionRole}. A WorkflowId
	// names a workflow of the file's Workflows or one made through the API.
	WorkflowDetails *transfer.WorkflowDetails `yaml:"WorkflowDetails,omitempty"`

	// Users are the server's service-managed users. User names are distinct within a server.
	Users []User `yaml:"Users,omitempty"`
}

// Limits are a server's resource limits, each with the name of its tag (transferd:<Name>); zero
// or empty means the default.
type Limits struct {
	MaxHandlesPerSession      int    `yaml:"MaxHandlesPerSession,omitempty"`
	MaxHandlesPerUser         int    `yaml:"MaxHandlesPerUser,omitempty"`
	MaxSessionsPerConnection  int    `yaml:"MaxSessionsPerConnection,omitempty"`
	MaxConnectionsPerUser     int    `yaml:"MaxConnectionsPerUser,omitempty"`
	MaxConnectionsPerSourceIP int    `yaml:"MaxConnectionsPerSourceIp,omitempty"`
	MaxConnections            int    `yaml:"MaxConnections,omitempty"`
	MaxStartups               string `yaml:"MaxStartups,omitempty"`
	MaxStartupsPerSourceIP    int    `yaml:"MaxStartupsPerSourceIp,omitempty"`
	LoginGraceTimeSeconds     int    `yaml:"LoginGraceTimeSeconds,omitempty"`
}

// settings are the limits the file gives, by name (transfer.LimitNames), as text.
func (l Limits) settings() [][2]string {
	var out [][2]string
	add := func(name string, n int) {
		if n != 0 {
			out = append(out, [2]string{name, strconv.Itoa(n)})
		}
	}
	add("MaxHandlesPerSession", l.MaxHandlesPerSession)
	add("MaxHandlesPerUser", l.MaxHandlesPerUser)
	add("MaxSessionsPerConnection", l.MaxSessionsPerConnection)
	add("MaxConnectionsPerUser", l.MaxConnectionsPerUser)
	add("MaxConnectionsPerSourceIp", l.MaxConnectionsPerSourceIP)
	add("MaxConnections", l.MaxConnections)
	if l.MaxStartups != "" {
		out = append(out, [2]string{"MaxStartups", l.MaxStartups})
	}
	add("MaxStartupsPerSourceIp", l.MaxStartupsPerSourceIP)
	add("LoginGraceTimeSeconds", l.LoginGraceTimeSeconds)
	return out
}

// IdentityProviderDetails configure a server's custom identity provider, with Transfer Family's
// member names.
type IdentityProviderDetails struct {
	// Url is an API_GATEWAY provider's base URL (http:// or https://, at most 255 characters):
	// transferd calls GET {Url}/servers/{serverId}/users/{username}/config?protocol=SFTP&sourceIp=...
	URL string `yaml:"Url,omitempty"`
	// InvocationRole is the IAM role AWS would call the provider with; when set, transferd signs
	// its calls with SigV4 (service execute-api) using IdentityProviders' credentials, as API
	// Gateway's IAM authorization expects.
	InvocationRole string `yaml:"InvocationRole,omitempty"`
	// Function is an AWS_LAMBDA provider's function ARN.
	Function string `yaml:"Function,omitempty"`
	// SftpAuthenticationMethods is how users log in: PASSWORD, PUBLIC_KEY,
	// PUBLIC_KEY_OR_PASSWORD (the default) or PUBLIC_KEY_AND_PASSWORD (a key, then a password).
	SftpAuthenticationMethods string `yaml:"SftpAuthenticationMethods,omitempty"`
}

// ProtocolDetails holds protocol settings of a server.
type ProtocolDetails struct {
	// SetStatOption is DEFAULT, where SETSTAT requests (chmod, touch, the timestamps `put -p`
	// sets) fail as they would on S3, ENABLE_NO_OP, where they succeed and change nothing, or
	// STORE_METADATA (transferd's own), where S3 objects keep the time and mode in their user
	// metadata. Default DEFAULT.
	SetStatOption string `yaml:"SetStatOption,omitempty"`
}

// User is a service-managed user of a server.
type User struct {
	// UserName is the SFTP login name: 3 to 100 characters of letters, digits, _ @ . - that do
	// not start with @ . or -. Required; "root" is refused, as Transfer Family refuses it at
	// login.
	UserName string `yaml:"UserName"`

	// Role is the IAM role ARN Transfer Family would assume for the user. Optional: transferd
	// does not assume it (one set of S3 credentials serves the process); it checks the shape and
	// records the role in activity logs. Policy is the boundary transferd enforces.
	Role string `yaml:"Role,omitempty"`

	// HomeDirectoryType is PATH, where the user sees storage paths (/bucket/prefix) and starts
	// in HomeDirectory, or LOGICAL, where HomeDirectoryMappings build the tree the user sees and
	// nothing else is reachable. Default PATH, as in Transfer Family.
	HomeDirectoryType string `yaml:"HomeDirectoryType,omitempty"`

	// HomeDirectoryMappings build a LOGICAL user's tree: 1 to 50,000 mappings, each mapping an
	// Entry the user sees onto a Target storage path. A single Entry of / is a chroot; other
	// entries may not be nested in one another. Only for LOGICAL users.
	HomeDirectoryMappings []Mapping `yaml:"HomeDirectoryMappings,omitempty"`

	// HomeDirectory is the storage path (/bucket or /bucket/prefix) a PATH user starts in.
	// Optional; may contain ${transfer:UserName}. Only for PATH users.
	HomeDirectory string `yaml:"HomeDirectory,omitempty"`

	// Policy is a session policy: an IAM policy document (JSON, at most 2048 characters) that
	// transferd evaluates for every SFTP request of the user with IAM's logic, as the S3 actions
	// the request needs (s3:ListBucket with s3:prefix, s3:GetObject, s3:PutObject,
	// s3:DeleteObject). Only for users of S3-domain servers. It may use ${transfer:UserName}, and,
	// for PATH users with a HomeDirectory, ${transfer:HomeDirectory}, ${transfer:HomeBucket} and
	// ${transfer:HomeFolder}. A policy with an element transferd cannot evaluate is an error.
	Policy string `yaml:"Policy,omitempty"`

	// PosixProfile is the POSIX identity of a user of an EFS-domain server: files and
	// directories it creates are owned by Uid and Gid, and every request is checked against the
	// mode bits for that identity (Uid 0 as root). Only for users of EFS-domain servers; without
	// one, such a user acts as transferd's own user.
	PosixProfile *PosixProfile `yaml:"PosixProfile,omitempty"`

	// SshPublicKeys are 0 to 50 authorized_keys lines ("ssh-ed25519 AAAA... comment"): ssh-ed25519,
	// ecdsa-sha2-nistp256/384/521 or ssh-rsa of at least 2048 bits, no key twice. They are the user's
	// keys exactly: the API cannot import others for a user the file lists. A user with no keys
	// cannot log in.
	SSHPublicKeys []string `yaml:"SshPublicKeys,omitempty"`

	// SshPublicKeyFiles (transferd; not a Transfer Family field) are authorized_keys files whose
	// keys the user also logs in with, e.g. ~/.ssh/id_ed25519.pub. A relative path is relative to
	// the config file's directory; ~/ is the home directory. The files are read when the config
	// is applied (at start and on SIGHUP); one that does not exist yet gives a warning.
	SSHPublicKeyFiles []string `yaml:"SshPublicKeyFiles,omitempty"`

	// Tags are 0 to 50 key/value pairs attached to the user, as for servers.
	Tags []Tag `yaml:"Tags,omitempty"`
}

// PosixProfile is a POSIX identity.
type PosixProfile struct {
	// Uid is the user ID, 0 to 4294967295. Required.
	UID *int64 `yaml:"Uid"`
	// Gid is the primary group ID, 0 to 4294967295. Required.
	GID *int64 `yaml:"Gid"`
	// SecondaryGids are up to 16 more group IDs the user is a member of.
	SecondaryGIDs []int64 `yaml:"SecondaryGids,omitempty"`
}

// transferProfile is p as the state store keeps it; nil when p is nil. Values out of range are
// the validator's to report.
func (p *PosixProfile) transferProfile() *transfer.PosixProfile {
	if p == nil {
		return nil
	}
	tp := &transfer.PosixProfile{}
	if p.UID != nil {
		tp.UID = uint32(*p.UID)
	}
	if p.GID != nil {
		tp.GID = uint32(*p.GID)
	}
	for _, g := range p.SecondaryGIDs {
		tp.SecondaryGIDs = append(tp.SecondaryGIDs, uint32(g))
	}
	return tp
}

// Mapping maps an Entry the user sees onto a Target storage path.
type Mapping struct {
	// Entry is the absolute path the user sees, e.g. / or /reports.
	Entry string `yaml:"Entry"`

	// Target is the storage path it shows: /bucket or /bucket/prefix, without a trailing slash.
	// ${transfer:UserName} is replaced by the user name at login; it is kept as written here.
	Target string `yaml:"Target"`

	// Type is DIRECTORY, where Entry is a directory showing Target's contents, or FILE, where
	// Entry is the single object Target. Default DIRECTORY.
	Type string `yaml:"Type,omitempty"`
}

// Tag is a key/value pair attached to a server or user.
type Tag struct {
	// Key is 1 to 128 characters: letters, digits, spaces and _ . : / = + - @.
	Key string `yaml:"Key"`

	// Value is 0 to 256 characters of the same set.
	Value string `yaml:"Value"`
}

// Options are what the caller knows that the file does not. The zero Options checks nothing extra.
type Options struct {
	// CheckPolicy reports whether a security policy name is known; the error it returns becomes
	// the message about SecurityPolicyName. Nil means no check.
	CheckPolicy func(name string) error
}

// Load reads, decodes, defaults and validates the config file at path. Problems in the file are
// reported together as an *Error.
func Load(path string, opts Options) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err // *fs.PathError names the operation and the path
	}
	dir := filepath.Dir(path)
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	return parse(data, path, dir, opts)
}

// Parse decodes, defaults and validates a config file's contents. filename is used in error
// messages, and a relative Storage.Local.Root is made relative to its directory. Problems are
// reported together as an *Error.
func Parse(data []byte, filename string, opts Options) (*Config, error) {
	return parse(data, filename, filepath.Dir(filename), opts)
}

func parse(data []byte, filename, dir string, opts Options) (*Config, error) {
	var c Config
	d := newDecoder()
	d.decodeFile(data, &c)
	if !d.fatal {
		c.setDefaults(dir)
		v := validator{opts: opts, decoder: d}
		v.config(&c)
	}
	if len(d.problems) > 0 {
		return nil, d.err(filename)
	}
	return &c, nil
}

// setDefaults fills in every zero field that has a default and resolves Storage.Local.Root
// against dir.
func (c *Config) setDefaults(dir string) {
	a := c.Account()
	c.Region, c.AccountID = a.Region, a.AccountID
	for i := range c.Servers {
		for j := range c.Servers[i].Users {
			files := c.Servers[i].Users[j].SSHPublicKeyFiles
			for k := range files {
				files[k] = expandPath(dir, files[k])
			}
		}
	}
	if l := c.Storage.Local; l != nil && l.Root != "" && !filepath.IsAbs(l.Root) {
		l.Root = filepath.Join(dir, l.Root)
	}
	if ca := c.IdentityProviders.CABundle; ca != "" {
		c.IdentityProviders.CABundle = expandPath(dir, ca)
	}
	for i := range c.Servers {
		s := &c.Servers[i]
		s.setDefaults()
		for j := range s.Users {
			s.Users[j].setDefaults()
		}
	}
}

func (s *Server) setDefaults() {
	if s.SecurityPolicyName == "" {
		s.SecurityPolicyName = transfer.DefaultSecurityPolicy
	}
	if s.Domain == "" {
		s.Domain = transfer.DomainS3
	}
	if s.IdentityProviderType == "" {
		s.IdentityProviderType = transfer.IdentityServiceManaged
	}
	if len(s.Protocols) == 0 {
		s.Protocols = []string{protocolSFTP}
	}
	if s.ProtocolDetails.SetStatOption == "" {
		s.ProtocolDetails.SetStatOption = transfer.SetStatDefault
	}
	if (s.IdentityProviderType == transfer.IdentityAPIGateway || s.IdentityProviderType == transfer.IdentityLambda) &&
		s.IdentityProviderDetails.SftpAuthenticationMethods == "" {
		s.IdentityProviderDetails.SftpAuthenticationMethods = transfer.AuthPublicKeyOrPassword
	}
}

func (u *User) setDefaults() {
	if u.HomeDirectoryType == "" {
		u.HomeDirectoryType = transfer.HomePath
	}
	for i := range u.HomeDirectoryMappings {
		if u.HomeDirectoryMappings[i].Type == "" {
			u.HomeDirectoryMappings[i].Type = transfer.MappingDirectory
		}
	}
}

// Account returns the region and account ID that ARNs name, with defaults.
func (c *Config) Account() transfer.Account {
	return transfer.Account{Region: c.Region, AccountID: c.AccountID}.WithDefaults()
}

// TransferServer returns the server as the state store keeps it: defaults applied, State ONLINE,
// Source config. ServerID is empty when the file gives none.
func (s *Server) TransferServer() transfer.Server {
	d := *s
	d.Protocols = slices.Clone(s.Protocols)
	d.setDefaults()
	return transfer.Server{
		ServerID:                      d.ServerID,
		Endpoint:                      d.Endpoint,
		SecurityPolicyName:            d.SecurityPolicyName,
		PreAuthenticationLoginBanner:  d.PreAuthenticationLoginBanner,
		PostAuthenticationLoginBanner: d.PostAuthenticationLoginBanner,
		Domain:                        d.Domain,
		IdentityProviderType:          d.IdentityProviderType,
		IdentityProviderDetails:       d.IdentityProviderDetails.transferDetails(),
		Protocols:                     d.Protocols,
		SetStatOption:                 d.ProtocolDetails.SetStatOption,
		State:                         transfer.StateOnline,
		WorkflowDetails:               d.WorkflowDetails,
		Tags:                          d.transferTags(),
		Source:                        transfer.SourceConfig,
	}
}

// transferDetails are the details as the state store keeps them, the default
// SftpAuthenticationMethods of a custom provider filled in.
func (d IdentityProviderDetails) transferDetails() transfer.IdentityProviderDetails {
	return transfer.IdentityProviderDetails{URL: d.URL, InvocationRole: d.InvocationRole, Function: d.Function,
		SftpAuthenticationMethods: d.SftpAuthenticationMethods}
}

// transferTags are the server's tags as the state store keeps them: Tags, then
// transferd:RecordClientOffer when RecordClientOffer is set, then a tag for each limit given.
func (s *Server) transferTags() []transfer.Tag {
	tags := transferTags(s.Tags)
	if s.RecordClientOffer {
		tags = append(tags, transfer.Tag{Key: transfer.RecordClientOfferTag, Value: "true"})
	}
	for _, kv := range s.Limits.settings() {
		tags = append(tags, transfer.Tag{Key: transfer.LimitTagPrefix + kv[0], Value: kv[1]})
	}
	return tags
}

// TransferUser returns the user of server serverID as the state store keeps it: defaults
// applied, keys parsed with their fingerprints (IDs and import dates are the store's to set),
// Source config. ${transfer:UserName} stays unexpanded. The error is about a key that does not
// parse, which cannot happen for a Config that Load or Parse returned.
func (u *User) TransferUser(serverID string) (transfer.User, error) {
	d := *u
	d.HomeDirectoryMappings = slices.Clone(u.HomeDirectoryMappings)
	d.setDefaults()
	tu := transfer.User{
		ServerID:          serverID,
		UserName:          d.UserName,
		Role:              d.Role,
		HomeDirectoryType: d.HomeDirectoryType,
		HomeDirectory:     d.HomeDirectory,
		Policy:            d.Policy,
		PosixProfile:      d.PosixProfile.transferProfile(),
		Tags:              transferTags(d.Tags),
		Source:            transfer.SourceConfig,
	}
	for _, m := range d.HomeDirectoryMappings {
		tu.HomeDirectoryMappings = append(tu.HomeDirectoryMappings, transfer.Mapping(m))
	}
	for i, body := range d.SSHPublicKeys {
		k, _, err := transfer.ParseSSHPublicKey(indexed("SshPublicKeys", i), body)
		if err != nil {
			return transfer.User{}, err
		}
		tu.SSHPublicKeys = append(tu.SSHPublicKeys, k)
	}
	seen := map[string]bool{}
	for _, k := range tu.SSHPublicKeys {
		seen[k.Fingerprint] = true
	}
	for i, file := range d.SSHPublicKeyFiles {
		keys, err := readKeyFile(indexed("SshPublicKeyFiles", i), file)
		if err != nil {
			return transfer.User{}, err
		}
		for _, k := range keys {
			if !seen[k.Fingerprint] {
				seen[k.Fingerprint] = true
				tu.SSHPublicKeys = append(tu.SSHPublicKeys, k)
			}
		}
	}
	return tu, nil
}

// readKeyFile reads the keys of an authorized_keys file; a file that does not exist has none.
func readKeyFile(field, file string) ([]transfer.SSHPublicKey, error) {
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, transfer.Invalid(field, "%v", err)
	}
	var keys []transfer.SSHPublicKey
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, _, err := transfer.ParseSSHPublicKey(fmt.Sprintf("%s (%s line %d)", field, file, n+1), line)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// expandPath resolves ~/ and paths relative to dir.
func expandPath(dir, p string) string {
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, rest)
		}
	}
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

func transferTags(tags []Tag) []transfer.Tag {
	if len(tags) == 0 {
		return nil
	}
	out := make([]transfer.Tag, len(tags))
	for i, t := range tags {
		out[i] = transfer.Tag(t)
	}
	return out
}

// Warnings returns notes about settings that are accepted but do not act as a reader might
// expect, one line each, naming the field.
func (c *Config) Warnings() []string {
	var w []string
	for i, s := range c.Servers {
		sp := indexed("Servers", i)
		if s.PostAuthenticationLoginBanner != "" {
			w = append(w, sp+".PostAuthenticationLoginBanner: is kept but not shown: Transfer Family shows it over FTP and FTPS only, never to SFTP clients")
		}
		for j, u := range s.Users {
			up := sp + "." + indexed("Users", j)
			if s.Domain == transfer.DomainEFS && u.PosixProfile == nil {
				w = append(w, up+": user "+quote(u.UserName)+" of an EFS-domain server has no PosixProfile: its files are created and checked as transferd's own user, limited only by its home directory")
			}
			for k, f := range u.SSHPublicKeyFiles {
				if _, err := os.Stat(f); err != nil {
					w = append(w, fmt.Sprintf("%s.SshPublicKeyFiles[%d]: %s cannot be read yet (%v); its keys are loaded when it exists and the config is applied again (SIGHUP or restart)", up, k, f, errors.Unwrap(err)))
				}
			}
			if len(u.SSHPublicKeys) == 0 && len(u.SSHPublicKeyFiles) == 0 {
				w = append(w, up+": user "+quote(u.UserName)+" has no SshPublicKeys and cannot log in until keys are imported")
			}
		}
	}
	return w
}
