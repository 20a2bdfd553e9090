package control

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"

	"github.com/transferd/transferd/internal/policy"
	"github.com/transferd/transferd/internal/transfer"
)

// Resource types of the errors the Service returns, as in ResourceNotFoundException.
const (
	typeServer   = "Server"
	typeUser     = "User"
	typeHostKey  = "HostKey"
	typeKey      = "SshPublicKey"
	typePolicy   = "SecurityPolicy"
	protocolSFTP = "SFTP"
	maxProtocols = 4
)

// CreateServer creates a server with its first host key and tags and returns its ID. Empty fields
// take AWS's defaults (see CreateServerInput). The server starts ONLINE, as Transfer Family starts
// a server at creation, and the Notifier is told.
func (s *Service) CreateServer(ctx context.Context, in CreateServerInput) (string, error) {
	srv, err := s.newServer(in)
	if err != nil {
		return "", err
	}
	// The host key is parsed or generated (which takes a while) before the lock is taken.
	var hk *transfer.HostKey
	if in.HostKey != "" {
		hk, err = parseHostKey("HostKey", srv.ServerID, in.HostKey)
	} else {
		hk, err = newHostKey(srv.ServerID)
	}
	if err != nil {
		return "", err
	}
	err = s.exclusive(ctx, func(ts *Service) error { return ts.createServer(ctx, srv, hk) })
	if err != nil {
		return "", err
	}
	s.changed(ctx, srv.ServerID)
	return srv.ServerID, nil
}

// newServer returns the server a CreateServer request asks for, defaults applied and checked as
// far as that needs no store. An empty ServerID stays empty.
func (s *Service) newServer(in CreateServerInput) (*transfer.Server, error) {
	srv := &transfer.Server{
		ServerID:                      in.ServerID,
		Endpoint:                      in.Endpoint,
		SecurityPolicyName:            cmp.Or(in.SecurityPolicyName, transfer.DefaultSecurityPolicy),
		PreAuthenticationLoginBanner:  in.PreAuthenticationLoginBanner,
		PostAuthenticationLoginBanner: in.PostAuthenticationLoginBanner,
		Domain:                        cmp.Or(in.Domain, transfer.DomainS3),
		IdentityProviderType:          cmp.Or(in.IdentityProviderType, transfer.IdentityServiceManaged),
		IdentityProviderDetails:       in.IdentityProviderDetails,
		Protocols:                     slices.Clone(in.Protocols),
		SetStatOption:                 cmp.Or(in.SetStatOption, transfer.SetStatDefault),
		LoggingRole:                   in.LoggingRole,
		WorkflowDetails:               in.WorkflowDetails,
		State:                         transfer.StateOnline,
		Tags:                          slices.Clone(in.Tags),
		Source:                        cmp.Or(in.Source, transfer.SourceAPI),
	}
	if len(srv.Protocols) == 0 {
		srv.Protocols = []string{protocolSFTP}
	}
	if srv.ServerID != "" {
		if err := checkServerID(srv.ServerID); err != nil {
			return nil, err
		}
	}
	switch srv.Source {
	case transfer.SourceAPI, transfer.SourceConfig:
	default:
		return nil, transfer.Invalid("Source", "%q must be %s or %s", srv.Source, transfer.SourceAPI, transfer.SourceConfig)
	}
	switch srv.Domain {
	case transfer.DomainS3, transfer.DomainEFS:
	default:
		return nil, transfer.Invalid("Domain", "%q must be S3 or EFS", srv.Domain)
	}
	if err := s.checkServer(srv); err != nil {
		return nil, err
	}
	if srv.Endpoint != "" {
		if _, err := transfer.ParseEndpoint("Endpoint", srv.Endpoint); err != nil {
			return nil, err
		}
	}
	if err := transfer.ValidateWorkflowDetails(srv.WorkflowDetails); err != nil {
		return nil, err
	}
	if srv.WorkflowDetails.Empty() {
		srv.WorkflowDetails = nil
	}
	return srv, transfer.ValidateServerTags("Tags", srv.Tags, 0)
}

