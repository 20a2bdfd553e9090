package control

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/transferd/transferd/internal/iampolicy"
	"github.com/transferd/transferd/internal/transfer"
)

// CreateUser creates a user of a SERVICE_MANAGED server with its tags and SSH public keys. Of each
// key only Body is read (the API passes at most one, as SshPublicKeyBody; the config file passes
// its list); IDs, fingerprints and import dates are assigned here. An empty HomeDirectoryType is
// PATH, an empty mapping Type DIRECTORY and an empty Source API.
func (s *Service) CreateUser(ctx context.Context, u transfer.User) error {
	u = cloneUser(u)
	if err := checkServerID(u.ServerID); err != nil {
		return err
	}
	u.HomeDirectoryType = cmp.Or(u.HomeDirectoryType, transfer.HomePath)
	u.Source = cmp.Or(u.Source, transfer.SourceAPI)
	defaultMappingTypes(u.HomeDirectoryMappings)
	if err := checkUser(&u); err != nil {
		return err
	}
	if err := transfer.ValidateTags("Tags", u.Tags, 0); err != nil {
		return err
	}
	switch u.Source {
	case transfer.SourceAPI, transfer.SourceConfig:
	default:
		return transfer.Invalid("Source", "%q must be %s or %s", u.Source, transfer.SourceAPI, transfer.SourceConfig)
	}
	if len(u.SSHPublicKeys) > transfer.MaxKeysPerUser {
		return transfer.Invalid("SshPublicKeys", "has %d keys; at most %d are allowed", len(u.SSHPublicKeys), transfer.MaxKeysPerUser)
	}
	now := s.stamp()
	seen := map[string]int{}
	for i, k := range u.SSHPublicKeys {
		field := "SshPublicKeyBody"
		if len(u.SSHPublicKeys) > 1 {
			field = fmt.Sprintf("SshPublicKeys[%d]", i)
		}
		parsed, _, err := transfer.ParseSSHPublicKey(field, k.Body)
		if err != nil {
			return err
		}
		if j, ok := seen[parsed.Fingerprint]; ok {
			return transfer.Invalid(field, "is the same key as SshPublicKeys[%d] (%s)", j, parsed.Fingerprint)
		}
		seen[parsed.Fingerprint] = i
		parsed.SSHPublicKeyID = transfer.NewSSHPublicKeyID()
		parsed.DateImported = now
		u.SSHPublicKeys[i] = parsed
	}
	srv, err := s.store.GetServer(ctx, u.ServerID)
	if err != nil {
		return err
	}
	if srv.IdentityProviderType != transfer.IdentityServiceManaged {
		return transfer.Invalid("ServerId", "server %s uses identity provider %s; users can be created only on SERVICE_MANAGED servers",
			u.ServerID, srv.IdentityProviderType)
	}
	if err := transfer.ValidateUserOnServer(&u, srv); err != nil {
		return err
	}
	if err := s.store.CreateUser(ctx, &u); err != nil {
		return err
	}
	s.warnUnconfined(&u, srv)
	return nil
}

// warnUnconfined logs a user of an EFS-domain server without a POSIX profile: it acts with the
// identity of the transferd process, limited only by its home directory. The config file's users
// are not logged here: the file's warnings name them, with their field, at every load.
func (s *Service) warnUnconfined(u *transfer.User, srv *transfer.Server) {
	if srv.Domain == transfer.DomainEFS && u.PosixProfile == nil && u.Source != transfer.SourceConfig {
		s.log.Warn("user of an EFS-domain server has no PosixProfile: its files are created and checked as transferd's own user, limited only by its home directory",
			"server-id", u.ServerID, "user", u.UserName)
	}
}

// DescribeUser returns a user with its SSH public keys, ARN and tags.
func (s *Service) DescribeUser(ctx context.Context, serverID, userName string) (*UserDescription, error) {
	if err := checkUserIDs(serverID, userName); err != nil {
		return nil, err
	}
	u, err := s.store.GetUser(ctx, serverID, userName)
	if err != nil {
		return nil, err
	}
	return &UserDescription{User: *u, ARN: s.account.UserARN(serverID, userName),
		Tags: s.shownTags(resource{kind: typeUser, serverID: serverID, name: userName}, nil, u.Tags)}, nil
}

