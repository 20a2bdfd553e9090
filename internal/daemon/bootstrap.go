package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/transferd/transferd/internal/config"
	"github.com/transferd/transferd/internal/metastore"
	"github.com/transferd/transferd/internal/transfer"
)

// bootstrap applies the config file to the state store: servers and users in the file are created
// or updated; users the file created earlier and no longer lists are deleted; servers it created
// earlier and no longer lists are stopped (not deleted: their host keys would be lost).
// Resources created through the management API are left alone.
type bootstrap struct {
	store *metastore.Store
	file  string
	log   *slog.Logger
	now   func() time.Time
}

func (b *bootstrap) apply(ctx context.Context, cfg *config.Config) error {
	existing, err := b.allServers(ctx)
	if err != nil {
		return err
	}
	kept := map[string]bool{}
	for i := range cfg.Servers {
		cs := &cfg.Servers[i]
		id, err := b.applyServer(ctx, i, cs, existing)
		if err != nil {
			return err
		}
		kept[id] = true
	}
	for _, s := range existing {
		if s.Source != transfer.SourceConfig || kept[s.ServerID] || s.State == transfer.StateOffline {
			continue
		}
		if err := b.store.SetServerState(ctx, s.ServerID, transfer.StateOffline); err != nil {
			return err
		}
		b.log.Warn("server is no longer in the config file; it is stopped and kept with its host keys and users",
			"server-id", s.ServerID, "endpoint", s.Endpoint, "config", b.file)
	}
	return nil
}

func (b *bootstrap) allServers(ctx context.Context) ([]transfer.Server, error) {
	var all []transfer.Server
	after := ""
	for {
		page, err := b.store.ListServers(ctx, after, 1000)
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if len(page) < 1000 {
			return all, nil
		}
		after = page[len(page)-1].ServerID
	}
}

// applyServer creates or updates one server of the file and its users; it returns the server ID.
// A server without a ServerId in the file is matched to the one the file created earlier on the
// same Endpoint.
func (b *bootstrap) applyServer(ctx context.Context, i int, cs *config.Server, existing []transfer.Server) (string, error) {
	want := cs.TransferServer()
	var have *transfer.Server
	for j := range existing {
		s := &existing[j]
		if want.ServerID != "" && s.ServerID == want.ServerID ||
			want.ServerID == "" && s.Source == transfer.SourceConfig && s.Endpoint == want.Endpoint {
			have = s
			break
		}
	}
	field := fmt.Sprintf("Servers[%d]", i)
	if have == nil {
		if want.ServerID == "" {
			want.ServerID = transfer.NewServerID()
		}
		want.CreatedAt = b.now()
		if err := b.store.CreateServer(ctx, &want); err != nil {
			return "", fmt.Errorf("%s: %s: creating server %s: %w", b.file, field, want.ServerID, err)
		}
		hk, err := newHostKey(want.ServerID, b.now())
		if err != nil {
			return "", err
		}
		if err := b.store.AddHostKey(ctx, hk); err != nil {
			return "", fmt.Errorf("storing the host key of server %s: %w", want.ServerID, err)
		}
		b.log.Info("created server", "server-id", want.ServerID, "endpoint", want.Endpoint, "host-key-fingerprint", hk.Fingerprint)
	} else {
		if have.Domain != want.Domain {
			return "", fmt.Errorf("%s: %s.Domain: server %s was created with Domain %s; the domain cannot change after creation",
				b.file, field, have.ServerID, have.Domain)
		}
		want.ServerID, want.CreatedAt = have.ServerID, have.CreatedAt
		if err := b.store.UpdateServer(ctx, &want); err != nil {
			return "", fmt.Errorf("%s: %s: updating server %s: %w", b.file, field, want.ServerID, err)
		}
		keys, err := b.store.ListHostKeys(ctx, want.ServerID)
		if err != nil {
			return "", err
		}
		if len(keys) == 0 {
			hk, err := newHostKey(want.ServerID, b.now())
			if err != nil {
				return "", err
			}
			if err := b.store.AddHostKey(ctx, hk); err != nil {
				return "", fmt.Errorf("storing the host key of server %s: %w", want.ServerID, err)
			}
		}
	}
	return want.ServerID, b.applyUsers(ctx, field, cs, want.ServerID)
}

// applyUsers makes the server's config-created users exactly those of the file.
func (b *bootstrap) applyUsers(ctx context.Context, field string, cs *config.Server, serverID string) error {
	listed := map[string]bool{}
	for j := range cs.Users {
		uf := fmt.Sprintf("%s.Users[%d]", field, j)
		want, err := cs.Users[j].TransferUser(serverID)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", b.file, uf, err)
		}
		listed[want.UserName] = true
		if err := b.applyUser(ctx, &want); err != nil {
			return fmt.Errorf("%s: %s: %w", b.file, uf, err)
		}
	}
	after := ""
	for {
		page, err := b.store.ListUsers(ctx, serverID, after, 1000)
		if err != nil {
			return err
		}
		for _, u := range page {
			if u.Source == transfer.SourceConfig && !listed[u.UserName] {
				if err := b.store.DeleteUser(ctx, serverID, u.UserName); err != nil {
					return err
				}
				b.log.Info("deleted user no longer in the config file", "server-id", serverID, "user", u.UserName)
			}
		}
		if len(page) < 1000 {
			return nil
		}
		after = page[len(page)-1].UserName
	}
}

func (b *bootstrap) applyUser(ctx context.Context, want *transfer.User) error {
	now := b.now()
	for k := range want.SSHPublicKeys {
		want.SSHPublicKeys[k].SSHPublicKeyID = transfer.NewSSHPublicKeyID()
		want.SSHPublicKeys[k].DateImported = now
	}
	have, err := b.store.GetUser(ctx, want.ServerID, want.UserName)
	if transfer.KindOf(err) == transfer.KindNotFound {
		return b.store.CreateUser(ctx, want)
	}
	if err != nil {
		return err
	}
	if err := b.store.UpdateUser(ctx, want); err != nil {
		return err
	}
	wanted := map[string]bool{}
	for _, k := range want.SSHPublicKeys {
		wanted[k.Fingerprint] = true
	}
	present := map[string]bool{}
	for _, k := range have.SSHPublicKeys {
		present[k.Fingerprint] = true
		if !wanted[k.Fingerprint] {
			if err := b.store.DeleteSSHPublicKey(ctx, want.ServerID, want.UserName, k.SSHPublicKeyID); err != nil {
				return err
			}
		}
	}
	for _, k := range want.SSHPublicKeys {
		if !present[k.Fingerprint] {
			if err := b.store.AddSSHPublicKey(ctx, want.ServerID, want.UserName, k); err != nil {
				return err
			}
		}
	}
	return nil
}
