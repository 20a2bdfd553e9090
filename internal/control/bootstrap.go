package control

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/transferd/transferd/internal/config"
	"github.com/transferd/transferd/internal/metastore"
	"github.com/transferd/transferd/internal/transfer"
)

// ApplyConfig applies the bootstrap config file to the state, through the same operations and
// checks as the management API, and tells the Notifier about every server it touches:
//
//   - A server of the file is matched to a stored one by ServerId or, when the file gives none, to
//     the one the file created earlier on the same Endpoint. It is created when there is none
//     (ONLINE, with a new RSA-3072 host key) and updated otherwise; its Domain cannot change. The
//     file's tags are set on it (other stored tags stay).
//   - The server's users that the file lists are created or updated, their tags set and their
//     SSH public keys made exactly the file's (matched by fingerprint); users the file created
//     earlier and no longer lists are deleted.
//   - Servers the file created earlier and no longer lists are set OFFLINE, not deleted (their
//     host keys would be lost), and released (transfer.SourceReleased): later applies leave them
//     to the API, until the file lists one again (by ServerId or Endpoint) and takes it back.
//
// Resources created through the management API and not named in the file are left alone; the
// file may not name them. What the file lists is then managed by it: the management API may read
// it but not change it (see managed.go). Errors start with file and the field of the file they
// are about, e.g. "FILE: Servers[0].Users[1]: ".
//
// The file is applied all or nothing, in one transaction of the store: when an error is
// returned, nothing was changed, nothing was logged as done and the Notifier was not told. The
// summary counts what changed.
func (s *Service) ApplyConfig(ctx context.Context, cfg *config.Config, file string) (ApplySummary, error) {
	var (
		logs    deferredLog
		notes   noteList
		summary ApplySummary
	)
	// The work runs on a Service over the transaction, which manages nothing: the file's own
	// changes are never refused as managed by it.
	err := s.applyLocked(ctx, func(tx *metastore.Store) (configManaged, error) {
		ts := s.over(tx, &notes, logs.logger(s.log.Handler()))
		before, err := ts.snapshot(ctx)
		if err != nil {
			return configManaged{}, err
		}
		managed, err := ts.applyConfig(ctx, cfg, file)
		if err != nil {
			return managed, err
		}
		after, err := ts.snapshot(ctx)
		summary = summarize(before, after)
		return managed, err
	})
	if err != nil {
		return ApplySummary{}, err
	}
	logs.flush(ctx)
	for _, id := range notes {
		s.changed(ctx, id)
	}
	return summary, nil
}

// applyLocked runs apply in an exclusive transaction of the store (see exclusive) and, when it
// commits, makes what it returns what the file manages. mu, held throughout, keeps the API's
// checks (free endpoints, what the file manages) from deciding by a state the apply is changing;
// the transaction keeps out other processes' changes and applies of the same file.
func (s *Service) applyLocked(ctx context.Context, apply func(tx *metastore.Store) (configManaged, error)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var managed configManaged
	err := s.store.Exclusive(ctx, func(tx *metastore.Store) error {
		var err error
		managed, err = apply(tx)
		return err
	})
	if err == nil {
		s.setManaged(managed)
	}
	return err
}

// noteList is a Notifier that remembers the servers it is told about.
type noteList []string

func (n *noteList) ServerChanged(_ context.Context, serverID string) { *n = append(*n, serverID) }

// applyConfig is ApplyConfig's work, on a Service whose store is the transaction.
func (s *Service) applyConfig(ctx context.Context, cfg *config.Config, file string) (configManaged, error) {
	managed := configManaged{file: file, servers: map[string]map[string]bool{}, workflows: map[string]bool{}}
	// Workflows before the servers that run them; those the file dropped after the servers have
	// let go of them.
	if err := s.applyWorkflows(ctx, cfg, file, managed.workflows); err != nil {
		return managed, err
	}
	existing, err := s.AllServers(ctx)
	if err != nil {
		return managed, err
	}
	// Servers the file had already first, then new ones: a server may move to another port and a
	// new one take the port it left. (Two servers cannot swap ports in one change.)
	var order, added []int
	for i := range cfg.Servers {
		if matchServer(cfg.Servers[i].TransferServer(), existing) != nil {
			order = append(order, i)
		} else {
			added = append(added, i)
		}
	}
	kept := map[string]bool{}
	for _, i := range append(order, added...) {
		id, err := s.applyServer(ctx, file, i, &cfg.Servers[i], existing)
		if err != nil {
			return managed, err
		}
		kept[id] = true
		users := map[string]bool{}
		for _, u := range cfg.Servers[i].Users {
			users[u.UserName] = true
		}
		managed.servers[id] = users
	}
	for _, srv := range existing {
		if srv.Source != transfer.SourceConfig || kept[srv.ServerID] {
			continue
		}
		// Released: stopped once, then the API's (a later apply leaves it alone), kept with its
		// host keys and users for the file to take back.
		if err := s.store.SetServerSource(ctx, srv.ServerID, transfer.SourceReleased); err != nil {
			return managed, err
		}
		if srv.State != transfer.StateOffline {
			if err := s.SetServerState(ctx, srv.ServerID, transfer.StateOffline); err != nil {
				return managed, err
			}
			s.changed(ctx, srv.ServerID)
		}
		s.log.Warn("server is no longer in the config file; it is stopped and kept with its host keys and users, for the API to manage or the file to list again",
			"server-id", srv.ServerID, "endpoint", srv.Endpoint, "config", file)
	}
	return managed, s.dropWorkflows(ctx, file, managed.workflows)
}

