package mgmtapi

import (
	"context"

	"github.com/transferd/transferd/internal/control"
	"github.com/transferd/transferd/internal/transfer"
)

// Values of DescribedServer members that only describe AWS's infrastructure: every transferd
// server is reachable at its listen address, over IPv4 or IPv6 as that address says.
const (
	endpointTypePublic = "PUBLIC"
	ipAddressTypeIPv4  = "IPV4"
)

// operations is the table of operations by X-Amz-Target name.
func (h *Handler) operations() map[string]operation {
	return map[string]operation{
		"CreateServer":           handle(h.createServer),
		"DescribeServer":         handle(h.describeServer),
		"UpdateServer":           handle(h.updateServer),
		"DeleteServer":           handle(h.deleteServer),
		"ListServers":            handle(h.listServers),
		"StartServer":            handle(h.startServer),
		"StopServer":             handle(h.stopServer),
		"CreateUser":             handle(h.createUser),
		"DescribeUser":           handle(h.describeUser),
		"UpdateUser":             handle(h.updateUser),
		"DeleteUser":             handle(h.deleteUser),
		"ListUsers":              handle(h.listUsers),
		"ImportSshPublicKey":     handle(h.importSSHPublicKey),
		"DeleteSshPublicKey":     handle(h.deleteSSHPublicKey),
		"ImportHostKey":          handle(h.importHostKey),
		"DescribeHostKey":        handle(h.describeHostKey),
		"UpdateHostKey":          handle(h.updateHostKey),
		"DeleteHostKey":          handle(h.deleteHostKey),
		"ListHostKeys":           handle(h.listHostKeys),
		"ListSecurityPolicies":   handle(h.listSecurityPolicies),
		"DescribeSecurityPolicy": handle(h.describeSecurityPolicy),
		"TagResource":            handle(h.tagResource),
		"UntagResource":          handle(h.untagResource),
		"ListTagsForResource":    handle(h.listTagsForResource),
		"TestIdentityProvider":   handle(h.testIdentityProvider),
		"CreateWorkflow":         handle(h.createWorkflow),
		"DescribeWorkflow":       handle(h.describeWorkflow),
		"ListWorkflows":          handle(h.listWorkflows),
		"DeleteWorkflow":         handle(h.deleteWorkflow),
		"ListExecutions":         handle(h.listExecutions),
		"DescribeExecution":      handle(h.describeExecution),
		"SendWorkflowStepState":  handle(h.sendWorkflowStepState),
	}
}

// Servers.

func (h *Handler) createServer(ctx context.Context, in *createServerInput) (*serverIDOutput, error) {
	if err := in.checkSupported(); err != nil {
		return nil, err
	}
	tags, err := tagsIn("Tags", in.Tags)
	if err != nil {
		return nil, err
	}
	tags, endpoint, err := splitEndpointTag(tags)
	if err != nil {
		return nil, err
	}
	wd, err := workflowDetails(in.WorkflowDetails)
	if err != nil {
		return nil, err
	}
	id, err := h.svc.CreateServer(ctx, control.CreateServerInput{
		IdentityProviderDetails:       identityDetails(in.IdentityProviderDetails),
		Endpoint:                      endpoint,
		SecurityPolicyName:            deref(in.SecurityPolicyName),
		PreAuthenticationLoginBanner:  deref(in.PreAuthenticationLoginBanner),
		PostAuthenticationLoginBanner: deref(in.PostAuthenticationLoginBanner),
		Domain:                        deref(in.Domain),
		IdentityProviderType:          deref(in.IdentityProviderType),
		Protocols:                     in.Protocols,
		SetStatOption:                 deref(setStatOption(in.ProtocolDetails)),
		LoggingRole:                   deref(in.LoggingRole),
		HostKey:                       deref(in.HostKey),
		WorkflowDetails:               wd,
		Tags:                          tags,
		Source:                        transfer.SourceAPI,
	})
	if err != nil {
		return nil, err
	}
	return &serverIDOutput{ServerId: id}, nil
}

