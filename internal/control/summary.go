package control

import (
	"context"
	"fmt"
	"reflect"
	"strings"

	"github.com/transferd/transferd/internal/transfer"
)

// ApplySummary counts what applying the config file changed.
type ApplySummary struct {
	ServersAdded, ServersChanged, ServersStarted, ServersStopped int
	UsersAdded, UsersChanged, UsersRemoved                       int
	KeysAdded, KeysRemoved                                       int
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

// summarize counts the differences from before to after.
func summarize(before, after stateSnapshot) ApplySummary {
	var a ApplySummary
	for id, now := range after.servers {
		was, ok := before.servers[id]
		if !ok {
			a.ServersAdded++
			continue
		}
		switch {
		case was.State != transfer.StateOffline && now.State == transfer.StateOffline:
			a.ServersStopped++
		case (was.State == transfer.StateOffline || was.State == transfer.StateStartFailed) && now.State == transfer.StateStarting:
			a.ServersStarted++
		}
		was.State, now.State, was.StateReason, now.StateReason, was.Source, now.Source = "", "", "", "", "", ""
		if !reflect.DeepEqual(was, now) {
			a.ServersChanged++
		}
	}
	for k, now := range after.users {
		was, ok := before.users[k]
		if !ok {
			a.UsersAdded++
			a.KeysAdded += len(now.SSHPublicKeys)
			continue
		}
		had := map[string]bool{}
		for _, key := range was.SSHPublicKeys {
			had[key.Fingerprint] = true
		}
		for _, key := range now.SSHPublicKeys {
			if had[key.Fingerprint] {
				delete(had, key.Fingerprint)
			} else {
				a.KeysAdded++
			}
		}
		a.KeysRemoved += len(had)
		was.SSHPublicKeys, now.SSHPublicKeys = nil, nil
		if !reflect.DeepEqual(was, now) {
			a.UsersChanged++
		}
	}
	for k, was := range before.users {
		if _, ok := after.users[k]; !ok {
			a.UsersRemoved++
			a.KeysRemoved += len(was.SSHPublicKeys)
		}
	}
	return a
}
