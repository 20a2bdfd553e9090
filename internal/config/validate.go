package config

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net/url"
	"strings"

	"github.com/transferd/transferd/internal/iampolicy"
	"github.com/transferd/transferd/internal/transfer"
)

// Limits and values the file is checked against, beyond those of package transfer.
const (
	protocolSFTP = "SFTP"
)

// validator checks a decoded, defaulted Config, reporting through the decoder that knows the
// line of every field.
type validator struct {
	opts Options
	*decoder
}

// problem reports a problem with the field at path, unless the field could not be decoded.
func (v *validator) problem(path, format string, args ...any) {
	if v.isBad(path) {
		return
	}
	v.add(v.line(path), path, fmt.Sprintf(format, args...))
}

// required reports a missing field, unless an unknown key was probably meant to be it.
func (v *validator) required(path, what string) {
	if v.misspelled[path] {
		return
	}
	v.problem(path, "is required (%s)", what)
}

// check reports err from one of package transfer's validators, whose Field is relative to
// prefix.
func (v *validator) check(prefix string, err error) {
	if err == nil {
		return
	}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range joined.Unwrap() {
			v.check(prefix, e)
		}
		return
	}
	var te *transfer.Error
	if errors.As(err, &te) && te.Field != "" {
		v.problem(join(prefix, te.Field), "%s", message(te))
		return
	}
	v.problem(prefix, "%s", err)
}

// message returns an error's text without the field name a *transfer.Error puts in front.
func message(err error) string {
	var te *transfer.Error
	if !errors.As(err, &te) || te.Message == "" {
		return err.Error()
	}
	if te.Err != nil {
		return te.Message + ": " + te.Err.Error()
	}
	return te.Message
}