func (h *Handler) describeServer(ctx context.Context, in *serverIDInput) (*describeServerOutput, error) {
	id, err := serverIDOf(in.ServerId)
	if err != nil {
		return nil, err
	}
	d, err := h.svc.DescribeServer(ctx, id)
	if err != nil {
		return nil, err
	}
	s := &d.Server
	return &describeServerOutput{Server: describedServer{
		Arn:                           d.ARN,
		Domain:                        s.Domain,
		Endpoint:                      s.Endpoint,
		EndpointType:                  endpointTypePublic,
		HostKeyFingerprint:            d.HostKeyFingerprint,
		IdentityProviderDetails:       identityDetailsOut(s.IdentityProviderDetails),
		IdentityProviderType:          s.IdentityProviderType,
		IpAddressType:                 ipAddressTypeIPv4,
		LoggingRole:                   s.LoggingRole,
		PostAuthenticationLoginBanner: s.PostAuthenticationLoginBanner,
		PreAuthenticationLoginBanner:  s.PreAuthenticationLoginBanner,
		ProtocolDetails:               &protocolDetailsOut{SetStatOption: s.SetStatOption},
		Protocols:                     serverProtocols(s.Protocols),
		SecurityPolicyName:            s.SecurityPolicyName,
		ServerId:                      s.ServerID,
		State:                         s.State,
		// The listen address also shows as a tag (control adds it): the AWS CLI and SDKs parse
		// answers by their model and drop the Endpoint member, but they print Tags.
		Tags:            tagsOut(d.Tags),
		UserCount:       d.UserCount,
		WorkflowDetails: workflowDetailsOut(s.WorkflowDetails),
	}}, nil
}

func (h *Handler) updateServer(ctx context.Context, in *updateServerInput) (*serverIDOutput, error) {
	id, err := serverIDOf(in.ServerId)
	if err != nil {
		return nil, err
	}
	if err := in.checkSupported(); err != nil {
		return nil, err
	}
	wd, err := workflowDetails(in.WorkflowDetails)
	if err != nil {
		return nil, err
	}
	if err := h.svc.UpdateServer(ctx, id, control.UpdateServerInput{
		SecurityPolicyName:            in.SecurityPolicyName,
		PreAuthenticationLoginBanner:  in.PreAuthenticationLoginBanner,
		PostAuthenticationLoginBanner: in.PostAuthenticationLoginBanner,
		IdentityProviderType:          in.IdentityProviderType,
		IdentityProviderDetails:       identityUpdate(in.IdentityProviderDetails),
		Protocols:                     in.Protocols,
		SetStatOption:                 setStatOption(in.ProtocolDetails),
		LoggingRole:                   in.LoggingRole,
		HostKey:                       in.HostKey,
		WorkflowDetails:               wd,
	}); err != nil {
		return nil, err
	}
	return &serverIDOutput{ServerId: id}, nil
}

func (h *Handler) deleteServer(ctx context.Context, in *serverIDInput) (*emptyOutput, error) {
	id, err := serverIDOf(in.ServerId)
	if err != nil {
		return nil, err
	}
	return &emptyOutput{}, h.svc.DeleteServer(ctx, id)
}

func (h *Handler) listServers(ctx context.Context, in *listInput) (*listServersOutput, error) {
	page, err := in.page()
	if err != nil {
		return nil, err
	}
	servers, next, err := h.svc.ListServers(ctx, page)
	if err != nil {
		return nil, err
	}
	out := &listServersOutput{NextToken: next, Servers: make([]listedServer, 0, len(servers))}
	for _, s := range servers {
		out.Servers = append(out.Servers, listedServer{
			Arn:                  s.ARN,
			Domain:               s.Server.Domain,
			Endpoint:             s.Server.Endpoint,
			EndpointType:         endpointTypePublic,
			IdentityProviderType: s.Server.IdentityProviderType,
			LoggingRole:          s.Server.LoggingRole,
			ServerId:             s.Server.ServerID,
			State:                s.Server.State,
			UserCount:            s.UserCount,
		})
	}
	return out, nil
}

func (h *Handler) startServer(ctx context.Context, in *serverIDInput) (*emptyOutput, error) {
	id, err := serverIDOf(in.ServerId)
	if err != nil {
		return nil, err
	}
	return &emptyOutput{}, h.svc.StartServer(ctx, id)
}

func (h *Handler) stopServer(ctx context.Context, in *serverIDInput) (*emptyOutput, error) {
	id, err := serverIDOf(in.ServerId)
	if err != nil {
		return nil, err
	}
	return &emptyOutput{}, h.svc.StopServer(ctx, id)
}

// Users.

// userIDs checks a request's ServerId and UserName.
func userIDs(serverID, userName *string) (string, string, error) {
	id, err := serverIDOf(serverID)
	if err != nil {
		return "", "", err
	}
	name, err := userNameOf(userName)
	if err != nil {
		return "", "", err
	}
	return id, name, nil
}

