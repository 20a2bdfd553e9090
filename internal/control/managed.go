package control

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/transferd/transferd/internal/transfer"
)

// The config file and the management API must not fight: what the file lists it manages (it puts
// it back on every SIGHUP and restart), so the API may read it but not change it. This is the rule:
//
//   - A server the file lists, and the users it lists on it, are managed by the file. UpdateServer,
//     StopServer, DeleteServer, UpdateUser, DeleteUser, ImportSshPublicKey, DeleteSshPublicKey,
//     TagResource and UntagResource on them are refused with an InvalidRequestException that names
//     the file. StartServer is allowed (the file wants its servers online; it retries one that
//     failed to start), and so are host key operations: the file does not manage host keys, so
//     they are rotated through the API (ImportHostKey, DeleteHostKey) as on Transfer Family.
//   - Users created through the API on a server the file manages are the API's, and so are the
//     servers the file no longer lists: it stopped them once and released them
//     (transfer.SourceReleased) until it lists them again. Users the file no longer lists are
//     deleted.
//   - The file cannot take over what the API created: a file that names such a server by its
//     ServerId, or such a user by its name, is refused.
//   - DescribeServer, DescribeUser and ListTagsForResource show the tag transferd:ManagedBy=config
//     on what the file manages; like transferd:Endpoint it is derived, not stored, and cannot be
//     set or removed.
type configManaged struct {
	file      string
	servers   map[string]map[string]bool // server ID → names of the users the file lists on it
	workflows map[string]bool            // IDs of the workflows the file lists
}

// managedWorkflow refuses a change to a workflow the config file manages (DeleteWorkflow,
// TagResource, UntagResource); servers may still run it.
func (s *Service) managedWorkflow(workflowID, op string) error {
	return s.refuseManaged(func(m *configManaged) error {
		if !m.workflows[workflowID] {
			return nil
		}
		return transfer.Invalid("WorkflowId", "workflow %s is managed by the config file %s, which would undo %s at the next SIGHUP or restart: change the file and send transferd SIGHUP",
			workflowID, m.file, op)
	})
}

// managedServer refuses a change to a server the config file manages.
func (s *Service) managedServer(serverID, op string) error {
	return s.refuseManaged(func(m *configManaged) error {
		if _, ok := m.servers[serverID]; !ok {
			return nil
		}
		return transfer.Invalid("ServerId", "server %s is managed by the config file %s (tag %s=%s), which would undo %s at the next SIGHUP or restart: change the file and send transferd SIGHUP",
			serverID, m.file, transfer.ManagedByTag, transfer.ManagedByConfig, op)
	})
}

// managedUser refuses a change to a user the config file manages.
func (s *Service) managedUser(serverID, userName, op string) error {
	return s.refuseManaged(func(m *configManaged) error {
		if !m.servers[serverID][userName] {
			return nil
		}
		return transfer.Invalid("UserName", "user %s of server %s is managed by the config file %s (tag %s=%s), which would undo %s at the next SIGHUP or restart: change the file and send transferd SIGHUP",
			userName, serverID, m.file, transfer.ManagedByTag, transfer.ManagedByConfig, op)
	})
}

// refuseManaged asks refuse about what the config file manages. It waits for an apply in
// progress (ApplyConfig holds mu), so it decides by the file as applied. (ApplyConfig's own work
// runs on a Service that manages nothing.)
func (s *Service) refuseManaged(refuse func(m *configManaged) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.managedMu.RLock()
	defer s.managedMu.RUnlock()
	return refuse(&s.managed)
}

// managedResource refuses a change to a tagged resource the config file manages.
func (s *Service) managedResource(r resource, op string) error {
	switch r.kind {
	case typeServer:
		return s.managedServer(r.serverID, op)
	case typeUser:
		return s.managedUser(r.serverID, r.name, op)
	case typeWorkflow:
		return s.managedWorkflow(r.name, op)
	}
	return nil
}

// isManaged reports whether the config file manages a server (userName "") or a user.
func (s *Service) isManaged(serverID, userName string) bool {
	s.managedMu.RLock()
	defer s.managedMu.RUnlock()
	users, ok := s.managed.servers[serverID]
	return ok && (userName == "" || users[userName])
}

// setManaged records what the file applied last manages.
func (s *Service) setManaged(m configManaged) {
	s.managedMu.Lock()
	s.managed = m
	s.managedMu.Unlock()
}

// shownTags are a resource's stored tags together with those transferd derives, sorted by key:
// a server's transferd:Endpoint and transferd:StateReason (when it has one), and
// transferd:ManagedBy on what the config file manages.
func (s *Service) shownTags(r resource, srv *transfer.Server, stored []transfer.Tag) []transfer.Tag {
	var derived []transfer.Tag
	if r.kind == typeServer && srv != nil {
		derived = append(derived, transfer.Tag{Key: transfer.EndpointTag, Value: srv.Endpoint})
		if srv.StateReason != "" {
			derived = append(derived, transfer.Tag{Key: transfer.StateReasonTag, Value: transfer.TagValue(srv.StateReason)})
		}
	}
	if (r.kind == typeServer || r.kind == typeUser) && s.isManaged(r.serverID, r.name) {
		derived = append(derived, transfer.Tag{Key: transfer.ManagedByTag, Value: transfer.ManagedByConfig})
	}
	out := slices.DeleteFunc(slices.Clone(stored), func(t transfer.Tag) bool { return transfer.DerivedTag(t.Key) })
	out = append(out, derived...)
	slices.SortFunc(out, func(a, b transfer.Tag) int { return cmp.Compare(a.Key, b.Key) })
	return out
}

// refuseAPIOwned refuses to let the config file take over a server or user created through the
// API.
func refuseAPIOwned(what, source string) error {
	if source != transfer.SourceAPI {
		return nil
	}
	return fmt.Errorf("%s was created through the management API; the config file manages only what it creates: remove it from the file, or delete it through the API and let the file create it", what)
}