func (v *validator) config(c *Config) {
	if !validRegion(c.Region) {
		v.problem("Region", "%q is not an AWS region name such as us-east-1", c.Region)
	}
	if !validAccountID(c.AccountID) {
		v.problem("AccountId", "%q must be 12 digits", c.AccountID)
	}
	if l := c.Storage.Local; l != nil && strings.ContainsRune(l.Root, 0) {
		v.problem("Storage.Local.Root", "contains a NUL byte")
	}
	if s3 := c.Storage.S3; s3 != nil {
		if u, err := url.Parse(s3.Endpoint); s3.Endpoint != "" && (err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "") {
			v.problem("Storage.S3.Endpoint", "%q is not an http:// or https:// URL", s3.Endpoint)
		}
		if s3.Region != "" && !validRegion(s3.Region) {
			v.problem("Storage.S3.Region", "%q is not an AWS region name such as us-east-1", s3.Region)
		}
		if (s3.AccessKeyID == "") != (s3.SecretAccessKey == "") {
			v.problem("Storage.S3", "set both AccessKeyId and SecretAccessKey, or neither to use the standard AWS credential chain")
		}
		if s3.SessionToken != "" && s3.AccessKeyID == "" {
			v.problem("Storage.S3.SessionToken", "goes with AccessKeyId and SecretAccessKey, which are not set")
		}
		if s3.PartSizeMiB != 0 && (s3.PartSizeMiB < minPartSizeMiB || s3.PartSizeMiB > maxPartSizeMiB) {
			v.problem("Storage.S3.PartSizeMiB", "%d is outside S3's part sizes (%d to %d MiB)", s3.PartSizeMiB, minPartSizeMiB, maxPartSizeMiB)
		}
		if s3.ReorderBufferMiB != 0 && (s3.ReorderBufferMiB < minReorderBufferMiB || s3.ReorderBufferMiB > maxReorderBufferMiB) {
			v.problem("Storage.S3.ReorderBufferMiB", "%d must be %d to %d", s3.ReorderBufferMiB, minReorderBufferMiB, maxReorderBufferMiB)
		}
		if n := s3.MaxRenameObjects; n != nil && (*n < 0 || *n > maxRenameObjects) {
			v.problem("Storage.S3.MaxRenameObjects", "%d must be 0 (no directory renames) to %d", *n, maxRenameObjects)
		}
	}
	v.identityProviders("IdentityProviders", &c.IdentityProviders)
	v.penalties("Penalties", &c.Penalties)
	workflows := map[string]int{}
	for i := range c.Workflows {
		w := &c.Workflows[i]
		p := indexed("Workflows", i)
		if !transfer.ValidWorkflowID(w.WorkflowID) {
			v.problem(p+".WorkflowId", "%q must be w- and 17 lowercase letters and digits, e.g. w-0123456789abcdefg", w.WorkflowID)
		} else if j, ok := workflows[w.WorkflowID]; ok {
			v.problem(p+".WorkflowId", "%q is also the WorkflowId of Workflows[%d]", w.WorkflowID, j)
		} else {
			workflows[w.WorkflowID] = i
		}
		tw := w.TransferWorkflow()
		v.check(p, transfer.ValidateWorkflow(&tw))
		v.check(p, transfer.ValidateTags("Tags", tw.Tags, 0))
	}
	if c.Servers == nil {
		// An explicit "Servers: []" is fine: servers then come from the management API.
		if !v.misspelled["Servers"] {
			v.problem("Servers", "is missing: list the servers, or write \"Servers: []\" to start with none and create them through the management API")
		}
		return
	}
	ids := map[string]int{}
	var addrs []listenAddr
	for i := range c.Servers {
		s := &c.Servers[i]
		p := indexed("Servers", i)
		v.server(p, s)
		if s.ServerID != "" {
			if j, ok := ids[s.ServerID]; ok {
				v.problem(p+".ServerId", "%q is also the ServerId of Servers[%d]", s.ServerID, j)
			} else {
				ids[s.ServerID] = i
			}
		}
		a, ok := v.endpoint(p+".Endpoint", s.Endpoint)
		if !ok {
			continue
		}
		a.server = i
		for _, b := range addrs {
			if msg := a.conflict(b); msg != "" {
				v.problem(p+".Endpoint", "%s", msg)
				break
			}
		}
		addrs = append(addrs, a)
	}
}

// penalties checks the brute-force penalties.
func (v *validator) penalties(p string, c *Penalties) {
	for _, f := range []struct {
		name string
		v    *int
	}{
		{"AuthFailureSeconds", c.AuthFailureSeconds}, {"InvalidUserSeconds", c.InvalidUserSeconds},
		{"NoAuthSeconds", c.NoAuthSeconds}, {"GraceExceededSeconds", c.GraceExceededSeconds},
		{"MinSeconds", c.MinSeconds}, {"MaxSeconds", c.MaxSeconds},
	} {
		if f.v != nil && (*f.v < 0 || *f.v > maxPenaltySeconds) {
			v.problem(p+"."+f.name, "%d must be 0 to %d seconds", *f.v, maxPenaltySeconds)
		}
	}
	if s := c.Settings(); s.Max < s.Min {
		v.problem(p+".MaxSeconds", "%v is less than MinSeconds (%v): no penalty could ever refuse a connection", s.Max, s.Min)
	}
	if c.MaxSources < 0 || c.MaxSources > maxPenaltySources {
		v.problem(p+".MaxSources", "%d must be 1 to %d (0 or absent: %d)", c.MaxSources, maxPenaltySources, DefaultPenaltyMaxSource)
	}
	for i, n := range c.ExemptNetworks {
		if _, err := transfer.ParseNetwork(n); err != nil {
			v.problem(p+"."+indexed("ExemptNetworks", i), "%q is not an IP address or a CIDR network such as 192.0.2.0/24", n)
		}
	}
}