// applyWorkflows creates the file's workflows, or makes the stored ones what the file says
// (their steps and description; the file's tags are set, others stay). The file cannot take
// over a workflow made through the API.
func (s *Service) applyWorkflows(ctx context.Context, cfg *config.Config, file string, kept map[string]bool) error {
	for i := range cfg.Workflows {
		want := cfg.Workflows[i].TransferWorkflow()
		field := fmt.Sprintf("Workflows[%d]", i)
		have, err := s.store.GetWorkflow(ctx, want.WorkflowId)
		switch {
		case transfer.KindOf(err) == transfer.KindNotFound:
			want.CreatedAt = s.stamp()
			if err := s.store.CreateWorkflow(ctx, &want); err != nil {
				return fmt.Errorf("%s: %s: creating workflow %s: %w", file, field, want.WorkflowId, err)
			}
			s.log.Info("created workflow", "workflow-id", want.WorkflowId, "source", transfer.SourceConfig)
		case err != nil:
			return err
		case have.Source == transfer.SourceAPI:
			return fmt.Errorf("%s: %s.WorkflowId: %w", file, field, refuseAPIOwned("workflow "+want.WorkflowId, have.Source))
		default:
			changed, err := s.store.ReplaceWorkflow(ctx, &want)
			if err != nil {
				return fmt.Errorf("%s: %s: workflow %s: %w", file, field, want.WorkflowId, err)
			}
			if changed {
				s.log.Info("changed workflow", "workflow-id", want.WorkflowId, "source", transfer.SourceConfig)
			}
		}
		kept[want.WorkflowId] = true
	}
	return nil
}

// dropWorkflows deletes the workflows the file made and no longer lists, unless a server still
// runs one: then the file is refused, naming both.
func (s *Service) dropWorkflows(ctx context.Context, file string, kept map[string]bool) error {
	all, err := s.store.ListWorkflows(ctx, "", 0)
	if err != nil {
		return err
	}
	for _, w := range all {
		if w.Source != transfer.SourceConfig || kept[w.WorkflowId] {
			continue
		}
		servers, err := s.store.ServersUsingWorkflow(ctx, w.WorkflowId)
		if err != nil {
			return err
		}
		if len(servers) > 0 {
			return fmt.Errorf("%s: Workflows: workflow %s, which the file made, is no longer listed but server %s runs it: keep it in the file, or remove it from the server's WorkflowDetails",
				file, w.WorkflowId, strings.Join(servers, ", "))
		}
		if err := s.store.DeleteWorkflow(ctx, w.WorkflowId); err != nil {
			return err
		}
		s.log.Info("deleted workflow: no longer in the config file", "workflow-id", w.WorkflowId, "config", file)
	}
	return nil
}

// matchServer finds the stored server a server of the file is: the one with its ServerId or, when
// the file gives none, the one the file created (or released) on its Endpoint.
func matchServer(want transfer.Server, existing []transfer.Server) *transfer.Server {
	for j := range existing {
		e := &existing[j]
		if want.ServerID != "" && e.ServerID == want.ServerID ||
			want.ServerID == "" && (e.Source == transfer.SourceConfig || e.Source == transfer.SourceReleased) && e.Endpoint == want.Endpoint {
			return e
		}
	}
	return nil
}