// createServer gives srv its ID (when it has none) and endpoint (likewise), checks them against
// the other servers and stores the server with its host key hk. The caller holds s.mu.
func (s *Service) createServer(ctx context.Context, srv *transfer.Server, hk *transfer.HostKey) error {
	servers, err := s.AllServers(ctx)
	if err != nil {
		return err
	}
	if srv.ServerID == "" {
		srv.ServerID = transfer.NewServerID()
	}
	for _, other := range servers {
		if other.ServerID == srv.ServerID {
			return transfer.Exists(typeServer, srv.ServerID, "Server already exists")
		}
	}
	if srv.Endpoint == "" {
		if s.alloc == nil {
			return transfer.Invalid("Endpoint", "is required: this transferd assigns no endpoints by itself")
		}
		inUse := make([]string, 0, len(servers))
		for _, other := range servers {
			if other.Endpoint != "" {
				inUse = append(inUse, other.Endpoint)
			}
		}
		if srv.Endpoint, err = s.alloc.Allocate(inUse); err != nil {
			return fmt.Errorf("choosing an endpoint for server %s: %w", srv.ServerID, err)
		}
	}
	if err := checkEndpoint(srv.Endpoint, srv.ServerID, servers); err != nil {
		return err
	}
	if err := s.checkWorkflowDetails(ctx, srv.WorkflowDetails); err != nil {
		return err
	}
	srv.CreatedAt = s.stamp()
	hk.ServerID, hk.DateImported = srv.ServerID, srv.CreatedAt
	if err := s.store.CreateServer(ctx, srv); err != nil {
		return err
	}
	if err := s.store.AddHostKey(ctx, hk); err != nil {
		// Take the server back: a server without a host key cannot start.
		if derr := s.store.DeleteServer(ctx, srv.ServerID); derr != nil {
			s.log.Error("removing a server whose host key could not be stored", "server-id", srv.ServerID, "err", derr)
		}
		return fmt.Errorf("storing the host key of server %s: %w", srv.ServerID, err)
	}
	s.log.Info("created server", "server-id", srv.ServerID, "endpoint", srv.Endpoint,
		"source", srv.Source, "host-key-fingerprint", hk.Fingerprint)
	return nil
}

// DescribeServer returns a server with its ARN, the fingerprint of its oldest host key, its
// number of users and its tags.
func (s *Service) DescribeServer(ctx context.Context, serverID string) (*ServerDescription, error) {
	if err := checkServerID(serverID); err != nil {
		return nil, err
	}
	srv, err := s.store.GetServer(ctx, serverID)
	if err != nil {
		return nil, err
	}
	keys, err := s.store.ListHostKeys(ctx, serverID)
	if err != nil {
		return nil, err
	}
	n, err := s.store.CountUsers(ctx, serverID)
	if err != nil {
		return nil, err
	}
	d := &ServerDescription{Server: *srv, ARN: s.account.ServerARN(serverID), UserCount: n,
		Tags: s.shownTags(resource{kind: typeServer, serverID: serverID}, srv, srv.Tags)}
	if len(keys) > 0 {
		d.HostKeyFingerprint = keys[0].Fingerprint
	}
	return d, nil
}

// UpdateServer changes the settings given in the request and leaves the others alone, with
// CreateServer's checks. A HostKey replaces the server's oldest host key of the same type (an
// ED25519 key replaces an ED25519 key), or is added when the server has none of that type. The
// Notifier is told.
func (s *Service) UpdateServer(ctx context.Context, serverID string, in UpdateServerInput) error {
	if err := s.managedServer(serverID, "UpdateServer"); err != nil {
		return err
	}
	err := s.exclusive(ctx, func(ts *Service) error { return ts.updateServer(ctx, serverID, in) })
	if err != nil {
		return err
	}
	s.changed(ctx, serverID)
	return nil
}