// identityProviders checks how custom identity providers are called.
func (v *validator) identityProviders(p string, ip *IdentityProviders) {
	if n := ip.TimeoutSeconds; n != 0 && (n < 1 || n > maxIdPTimeoutSeconds) {
		v.problem(p+".TimeoutSeconds", "%d must be 1 to %d", n, maxIdPTimeoutSeconds)
	}
	if n := ip.MaxConcurrentCalls; n != 0 && (n < 1 || n > maxIdPConcurrent) {
		v.problem(p+".MaxConcurrentCalls", "%d must be 1 to %d", n, maxIdPConcurrent)
	}
	if ip.CABundle != "" {
		if _, err := LoadCABundle(ip.CABundle); err != nil {
			if pe, ok := errors.AsType[*fs.PathError](err); ok {
				err = pe.Err // the path is the field's own value
			}
			v.problem(p+".CABundle", "cannot be used: %v", err)
		}
	}
	if ip.Region != "" && !validRegion(ip.Region) {
		v.problem(p+".Region", "%q is not an AWS region name such as us-east-1", ip.Region)
	}
	if u, err := url.Parse(ip.LambdaEndpoint); ip.LambdaEndpoint != "" && (err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "") {
		v.problem(p+".LambdaEndpoint", "%q is not an http:// or https:// URL", ip.LambdaEndpoint)
	}
	if (ip.AccessKeyID == "") != (ip.SecretAccessKey == "") {
		v.problem(p, "set both AccessKeyId and SecretAccessKey, or neither to use the standard AWS credential chain")
	}
	if ip.SessionToken != "" && ip.AccessKeyID == "" {
		v.problem(p+".SessionToken", "goes with AccessKeyId and SecretAccessKey, which are not set")
	}
}

func validRegion(r string) bool {
	parts := strings.Split(r, "-")
	if len(parts) < 3 || len(parts[0]) != 2 {
		return false
	}
	for _, part := range parts[:len(parts)-1] {
		if part == "" || strings.Trim(part, "abcdefghijklmnopqrstuvwxyz") != "" {
			return false
		}
	}
	last := parts[len(parts)-1]
	return last != "" && len(last) <= 2 && strings.Trim(last, "0123456789") == ""
}

func validAccountID(id string) bool {
	return len(id) == 12 && strings.Trim(id, "0123456789") == ""
}

func (v *validator) server(p string, s *Server) {
	if s.ServerID != "" && !transfer.ValidServerID(s.ServerID) {
		v.problem(p+".ServerId", "%q must be s- and 17 lowercase hex digits, e.g. s-0123456789abcdef0", s.ServerID)
	}
	if v.opts.CheckPolicy != nil {
		if err := v.opts.CheckPolicy(s.SecurityPolicyName); err != nil {
			v.problem(p+".SecurityPolicyName", "%s", message(err))
		}
	}
	v.check(p, transfer.ValidateWorkflowDetails(s.WorkflowDetails))
	v.check(p, transfer.ValidateBanner("PreAuthenticationLoginBanner", s.PreAuthenticationLoginBanner))
	v.check(p, transfer.ValidateBanner("PostAuthenticationLoginBanner", s.PostAuthenticationLoginBanner))
	switch s.Domain {
	case transfer.DomainS3, transfer.DomainEFS:
	default:
		v.problem(p+".Domain", "%q must be S3 or EFS", s.Domain)
	}
	details := s.IdentityProviderDetails.transferDetails()
	v.check(p, transfer.ValidateIdentityProvider(s.IdentityProviderType, &details))
	if s.IdentityProviderType != transfer.IdentityServiceManaged && len(s.Users) > 0 {
		v.problem(p+".Users", "a server with IdentityProviderType %s has no service-managed users: its identity provider answers for every login", s.IdentityProviderType)
	}
	v.protocols(p+".Protocols", s.Protocols)
	v.check(p, transfer.ValidateSetStatOption(s.ProtocolDetails.SetStatOption))
	v.tags(p, s.Tags, transfer.ValidateServerTags)
	for i, t := range s.Tags {
		switch {
		case t.Key == transfer.RecordClientOfferTag:
			v.problem(p+"."+indexed("Tags", i)+".Key", "%s is set by the server field RecordClientOffer (true or false); remove the tag", t.Key)
		case transfer.IsLimitTag(t.Key):
			v.problem(p+"."+indexed("Tags", i)+".Key", "%s is set by the server field Limits.%s; remove the tag", t.Key, strings.TrimPrefix(t.Key, transfer.LimitTagPrefix))
		}
	}
	var lim transfer.Limits
	for _, kv := range s.Limits.settings() {
		if err := lim.SetLimit(kv[0], kv[1]); err != nil {
			v.problem(p+".Limits."+kv[0], "%v", err)
		}
	}
	names := map[string]int{}
	for j := range s.Users {
		u := &s.Users[j]
		up := p + "." + indexed("Users", j)
		v.user(up, u, s.Domain)
		if u.UserName == "" {
			continue
		}
		if k, ok := names[u.UserName]; ok {
			v.problem(up+".UserName", "%q is also the UserName of %s.Users[%d]", u.UserName, p, k)
		} else {
			names[u.UserName] = j
		}
	}
}