// UpdateUser changes the settings given in the request and checks the user as a whole, as
// CreateUser does. The home directory follows Transfer Family: a LOGICAL user has no
// HomeDirectory and a PATH user no mappings, so when the request does not set the one that no
// longer applies (after a change of HomeDirectoryType) it is cleared; setting it is an error.
func (s *Service) UpdateUser(ctx context.Context, serverID, userName string, in UpdateUserInput) error {
	if err := checkUserIDs(serverID, userName); err != nil {
		return err
	}
	if err := s.managedUser(serverID, userName, "UpdateUser"); err != nil {
		return err
	}
	u, err := s.store.GetUser(ctx, serverID, userName)
	if err != nil {
		return err
	}
	if in.Role != nil {
		u.Role = *in.Role
	}
	if in.Policy != nil {
		u.Policy = *in.Policy
	}
	if in.PosixProfile != nil {
		p := *in.PosixProfile
		p.SecondaryGIDs = slices.Clone(p.SecondaryGIDs)
		u.PosixProfile = &p
	}
	if in.RemovePosixProfile {
		if in.PosixProfile != nil {
			return transfer.Invalid("PosixProfile", "is given and removed at once")
		}
		u.PosixProfile = nil
	}
	if in.HomeDirectoryType != nil {
		u.HomeDirectoryType = *in.HomeDirectoryType
	}
	if in.HomeDirectory != nil {
		u.HomeDirectory = *in.HomeDirectory
	}
	if in.HomeDirectoryMappings != nil {
		u.HomeDirectoryMappings = slices.Clone(in.HomeDirectoryMappings)
		defaultMappingTypes(u.HomeDirectoryMappings)
	}
	switch {
	case u.HomeDirectoryType == transfer.HomeLogical && in.HomeDirectory == nil:
		u.HomeDirectory = ""
	case u.HomeDirectoryType == transfer.HomePath && in.HomeDirectoryMappings == nil:
		u.HomeDirectoryMappings = nil
	}
	if len(u.HomeDirectoryMappings) == 0 {
		u.HomeDirectoryMappings = nil
	}
	if err := checkUser(u); err != nil {
		return err
	}
	srv, err := s.store.GetServer(ctx, serverID)
	if err != nil {
		return err
	}
	if err := transfer.ValidateUserOnServer(u, srv); err != nil {
		return err
	}
	if err := s.store.UpdateUser(ctx, u); err != nil {
		return err
	}
	if in.RemovePosixProfile {
		s.warnUnconfined(u, srv)
	}
	return nil
}

// DeleteUser deletes a user with its SSH public keys and tags.
func (s *Service) DeleteUser(ctx context.Context, serverID, userName string) error {
	if err := checkUserIDs(serverID, userName); err != nil {
		return err
	}
	if err := s.managedUser(serverID, userName, "DeleteUser"); err != nil {
		return err
	}
	return s.store.DeleteUser(ctx, serverID, userName)
}

// ListUsers returns one page of a server's users in name order, and the token of the next page
// ("" on the last).
func (s *Service) ListUsers(ctx context.Context, serverID string, p Page) ([]UserSummary, string, error) {
	if err := checkServerID(serverID); err != nil {
		return nil, "", err
	}
	size, err := pageSize(p)
	if err != nil {
		return nil, "", err
	}
	list := usersList(serverID)
	after, err := pageCursor(p, list)
	if err != nil {
		return nil, "", err
	}
	users, err := s.store.ListUsers(ctx, serverID, after, size+1)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(users) > size {
		users = users[:size]
		next = nextToken(list, users[size-1].UserName)
	}
	out := make([]UserSummary, len(users))
	for i, u := range users {
		out[i] = UserSummary{User: u, ARN: s.account.UserARN(serverID, u.UserName)}
	}
	return out, next, nil
}