// applyServer creates or updates one server of the file and its users; it returns the server ID.
func (s *Service) applyServer(ctx context.Context, file string, i int, cs *config.Server, existing []transfer.Server) (string, error) {
	want := cs.TransferServer()
	have := matchServer(want, existing)
	field := fmt.Sprintf("Servers[%d]", i)
	if have == nil {
		id, err := s.CreateServer(ctx, CreateServerInput{
			ServerID:                      want.ServerID,
			Endpoint:                      want.Endpoint,
			SecurityPolicyName:            want.SecurityPolicyName,
			PreAuthenticationLoginBanner:  want.PreAuthenticationLoginBanner,
			PostAuthenticationLoginBanner: want.PostAuthenticationLoginBanner,
			Domain:                        want.Domain,
			IdentityProviderType:          want.IdentityProviderType,
			IdentityProviderDetails:       want.IdentityProviderDetails,
			Protocols:                     want.Protocols,
			SetStatOption:                 want.SetStatOption,
			LoggingRole:                   want.LoggingRole,
			WorkflowDetails:               want.WorkflowDetails,
			Tags:                          want.Tags,
			Source:                        transfer.SourceConfig,
		})
		if err != nil {
			return "", fmt.Errorf("%s: %s: creating server%s: %w", file, field, prefixed(" ", want.ServerID), err)
		}
		return id, s.applyUsers(ctx, file, field, cs, id)
	}
	id := have.ServerID
	if err := refuseAPIOwned("server "+id, have.Source); err != nil {
		return "", fmt.Errorf("%s: %s.ServerId: %w", file, field, err)
	}
	if have.Source == transfer.SourceReleased { // listed again: the file takes it back
		if err := s.store.SetServerSource(ctx, id, transfer.SourceConfig); err != nil {
			return "", err
		}
	}
	if have.Domain != want.Domain {
		return "", fmt.Errorf("%s: %s.Domain: server %s was created with Domain %s; the domain cannot change after creation",
			file, field, id, have.Domain)
	}
	custom := want.CustomIdentity()
	if custom {
		// The file lists no users for it: the users it created go before the provider comes.
		if err := s.applyUsers(ctx, file, field, cs, id); err != nil {
			return "", err
		}
	}
	err := s.UpdateServer(ctx, id, UpdateServerInput{
		Endpoint:                      &want.Endpoint,
		SecurityPolicyName:            &want.SecurityPolicyName,
		PreAuthenticationLoginBanner:  &want.PreAuthenticationLoginBanner,
		PostAuthenticationLoginBanner: &want.PostAuthenticationLoginBanner,
		IdentityProviderType:          &want.IdentityProviderType,
		IdentityProviderDetails: &IdentityDetailsUpdate{URL: &want.IdentityProviderDetails.URL,
			InvocationRole: &want.IdentityProviderDetails.InvocationRole, Function: &want.IdentityProviderDetails.Function,
			SftpAuthenticationMethods: &want.IdentityProviderDetails.SftpAuthenticationMethods},
		Protocols:       want.Protocols,
		SetStatOption:   &want.SetStatOption,
		WorkflowDetails: cmp.Or(want.WorkflowDetails, &transfer.WorkflowDetails{}), // none in the file: none
	})
	if err != nil {
		return "", fmt.Errorf("%s: %s: updating server %s: %w", file, field, id, err)
	}
	if have.State == transfer.StateOffline || have.State == transfer.StateStartFailed {
		// The file lists it, so it is meant to run: the daemon starts it after the file is applied.
		if err := s.SetServerState(ctx, id, transfer.StateStarting); err != nil {
			return "", err
		}
	}
	if len(want.Tags) > 0 {
		if err := s.TagResource(ctx, s.account.ServerARN(id), want.Tags); err != nil {
			return "", fmt.Errorf("%s: %s.Tags: tagging server %s: %w", file, field, id, err)
		}
	}
	if err := s.dropUnsetSettings(ctx, id, want.Tags); err != nil {
		return "", fmt.Errorf("%s: %s: server %s: %w", file, field, id, err)
	}
	if err := s.ensureHostKey(ctx, id); err != nil {
		return "", err
	}
	if custom {
		return id, nil // its users were applied above
	}
	return id, s.applyUsers(ctx, file, field, cs, id)
}

// dropUnsetSettings removes from a server the setting tags (transfer.SettingTag: RecordClientOffer,
// the limits) that the file's server does not set, want being its tags: what the file leaves out
// returns to its default, as its other fields do.
func (s *Service) dropUnsetSettings(ctx context.Context, serverID string, want []transfer.Tag) error {
	arn := s.account.ServerARN(serverID)
	tags, err := s.store.ListTags(ctx, arn)
	if err != nil {
		return err
	}
	var drop []string
	for _, t := range tags {
		if transfer.SettingTag(t.Key) && !slices.ContainsFunc(want, func(w transfer.Tag) bool { return w.Key == t.Key }) {
			drop = append(drop, t.Key)
		}
	}
	if len(drop) == 0 {
		return nil
	}
	return s.UntagResource(ctx, arn, drop)
}