func (v *validator) protocols(p string, protocols []string) {
	seen := map[string]int{}
	for i, proto := range protocols {
		pp := indexed(p, i)
		if j, ok := seen[proto]; ok {
			v.problem(pp, "%s is also Protocols[%d]", proto, j)
			continue
		}
		seen[proto] = i
		switch proto {
		case protocolSFTP:
		case "FTP", "FTPS", "AS2":
			v.problem(pp, "%s is not supported by transferd; only SFTP is", proto)
		default:
			v.problem(pp, "%q is not a Transfer Family protocol (SFTP, FTP, FTPS or AS2); transferd serves SFTP", proto)
		}
	}
}

// listenAddr is a server's Endpoint taken apart, with where it came from.
type listenAddr struct {
	transfer.ListenAddr
	server   int
	endpoint string
}

// conflict says why a and b cannot both listen, or returns "".
func (a listenAddr) conflict(b listenAddr) string {
	switch {
	case !a.Overlaps(b.ListenAddr):
		return ""
	case a.endpoint == b.endpoint:
		return fmt.Sprintf("%q is also the Endpoint of Servers[%d]", a.endpoint, b.server)
	case a.Any || b.Any:
		return fmt.Sprintf("%q and Servers[%d].Endpoint %q both listen on port %d, and one of them on all interfaces", a.endpoint, b.server, b.endpoint, a.Port)
	}
	return fmt.Sprintf("%q is the same address as Servers[%d].Endpoint %q", a.endpoint, b.server, b.endpoint)
}

// endpoint checks a host:port and takes it apart.
func (v *validator) endpoint(p, ep string) (listenAddr, bool) {
	if ep == "" {
		v.required(p, "the host:port to listen on, e.g. 127.0.0.1:2222, or :2222 for all interfaces")
		return listenAddr{}, false
	}
	la, err := transfer.ParseEndpoint("Endpoint", ep)
	if err != nil {
		v.problem(p, "%s", message(err))
		return listenAddr{}, false
	}
	return listenAddr{ListenAddr: la, endpoint: ep}, true
}

func (v *validator) user(p string, u *User, domain string) {
	switch u.UserName {
	case "":
		v.required(p+".UserName", "the SFTP login name")
	case "root":
		v.problem(p+".UserName", `"root" is not allowed: Transfer Family refuses it at SFTP login`)
	default:
		v.check(p, transfer.ValidateUserName(u.UserName))
	}
	v.check(p, transfer.ValidateRole(u.Role))
	tu := transfer.User{
		UserName:          u.UserName,
		HomeDirectoryType: u.HomeDirectoryType,
		HomeDirectory:     u.HomeDirectory,
		Policy:            u.Policy,
	}
	for _, m := range u.HomeDirectoryMappings {
		tu.HomeDirectoryMappings = append(tu.HomeDirectoryMappings, transfer.Mapping(m))
	}
	homeErr := transfer.ValidateHome(&tu)
	v.check(p, homeErr)
	v.policy(p+".Policy", &tu, domain, homeErr == nil)
	v.posixProfile(p+".PosixProfile", u.PosixProfile, domain)
	v.keys(p, u.SSHPublicKeys)
	v.tags(p, u.Tags, transfer.ValidateTags)
}