func (s *Service) updateServer(ctx context.Context, serverID string, in UpdateServerInput) error {
	if err := checkServerID(serverID); err != nil {
		return err
	}
	srv, err := s.store.GetServer(ctx, serverID)
	if err != nil {
		return err
	}
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&srv.SecurityPolicyName, in.SecurityPolicyName)
	set(&srv.PreAuthenticationLoginBanner, in.PreAuthenticationLoginBanner)
	set(&srv.PostAuthenticationLoginBanner, in.PostAuthenticationLoginBanner)
	wasManaged := srv.IdentityProviderType == transfer.IdentityServiceManaged
	if in.IdentityProviderType != nil && *in.IdentityProviderType != srv.IdentityProviderType {
		srv.IdentityProviderType = *in.IdentityProviderType
		srv.IdentityProviderDetails = transfer.IdentityProviderDetails{}
	}
	if u := in.IdentityProviderDetails; u != nil {
		d := &srv.IdentityProviderDetails
		set(&d.URL, u.URL)
		set(&d.InvocationRole, u.InvocationRole)
		set(&d.Function, u.Function)
		set(&d.SftpAuthenticationMethods, u.SftpAuthenticationMethods)
	}
	set(&srv.SetStatOption, in.SetStatOption)
	set(&srv.LoggingRole, in.LoggingRole)
	if in.Protocols != nil {
		srv.Protocols = slices.Clone(in.Protocols)
	}
	if in.WorkflowDetails != nil {
		srv.WorkflowDetails = in.WorkflowDetails
		if err := transfer.ValidateWorkflowDetails(srv.WorkflowDetails); err != nil {
			return err
		}
		if err := s.checkWorkflowDetails(ctx, srv.WorkflowDetails); err != nil {
			return err
		}
		if srv.WorkflowDetails.Empty() {
			srv.WorkflowDetails = nil
		}
	}
	if err := s.checkServer(srv); err != nil {
		return err
	}
	if wasManaged && srv.IdentityProviderType != transfer.IdentityServiceManaged {
		// Its stored users would be ignored: the identity provider decides who logs in.
		n, err := s.store.CountUsers(ctx, serverID)
		if err != nil {
			return err
		}
		if n > 0 {
			return transfer.Invalid("IdentityProviderType", "server %s has %d service-managed users, which a %s identity provider would leave unused; delete them first",
				serverID, n, srv.IdentityProviderType)
		}
	}
	if in.Endpoint != nil && *in.Endpoint != srv.Endpoint {
		if *in.Endpoint == "" {
			return transfer.Invalid("Endpoint", "must not be empty")
		}
		servers, err := s.AllServers(ctx)
		if err != nil {
			return err
		}
		if err := checkEndpoint(*in.Endpoint, serverID, servers); err != nil {
			return err
		}
		srv.Endpoint = *in.Endpoint
	}
	var hk *transfer.HostKey
	if in.HostKey != nil {
		if hk, err = parseHostKey("HostKey", serverID, *in.HostKey); err != nil {
			return err
		}
	}
	if err := s.store.UpdateServer(ctx, srv); err != nil {
		return err
	}
	if hk != nil {
		return s.replaceHostKey(ctx, hk)
	}
	return nil
}

// DeleteServer deletes a server with its host keys, users, their keys and all their tags. The
// Notifier is told, so the daemon stops the server.
func (s *Service) DeleteServer(ctx context.Context, serverID string) error {
	if err := checkServerID(serverID); err != nil {
		return err
	}
	if err := s.managedServer(serverID, "DeleteServer"); err != nil {
		return err
	}
	if err := s.store.DeleteServer(ctx, serverID); err != nil {
		return err
	}
	s.log.Info("deleted server", "server-id", serverID)
	s.changed(ctx, serverID)
	return nil
}

// ListServers returns one page of servers in ID order, each with its user count, and the token
// of the next page ("" on the last).
func (s *Service) ListServers(ctx context.Context, p Page) ([]ServerSummary, string, error) {
	size, err := pageSize(p)
	if err != nil {
		return nil, "", err
	}
	after, err := pageCursor(p, serversList())
	if err != nil {
		return nil, "", err
	}
	if after != "" && !transfer.ValidServerID(after) {
		return nil, "", errInvalidToken()
	}
	servers, err := s.store.ListServers(ctx, after, size+1)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(servers) > size {
		servers = servers[:size]
		next = nextToken(serversList(), servers[size-1].ServerID)
	}
	out := make([]ServerSummary, 0, len(servers))
	for _, srv := range servers {
		n, err := s.store.CountUsers(ctx, srv.ServerID)
		if transfer.KindOf(err) == transfer.KindNotFound {
			continue // deleted since the page was read
		}
		if err != nil {
			return nil, "", err
		}
		out = append(out, ServerSummary{Server: srv, ARN: s.account.ServerARN(srv.ServerID), UserCount: n})
	}
	return out, next, nil
}

// AllServers returns every server, in ID order, for the daemon.
func (s *Service) AllServers(ctx context.Context) ([]transfer.Server, error) {
	var all []transfer.Server
	after := ""
	for {
		page, err := s.store.ListServers(ctx, after, maxMaxResults)
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if len(page) < maxMaxResults {
			return all, nil
		}
		after = page[len(page)-1].ServerID
	}
}

// StartServer asks for a server to come online: it is set STARTING and the Notifier is told; the
// daemon then reports ONLINE or START_FAILED through SetServerState. A server that is ONLINE or
// STARTING already is left as it is, as AWS allows.
func (s *Service) StartServer(ctx context.Context, serverID string) error {
	return s.moveServer(ctx, serverID, transfer.StateStarting, transfer.StateOnline)
}

