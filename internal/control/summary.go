package control

import (
	"cmp"
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/transferd/transferd/internal/transfer"
)

// ApplySummary counts what applying the config file changed, and lists it.
type ApplySummary struct {
	ServersAdded, ServersChanged, ServersStarted, ServersStopped int
	UsersAdded, UsersChanged, UsersRemoved                       int
	KeysAdded, KeysRemoved                                       int
	// Changes are the changes, as the API operations that would have made them, in the order
	// of server ID, user name and operation.
	Changes []Change
}

// Change is one change the config file made: Operation is the API operation's name
// (CreateServer, UpdateServer, StartServer, StopServer, CreateUser, UpdateUser, DeleteUser,
// ImportSshPublicKey, DeleteSshPublicKey) and the rest names what it changed.
type Change struct {
	Operation, ServerID, UserName, SSHPublicKeyID string
}

// String is the summary in one line: "servers: 1 added; users: 2 added, 1 removed; keys: 3 added",
// or "no changes".
func (a ApplySummary) String() string {
	var parts []string
	part := func(what string, counts ...any) {
		var items []string
		for i := 0; i < len(counts); i += 2 {
			if n := counts[i+1].(int); n > 0 {
				items = append(items, fmt.Sprintf("%d %s", n, counts[i]))
			}
		}
		if len(items) > 0 {
			parts = append(parts, what+": "+strings.Join(items, ", "))
		}
	}
	part("servers", "added", a.ServersAdded, "changed", a.ServersChanged, "started", a.ServersStarted, "stopped", a.ServersStopped)
	part("users", "added", a.UsersAdded, "changed", a.UsersChanged, "removed", a.UsersRemoved)
	part("keys", "added", a.KeysAdded, "removed", a.KeysRemoved)
	if len(parts) == 0 {
		return "no changes"
	}
	return strings.Join(parts, "; ")
}

// stateSnapshot is the servers and users the config file can change, as they were at one moment.
type stateSnapshot struct {
	servers map[string]transfer.Server
	users   map[[2]string]transfer.User // by server ID and user name
}

// snapshot reads the servers the config file can change (those it created or released; it may
// not name the API's) with their users.
func (s *Service) snapshot(ctx context.Context) (stateSnapshot, error) {
	snap := stateSnapshot{servers: map[string]transfer.Server{}, users: map[[2]string]transfer.User{}}
	servers, err := s.AllServers(ctx)
	if err != nil {
		return snap, err
	}
	for _, srv := range servers {
		if srv.Source == transfer.SourceAPI {
			continue
		}
		snap.servers[srv.ServerID] = srv
		users, err := s.store.ListUsers(ctx, srv.ServerID, "", 0) // all of them, with their keys
		if err != nil {
			return snap, err
		}
		for _, u := range users {
			snap.users[[2]string{u.ServerID, u.UserName}] = u
		}
	}
	return snap, nil
}

// summarize counts and lists the differences from before to after.
func summarize(before, after stateSnapshot) ApplySummary {
	var a ApplySummary
	change := func(op, server, user, key string) {
		a.Changes = append(a.Changes, Change{Operation: op, ServerID: server, UserName: user, SSHPublicKeyID: key})
	}
	for id, now := range after.servers {
		was, ok := before.servers[id]
		if !ok {
			a.ServersAdded++
			change("CreateServer", id, "", "")
			continue
		}
		switch {
		case was.State != transfer.StateOffline && now.State == transfer.StateOffline:
			a.ServersStopped++
			change("StopServer", id, "", "")
		case (was.State == transfer.StateOffline || was.State == transfer.StateStartFailed) && now.State == transfer.StateStarting:
			a.ServersStarted++
			change("StartServer", id, "", "")
		}
		was.State, now.State, was.StateReason, now.StateReason, was.Source, now.Source = "", "", "", "", "", ""
		if !reflect.DeepEqual(was, now) {
			a.ServersChanged++
			change("UpdateServer", id, "", "")
		}
	}
	for k, now := range after.users {
		was, ok := before.users[k]
		if !ok {
			a.UsersAdded++
			a.KeysAdded += len(now.SSHPublicKeys)
			change("CreateUser", k[0], k[1], "")
			continue
		}
		had := map[string]transfer.SSHPublicKey{}
		for _, key := range was.SSHPublicKeys {
			had[key.Fingerprint] = key
		}
		for _, key := range now.SSHPublicKeys {
			if _, ok := had[key.Fingerprint]; ok {
				delete(had, key.Fingerprint)
			} else {
				a.KeysAdded++
				change("ImportSshPublicKey", k[0], k[1], key.SSHPublicKeyID)
			}
		}
		a.KeysRemoved += len(had)
		for _, key := range had {
			change("DeleteSshPublicKey", k[0], k[1], key.SSHPublicKeyID)
		}
		was.SSHPublicKeys, now.SSHPublicKeys = nil, nil
		if !reflect.DeepEqual(was, now) {
			a.UsersChanged++
			change("UpdateUser", k[0], k[1], "")
		}
	}
	for k, was := range before.users {
		if _, ok := after.users[k]; !ok {
			a.UsersRemoved++
			a.KeysRemoved += len(was.SSHPublicKeys)
			change("DeleteUser", k[0], k[1], "")
		}
	}
	slices.SortFunc(a.Changes, func(x, y Change) int {
		return cmp.Or(cmp.Compare(x.ServerID, y.ServerID), cmp.Compare(x.UserName, y.UserName),
			cmp.Compare(x.Operation, y.Operation), cmp.Compare(x.SSHPublicKeyID, y.SSHPublicKeyID))
	})
	return a
}