func (h *Handler) createUser(ctx context.Context, in *createUserInput) (*userOutput, error) {
	id, name, err := userIDs(in.ServerId, in.UserName)
	if err != nil {
		return nil, err
	}
	role, err := required("Role", in.Role)
	if err != nil {
		return nil, err
	}
	mappings, err := mappingsIn(in.HomeDirectoryMappings)
	if err != nil {
		return nil, err
	}
	posix, err := toPosixProfile(in.PosixProfile)
	if err != nil {
		return nil, err
	}
	tags, err := tagsIn("Tags", in.Tags)
	if err != nil {
		return nil, err
	}
	u := transfer.User{
		ServerID:              id,
		UserName:              name,
		Role:                  role,
		HomeDirectoryType:     deref(in.HomeDirectoryType),
		HomeDirectory:         deref(in.HomeDirectory),
		HomeDirectoryMappings: mappings,
		Policy:                deref(in.Policy),
		PosixProfile:          posix,
		Tags:                  tags,
		Source:                transfer.SourceAPI,
	}
	if body := deref(in.SshPublicKeyBody); body != "" {
		u.SSHPublicKeys = []transfer.SSHPublicKey{{Body: body}}
	}
	if err := h.svc.CreateUser(ctx, u); err != nil {
		return nil, err
	}
	return &userOutput{ServerId: id, UserName: name}, nil
}

func (h *Handler) describeUser(ctx context.Context, in *userInput) (*describeUserOutput, error) {
	id, name, err := userIDs(in.ServerId, in.UserName)
	if err != nil {
		return nil, err
	}
	d, err := h.svc.DescribeUser(ctx, id, name)
	if err != nil {
		return nil, err
	}
	u := &d.User
	keys := make([]sshPublicKeyOut, 0, len(u.SSHPublicKeys))
	for _, k := range u.SSHPublicKeys {
		keys = append(keys, sshPublicKeyOut{
			DateImported:     epochSeconds(k.DateImported),
			SshPublicKeyBody: k.Body,
			SshPublicKeyId:   k.SSHPublicKeyID,
		})
	}
	return &describeUserOutput{ServerId: id, User: describedUser{
		Arn:                   d.ARN,
		HomeDirectory:         u.HomeDirectory,
		HomeDirectoryMappings: mappingsOut(u.HomeDirectoryMappings),
		HomeDirectoryType:     u.HomeDirectoryType,
		Policy:                u.Policy,
		PosixProfile:          fromPosixProfile(u.PosixProfile),
		Role:                  u.Role,
		SshPublicKeys:         keys,
		Tags:                  tagsOut(d.Tags),
		UserName:              u.UserName,
	}}, nil
}

func (h *Handler) updateUser(ctx context.Context, in *updateUserInput) (*userOutput, error) {
	id, name, err := userIDs(in.ServerId, in.UserName)
	if err != nil {
		return nil, err
	}
	mappings, err := mappingsIn(in.HomeDirectoryMappings)
	if err != nil {
		return nil, err
	}
	posix, err := toPosixProfile(in.PosixProfile)
	if err != nil {
		return nil, err
	}
	if err := h.svc.UpdateUser(ctx, id, name, control.UpdateUserInput{
		Role:                  in.Role,
		HomeDirectoryType:     in.HomeDirectoryType,
		HomeDirectory:         in.HomeDirectory,
		HomeDirectoryMappings: mappings,
		Policy:                in.Policy,
		PosixProfile:          posix,
	}); err != nil {
		return nil, err
	}
	return &userOutput{ServerId: id, UserName: name}, nil
}

func (h *Handler) deleteUser(ctx context.Context, in *userInput) (*emptyOutput, error) {
	id, name, err := userIDs(in.ServerId, in.UserName)
	if err != nil {
		return nil, err
	}
	return &emptyOutput{}, h.svc.DeleteUser(ctx, id, name)
}

func (h *Handler) listUsers(ctx context.Context, in *listUsersInput) (*listUsersOutput, error) {
	id, err := serverIDOf(in.ServerId)
	if err != nil {
		return nil, err
	}
	page, err := in.page()
	if err != nil {
		return nil, err
	}
	users, next, err := h.svc.ListUsers(ctx, id, page)
	if err != nil {
		return nil, err
	}
	out := &listUsersOutput{NextToken: next, ServerId: id, Users: make([]listedUser, 0, len(users))}
	for _, u := range users {
		out.Users = append(out.Users, listedUser{
			Arn:               u.ARN,
			HomeDirectory:     u.User.HomeDirectory,
			HomeDirectoryType: u.User.HomeDirectoryType,
			Role:              u.User.Role,
			SshPublicKeyCount: len(u.User.SSHPublicKeys),
			UserName:          u.User.UserName,
		})
	}
	return out, nil
}