// StopServer asks for a server to go offline: it is set STOPPING and the Notifier is told; the
// daemon then reports OFFLINE (or STOP_FAILED) through SetServerState. A server that is OFFLINE or
// STOPPING already is left as it is, as AWS allows.
func (s *Service) StopServer(ctx context.Context, serverID string) error {
	if err := s.managedServer(serverID, "StopServer"); err != nil {
		return err
	}
	return s.moveServer(ctx, serverID, transfer.StateStopping, transfer.StateOffline)
}

// moveServer sets a server to the transitional state via on the way to target, unless it is in
// one of them already.
func (s *Service) moveServer(ctx context.Context, serverID, via, target string) error {
	if err := checkServerID(serverID); err != nil {
		return err
	}
	moved := false
	err := s.exclusive(ctx, func(ts *Service) error {
		srv, err := ts.store.GetServer(ctx, serverID)
		if err != nil {
			return err
		}
		if srv.State == via || srv.State == target {
			return nil
		}
		moved = true
		return ts.store.SetServerState(ctx, serverID, via)
	})
	if err != nil || !moved {
		return err
	}
	s.log.Info("server state requested", "server-id", serverID, "state", via)
	s.changed(ctx, serverID)
	return nil
}

// SetServerState records the state the daemon has brought a server to: ONLINE, OFFLINE,
// START_FAILED or STOP_FAILED (or a transitional one). The Notifier is not told: the daemon is
// the one reporting.
func (s *Service) SetServerState(ctx context.Context, serverID, state string) error {
	if err := checkServerID(serverID); err != nil {
		return err
	}
	switch state {
	case transfer.StateOnline, transfer.StateOffline, transfer.StateStarting, transfer.StateStopping,
		transfer.StateStartFailed, transfer.StateStopFailed:
	default:
		return transfer.Invalid("State", "%q is not a server state", state)
	}
	return s.exclusive(ctx, func(ts *Service) error { return ts.store.SetServerState(ctx, serverID, state) })
}

// checkServer checks the settings CreateServer and UpdateServer share.
func (s *Service) checkServer(srv *transfer.Server) error {
	if err := s.checkServerPolicy(srv.SecurityPolicyName); err != nil {
		return err
	}
	if err := transfer.ValidateBanner("PreAuthenticationLoginBanner", srv.PreAuthenticationLoginBanner); err != nil {
		return err
	}
	if err := transfer.ValidateBanner("PostAuthenticationLoginBanner", srv.PostAuthenticationLoginBanner); err != nil {
		return err
	}
	if err := transfer.ValidateIdentityProvider(srv.IdentityProviderType, &srv.IdentityProviderDetails); err != nil {
		return err
	}
	if err := checkProtocols(srv.Protocols); err != nil {
		return err
	}
	if err := transfer.ValidateSetStatOption(srv.SetStatOption); err != nil {
		return err
	}
	if err := transfer.ValidateRole(srv.LoggingRole); err != nil {
		return refield(err, "LoggingRole")
	}
	return nil
}

// checkServerPolicy accepts only known policies meant for servers.
func (s *Service) checkServerPolicy(name string) error {
	p, err := s.catalog.Lookup(name)
	if upe, ok := errors.AsType[*policy.UnknownPolicyError](err); ok {
		if upe.Suggestion != "" {
			return transfer.Invalid("SecurityPolicyName", "%q is not a security policy; did you mean %s?", name, upe.Suggestion)
		}
		return transfer.Invalid("SecurityPolicyName", "%q is not a security policy (ListSecurityPolicies lists them)", name)
	}
	if err != nil {
		return err
	}
	if !p.IsServer() {
		return transfer.Invalid("SecurityPolicyName", "%s is a %s policy; servers need a %s policy", name, p.Type, policy.TypeServer)
	}
	return nil
}

// checkProtocols accepts 1 to 4 distinct protocols, of which transferd serves only SFTP.
func checkProtocols(protocols []string) error {
	if len(protocols) == 0 || len(protocols) > maxProtocols {
		return transfer.Invalid("Protocols", "must list 1 to %d protocols; transferd serves SFTP", maxProtocols)
	}
	seen := map[string]int{}
	for i, proto := range protocols {
		field := fmt.Sprintf("Protocols[%d]", i)
		if j, ok := seen[proto]; ok {
			return transfer.Invalid(field, "%s is also Protocols[%d]", proto, j)
		}
		seen[proto] = i
		switch proto {
		case protocolSFTP:
		case "FTP", "FTPS", "AS2":
			return transfer.Invalid(field, "%s is not supported by transferd; only SFTP is", proto)
		default:
			return transfer.Invalid(field, "%q is not a Transfer Family protocol (SFTP, FTP, FTPS or AS2); transferd serves SFTP", proto)
		}
	}
	return nil
}