// ImportSSHPublicKey adds a public key (an authorized_keys line) to a user and returns its ID. A
// key the user has already is a KindExists error naming that key's ID; a user has at most
// transfer.MaxKeysPerUser keys.
func (s *Service) ImportSSHPublicKey(ctx context.Context, serverID, userName, body string) (string, error) {
	if err := checkUserIDs(serverID, userName); err != nil {
		return "", err
	}
	if err := s.managedUser(serverID, userName, "ImportSshPublicKey"); err != nil {
		return "", err
	}
	k, _, err := transfer.ParseSSHPublicKey("SshPublicKeyBody", body)
	if err != nil {
		return "", err
	}
	err = s.exclusive(ctx, func(ts *Service) error {
		u, err := ts.store.GetUser(ctx, serverID, userName)
		if err != nil {
			return err
		}
		for _, have := range u.SSHPublicKeys {
			if have.Fingerprint == k.Fingerprint {
				return transfer.Exists(typeKey, have.SSHPublicKeyID, fmt.Sprintf("SSH public key already exists (%s)", k.Fingerprint))
			}
		}
		if len(u.SSHPublicKeys) >= transfer.MaxKeysPerUser {
			return transfer.Invalid("SshPublicKeyBody", "user %s has %d SSH public keys already, the most allowed; delete one first",
				userName, len(u.SSHPublicKeys))
		}
		k.SSHPublicKeyID = transfer.NewSSHPublicKeyID()
		k.DateImported = ts.stamp()
		return ts.store.AddSSHPublicKey(ctx, serverID, userName, k)
	})
	if err != nil {
		return "", err
	}
	return k.SSHPublicKeyID, nil
}

// DeleteSSHPublicKey deletes one of a user's public keys.
func (s *Service) DeleteSSHPublicKey(ctx context.Context, serverID, userName, keyID string) error {
	if err := checkUserIDs(serverID, userName); err != nil {
		return err
	}
	if err := s.managedUser(serverID, userName, "DeleteSshPublicKey"); err != nil {
		return err
	}
	if keyID == "" {
		return transfer.Invalid("SshPublicKeyId", "is required")
	}
	if !transfer.ValidSSHPublicKeyID(keyID) {
		return transfer.Invalid("SshPublicKeyId", "%q is not an SSH public key ID: key- and 17 lowercase hex digits", keyID)
	}
	return s.store.DeleteSSHPublicKey(ctx, serverID, userName, keyID)
}

// checkUser checks everything about a user that does not need the store: transfer.ValidateUser
// and iampolicy.CheckUser (a session policy transferd can evaluate, whose variables the user's
// home directory supplies), as the config file and identity providers' answers are checked.
func checkUser(u *transfer.User) error {
	if err := transfer.ValidateUser(u); err != nil {
		return err
	}
	return iampolicy.CheckUser(u)
}

// checkUserIDs checks the form of a server ID and that a user name is given. Names are not
// checked further: a name no user can have is simply not found.
func checkUserIDs(serverID, userName string) error {
	if err := checkServerID(serverID); err != nil {
		return err
	}
	if userName == "" {
		return transfer.Invalid("UserName", "is required")
	}
	return nil
}

// defaultMappingTypes sets the Type of mappings that have none to DIRECTORY.
func defaultMappingTypes(ms []transfer.Mapping) {
	for i := range ms {
		if ms[i].Type == "" {
			ms[i].Type = transfer.MappingDirectory
		}
	}
}

// cloneUser copies the slices and pointers of u, so that the caller's value is not changed.
func cloneUser(u transfer.User) transfer.User {
	u.HomeDirectoryMappings = slices.Clone(u.HomeDirectoryMappings)
	u.SSHPublicKeys = slices.Clone(u.SSHPublicKeys)
	u.Tags = slices.Clone(u.Tags)
	if u.PosixProfile != nil {
		p := *u.PosixProfile
		p.SecondaryGIDs = slices.Clone(p.SecondaryGIDs)
		u.PosixProfile = &p
	}
	return u
}