func (h *Handler) importSSHPublicKey(ctx context.Context, in *importSSHPublicKeyInput) (*importSSHPublicKeyOutput, error) {
	id, name, err := userIDs(in.ServerId, in.UserName)
	if err != nil {
		return nil, err
	}
	body, err := required("SshPublicKeyBody", in.SshPublicKeyBody)
	if err != nil {
		return nil, err
	}
	keyID, err := h.svc.ImportSSHPublicKey(ctx, id, name, body)
	if err != nil {
		return nil, err
	}
	return &importSSHPublicKeyOutput{ServerId: id, SshPublicKeyId: keyID, UserName: name}, nil
}

func (h *Handler) deleteSSHPublicKey(ctx context.Context, in *deleteSSHPublicKeyInput) (*emptyOutput, error) {
	id, name, err := userIDs(in.ServerId, in.UserName)
	if err != nil {
		return nil, err
	}
	keyID, err := sshPublicKeyIDOf(in.SshPublicKeyId)
	if err != nil {
		return nil, err
	}
	return &emptyOutput{}, h.svc.DeleteSSHPublicKey(ctx, id, name, keyID)
}

// Host keys.

// hostKeyIDs checks a request's ServerId and HostKeyId.
func hostKeyIDs(serverID, hostKeyID *string) (string, string, error) {
	id, err := serverIDOf(serverID)
	if err != nil {
		return "", "", err
	}
	hk, err := hostKeyIDOf(hostKeyID)
	if err != nil {
		return "", "", err
	}
	return id, hk, nil
}

func (h *Handler) importHostKey(ctx context.Context, in *importHostKeyInput) (*hostKeyIDOutput, error) {
	id, err := serverIDOf(in.ServerId)
	if err != nil {
		return nil, err
	}
	body, err := required("HostKeyBody", in.HostKeyBody)
	if err != nil {
		return nil, err
	}
	tags, err := tagsIn("Tags", in.Tags)
	if err != nil {
		return nil, err
	}
	hk, err := h.svc.ImportHostKey(ctx, id, body, deref(in.Description), tags)
	if err != nil {
		return nil, err
	}
	return &hostKeyIDOutput{HostKeyId: hk, ServerId: id}, nil
}

func (h *Handler) describeHostKey(ctx context.Context, in *hostKeyInput) (*describeHostKeyOutput, error) {
	id, hk, err := hostKeyIDs(in.ServerId, in.HostKeyId)
	if err != nil {
		return nil, err
	}
	d, err := h.svc.DescribeHostKey(ctx, id, hk)
	if err != nil {
		return nil, err
	}
	return &describeHostKeyOutput{HostKey: describedHostKey{
		Arn:                d.ARN,
		DateImported:       epochSeconds(d.HostKey.DateImported),
		Description:        d.HostKey.Description,
		HostKeyFingerprint: d.HostKey.Fingerprint,
		HostKeyId:          d.HostKey.HostKeyID,
		Tags:               tagsOut(d.Tags),
		Type:               d.HostKey.Type,
	}}, nil
}

func (h *Handler) updateHostKey(ctx context.Context, in *updateHostKeyInput) (*hostKeyIDOutput, error) {
	id, hk, err := hostKeyIDs(in.ServerId, in.HostKeyId)
	if err != nil {
		return nil, err
	}
	desc, err := required("Description", in.Description)
	if err != nil {
		return nil, err
	}
	if err := h.svc.UpdateHostKey(ctx, id, hk, desc); err != nil {
		return nil, err
	}
	return &hostKeyIDOutput{HostKeyId: hk, ServerId: id}, nil
}

func (h *Handler) deleteHostKey(ctx context.Context, in *hostKeyInput) (*emptyOutput, error) {
	id, hk, err := hostKeyIDs(in.ServerId, in.HostKeyId)
	if err != nil {
		return nil, err
	}
	return &emptyOutput{}, h.svc.DeleteHostKey(ctx, id, hk)
}