// policy checks a session policy as CreateUser does: only on S3-domain servers, one transferd can
// evaluate, and (when the home directory is valid) whose variables the home supplies.
func (v *validator) policy(p string, u *transfer.User, domain string, homeValid bool) {
	if strings.TrimSpace(u.Policy) == "" {
		return
	}
	if len(u.Policy) > transfer.MaxPolicyLength {
		v.problem(p, "is %d characters long; at most %d are allowed", len(u.Policy), transfer.MaxPolicyLength)
		return
	}
	if domain == transfer.DomainEFS {
		v.problem(p, "session policies apply to users of S3-domain servers; this server has Domain EFS, where the user's PosixProfile decides access")
		return
	}
	if !homeValid {
		if _, err := iampolicy.Parse(u.Policy); err != nil {
			v.problem(p, "%v", err)
		}
		return
	}
	if err := iampolicy.CheckUser(u); err != nil {
		v.problem(p, "%s", message(err))
	}
}

// posixProfile checks a POSIX profile: only on EFS-domain servers, Uid and Gid given, every ID
// a 32-bit unsigned number, at most 16 secondary groups.
func (v *validator) posixProfile(p string, pp *PosixProfile, domain string) {
	if pp == nil {
		return
	}
	if domain != transfer.DomainEFS {
		v.problem(p, "POSIX profiles apply to users of EFS-domain servers; this server has Domain %s, where a session Policy confines the user", domain)
		return
	}
	id := func(field string, n *int64) {
		if n == nil {
			v.required(join(p, field), "a POSIX ID, 0 to 4294967295")
			return
		}
		if *n < 0 || *n > math.MaxUint32 {
			v.problem(join(p, field), "%d must be between 0 and 4294967295", *n)
		}
	}
	id("Uid", pp.UID)
	id("Gid", pp.GID)
	if len(pp.SecondaryGIDs) > transfer.MaxSecondaryGIDs {
		v.problem(p+".SecondaryGids", "has %d IDs; at most %d are allowed", len(pp.SecondaryGIDs), transfer.MaxSecondaryGIDs)
	}
	for i, g := range pp.SecondaryGIDs {
		id(indexed("SecondaryGids", i), &g)
	}
}

// keys checks a user's public keys; p is the user's path.
func (v *validator) keys(p string, keys []string) {
	if len(keys) > transfer.MaxKeysPerUser {
		v.problem(p+".SshPublicKeys", "has %d keys; at most %d are allowed", len(keys), transfer.MaxKeysPerUser)
	}
	seen := map[string]int{}
	for i, body := range keys {
		field := indexed("SshPublicKeys", i)
		k, _, err := transfer.ParseSSHPublicKey(field, body)
		if err != nil {
			v.check(p, err)
			continue
		}
		if j, ok := seen[k.Fingerprint]; ok {
			v.problem(join(p, field), "is the same key as SshPublicKeys[%d] (%s)", j, k.Fingerprint)
			continue
		}
		seen[k.Fingerprint] = i
	}
}

func (v *validator) tags(parent string, tags []Tag, validate func(string, []transfer.Tag, int) error) {
	ts := make([]transfer.Tag, len(tags))
	for i, t := range tags {
		ts[i] = transfer.Tag(t)
	}
	v.check(parent, validate("Tags", ts, 0))
}