// ensureHostKey gives a server that has no host key a new one. (The API cannot delete a server's
// last host key; this repairs a state written otherwise.)
func (s *Service) ensureHostKey(ctx context.Context, serverID string) error {
	return s.exclusive(ctx, func(ts *Service) error {
		keys, err := ts.store.ListHostKeys(ctx, serverID)
		if err != nil || len(keys) > 0 {
			return err
		}
		hk, err := newHostKey(serverID)
		if err != nil {
			return err
		}
		hk.DateImported = ts.stamp()
		if err := ts.store.AddHostKey(ctx, hk); err != nil {
			return fmt.Errorf("storing the host key of server %s: %w", serverID, err)
		}
		ts.log.Warn("server had no host key; generated one", "server-id", serverID, "host-key-fingerprint", hk.Fingerprint)
		return nil
	})
}

// applyUsers makes the server's config-created users exactly those of the file.
func (s *Service) applyUsers(ctx context.Context, file, field string, cs *config.Server, serverID string) error {
	listed := map[string]bool{}
	for j := range cs.Users {
		uf := fmt.Sprintf("%s.Users[%d]", field, j)
		want, err := cs.Users[j].TransferUser(serverID)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", file, uf, err)
		}
		listed[want.UserName] = true
		if err := s.applyUser(ctx, &want); err != nil {
			return fmt.Errorf("%s: %s: %w", file, uf, err)
		}
	}
	users, err := s.store.ListUsers(ctx, serverID, "", 0) // all of them
	if err != nil {
		return err
	}
	for _, u := range users {
		if u.Source != transfer.SourceConfig || listed[u.UserName] {
			continue
		}
		if err := s.DeleteUser(ctx, serverID, u.UserName); err != nil {
			return err
		}
		s.log.Info("deleted user no longer in the config file", "server-id", serverID, "user", u.UserName, "config", file)
	}
	return nil
}

// applyUser creates a user of the file or brings an existing one in line with it.
func (s *Service) applyUser(ctx context.Context, want *transfer.User) error {
	have, err := s.store.GetUser(ctx, want.ServerID, want.UserName)
	if transfer.KindOf(err) == transfer.KindNotFound {
		return s.CreateUser(ctx, *want)
	}
	if err != nil {
		return err
	}
	if err := refuseAPIOwned("user "+want.UserName, have.Source); err != nil {
		return err
	}
	mappings := want.HomeDirectoryMappings
	if mappings == nil {
		mappings = []transfer.Mapping{} // given, and empty: a PATH user has none
	}
	err = s.UpdateUser(ctx, want.ServerID, want.UserName, UpdateUserInput{
		Role:                  &want.Role,
		HomeDirectoryType:     &want.HomeDirectoryType,
		HomeDirectory:         &want.HomeDirectory,
		HomeDirectoryMappings: mappings,
		Policy:                &want.Policy,
		PosixProfile:          want.PosixProfile,
		RemovePosixProfile:    want.PosixProfile == nil && have.PosixProfile != nil,
	})
	if err != nil {
		return err
	}
	if len(want.Tags) > 0 {
		if err := s.TagResource(ctx, s.account.UserARN(want.ServerID, want.UserName), want.Tags); err != nil {
			return err
		}
	}
	wanted := map[string]bool{}
	for _, k := range want.SSHPublicKeys {
		wanted[k.Fingerprint] = true
	}
	present := map[string]bool{}
	for _, k := range have.SSHPublicKeys {
		present[k.Fingerprint] = true
		if !wanted[k.Fingerprint] {
			if err := s.DeleteSSHPublicKey(ctx, want.ServerID, want.UserName, k.SSHPublicKeyID); err != nil {
				return err
			}
		}
	}
	for i, k := range want.SSHPublicKeys {
		if present[k.Fingerprint] {
			continue
		}
		if _, err := s.ImportSSHPublicKey(ctx, want.ServerID, want.UserName, k.Body); err != nil {
			return fmt.Errorf("SshPublicKeys[%d]: %w", i, err)
		}
	}
	return nil
}

// prefixed returns p+v, or "" when v is empty.
func prefixed(p, v string) string {
	if v == "" {
		return ""
	}
	return p + v
}