// checkServerID checks a server ID's form.
func checkServerID(id string) error {
	if id == "" {
		return transfer.Invalid("ServerId", "is required")
	}
	if !transfer.ValidServerID(id) {
		return transfer.Invalid("ServerId", "%q is not a server ID: s- and 17 lowercase hex digits", id)
	}
	return nil
}

// checkEndpoint checks that ep is a valid listen address that no server but serverID listens on,
// counting a server on all interfaces as listening on its port on every address.
func checkEndpoint(ep, serverID string, servers []transfer.Server) error {
	a, err := transfer.ParseEndpoint("Endpoint", ep)
	if err != nil {
		return err
	}
	for _, other := range servers {
		if other.ServerID == serverID || other.Endpoint == "" {
			continue
		}
		b, err := transfer.ParseEndpoint("Endpoint", other.Endpoint)
		if err != nil || !a.Overlaps(b) {
			continue
		}
		switch {
		case ep == other.Endpoint:
			return transfer.Invalid("Endpoint", "%s is already the endpoint of server %s", ep, other.ServerID)
		case a.Any || b.Any:
			return transfer.Invalid("Endpoint", "%s and the endpoint %s of server %s both listen on port %d, and one of them on all interfaces",
				ep, other.Endpoint, other.ServerID, a.Port)
		}
		return transfer.Invalid("Endpoint", "%s is the same address as the endpoint %s of server %s", ep, other.Endpoint, other.ServerID)
	}
	return nil
}

// refield returns err, an invalid-input error about one field, as one about field instead, for a
// shared validator used on a member with another name (ValidateRole for LoggingRole).
func refield(err error, field string) error {
	te, ok := errors.AsType[*transfer.Error](err)
	if !ok {
		return err
	}
	c := *te
	c.Field = field
	return &c
}

// TestIdentityProviderInput is TestIdentityProvider's request.
type TestIdentityProviderInput struct {
	ServerID string
	UserName string
	// ServerProtocol is SFTP (the default), FTP, FTPS or AS2: the protocol the provider is told.
	ServerProtocol string
	SourceIP       string
	UserPassword   string
}

// Limits of TestIdentityProvider's members, from the API model.
const (
	maxSourceIPLength = 32
	maxPasswordLength = 1024
)

var sourceIPPattern = regexp.MustCompile(`^[0-9a-fA-F.:]+$`)

// TestIdentityProvider calls a server's custom identity provider once, as a password login
// would, and returns what it answered. A server that authenticates its users itself is refused
// with Transfer Family's message.
func (s *Service) TestIdentityProvider(ctx context.Context, in TestIdentityProviderInput) (*IdentityTestResult, error) {
	if err := checkServerID(in.ServerID); err != nil {
		return nil, err
	}
	if in.UserName == "" {
		return nil, transfer.Invalid("UserName", "is required")
	}
	if err := transfer.ValidateUserName(in.UserName); err != nil {
		return nil, err
	}
	proto := cmp.Or(in.ServerProtocol, protocolSFTP)
	switch proto {
	case protocolSFTP, "FTP", "FTPS", "AS2":
	default:
		return nil, transfer.Invalid("ServerProtocol", "%q must be SFTP, FTP, FTPS or AS2", proto)
	}
	if in.SourceIP != "" && (len(in.SourceIP) > maxSourceIPLength || !sourceIPPattern.MatchString(in.SourceIP)) {
		return nil, transfer.Invalid("SourceIp", "%q must be an IP address of at most %d characters", in.SourceIP, maxSourceIPLength)
	}
	if len(in.UserPassword) > maxPasswordLength {
		return nil, transfer.Invalid("UserPassword", "is %d characters long; at most %d are allowed", len(in.UserPassword), maxPasswordLength)
	}
	srv, err := s.store.GetServer(ctx, in.ServerID)
	if err != nil {
		return nil, err
	}
	if !srv.CustomIdentity() {
		return nil, &transfer.Error{Kind: transfer.KindInvalid, Message: in.ServerID + " not configured for external auth"}
	}
	if s.tester == nil {
		return nil, fmt.Errorf("TestIdentityProvider: this control plane has no identity provider client")
	}
	res := s.tester.TestIdentityProvider(ctx, srv, IdentityTest{UserName: in.UserName, Password: in.UserPassword,
		Protocol: proto, SourceIP: in.SourceIP})
	return &res, nil
}