func (h *Handler) listHostKeys(ctx context.Context, in *listHostKeysInput) (*listHostKeysOutput, error) {
	id, err := serverIDOf(in.ServerId)
	if err != nil {
		return nil, err
	}
	page, err := in.page()
	if err != nil {
		return nil, err
	}
	keys, next, err := h.svc.ListHostKeys(ctx, id, page)
	if err != nil {
		return nil, err
	}
	out := &listHostKeysOutput{HostKeys: make([]listedHostKey, 0, len(keys)), NextToken: next, ServerId: id}
	for _, k := range keys {
		out.HostKeys = append(out.HostKeys, listedHostKey{
			Arn:          k.ARN,
			DateImported: epochSeconds(k.HostKey.DateImported),
			Description:  k.HostKey.Description,
			Fingerprint:  k.HostKey.Fingerprint,
			HostKeyId:    k.HostKey.HostKeyID,
			Type:         k.HostKey.Type,
		})
	}
	return out, nil
}

// Security policies.

func (h *Handler) listSecurityPolicies(ctx context.Context, in *listInput) (*listSecurityPoliciesOutput, error) {
	page, err := in.page()
	if err != nil {
		return nil, err
	}
	names, next, err := h.svc.ListSecurityPolicies(ctx, page)
	if err != nil {
		return nil, err
	}
	if names == nil {
		names = []string{}
	}
	return &listSecurityPoliciesOutput{NextToken: next, SecurityPolicyNames: names}, nil
}

func (h *Handler) describeSecurityPolicy(ctx context.Context, in *describeSecurityPolicyInput) (*describeSecurityPolicyOutput, error) {
	name, err := required("SecurityPolicyName", in.SecurityPolicyName)
	if err != nil {
		return nil, err
	}
	if len(name) > maxPolicyName {
		return nil, invalid("SecurityPolicyName", "is %d characters long; at most %d are allowed", len(name), maxPolicyName)
	}
	p, err := h.svc.DescribeSecurityPolicy(ctx, name)
	if err != nil {
		return nil, err
	}
	// policy.Policy marshals with DescribedSecurityPolicy's member names.
	return &describeSecurityPolicyOutput{SecurityPolicy: p}, nil
}

// Tags.

func (h *Handler) tagResource(ctx context.Context, in *tagResourceInput) (*emptyOutput, error) {
	arn, err := arnOf(in.Arn)
	if err != nil {
		return nil, err
	}
	if in.Tags == nil {
		return nil, invalid("Tags", "required member missing")
	}
	tags, err := tagsIn("Tags", in.Tags)
	if err != nil {
		return nil, err
	}
	return &emptyOutput{}, h.svc.TagResource(ctx, arn, tags)
}

func (h *Handler) untagResource(ctx context.Context, in *untagResourceInput) (*emptyOutput, error) {
	arn, err := arnOf(in.Arn)
	if err != nil {
		return nil, err
	}
	if in.TagKeys == nil {
		return nil, invalid("TagKeys", "required member missing")
	}
	return &emptyOutput{}, h.svc.UntagResource(ctx, arn, in.TagKeys)
}

func (h *Handler) listTagsForResource(ctx context.Context, in *listTagsForResourceInput) (*listTagsForResourceOutput, error) {
	arn, err := arnOf(in.Arn)
	if err != nil {
		return nil, err
	}
	page, err := in.page()
	if err != nil {
		return nil, err
	}
	tags, next, err := h.svc.ListTagsForResource(ctx, arn, page)
	if err != nil {
		return nil, err
	}
	return &listTagsForResourceOutput{Arn: arn, NextToken: next, Tags: tagsOut(tags)}, nil
}

// Identity providers.

func (h *Handler) testIdentityProvider(ctx context.Context, in *testIdentityProviderInput) (*testIdentityProviderOutput, error) {
	id, err := serverIDOf(in.ServerId)
	if err != nil {
		return nil, err
	}
	name, err := userNameOf(in.UserName)
	if err != nil {
		return nil, err
	}
	res, err := h.svc.TestIdentityProvider(ctx, control.TestIdentityProviderInput{ServerID: id, UserName: name,
		ServerProtocol: deref(in.ServerProtocol), SourceIP: deref(in.SourceIp), UserPassword: deref(in.UserPassword)})
	if err != nil {
		return nil, err
	}
	return &testIdentityProviderOutput{Message: res.Message, Response: res.Response, StatusCode: res.StatusCode, Url: res.URL}, nil
}
