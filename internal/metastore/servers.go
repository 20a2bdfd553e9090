package metastore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/transferd/transferd/internal/transfer"
)

const serverColumns = `server_id, endpoint, security_policy_name, pre_auth_banner, post_auth_banner,
	domain, identity_provider_type, protocols, set_stat_option, logging_role, state, source, created_at,
	identity_provider_details, state_reason, workflow_details`

// identityJSON is how a server's IdentityProviderDetails are stored: a JSON object with the API's
// member names, empty members left out.
type identityJSON struct {
	URL                       string `json:"Url,omitempty"`
	InvocationRole            string `json:"InvocationRole,omitempty"`
	Function                  string `json:"Function,omitempty"`
	SftpAuthenticationMethods string `json:"SftpAuthenticationMethods,omitempty"`
}

func marshalIdentity(d transfer.IdentityProviderDetails) (string, error) {
	b, err := json.Marshal(identityJSON(d))
	return string(b), err
}

// CreateServer stores a new server and its tags. A zero CreatedAt is set to the current time.
// It fails with KindExists when the ID is taken or another server has the same endpoint.
func (s *Store) CreateServer(ctx context.Context, srv *transfer.Server) error {
	if err := required("ServerId", srv.ServerID); err != nil {
		return err
	}
	protocols, err := marshalList(srv.Protocols)
	if err != nil {
		return fmt.Errorf("create server %s: %w", srv.ServerID, err)
	}
	idp, err := marshalIdentity(srv.IdentityProviderDetails)
	if err != nil {
		return fmt.Errorf("create server %s: %w", srv.ServerID, err)
	}
	wd, err := marshalWorkflowDetails(srv.WorkflowDetails)
	if err != nil {
		return fmt.Errorf("create server %s: %w", srv.ServerID, err)
	}
	created := s.stamp(srv.CreatedAt)
	err = s.write(ctx, func(r runner) error {
		if ok, err := serverExists(ctx, r, srv.ServerID); err != nil {
			return err
		} else if ok {
			return transfer.Exists(typeServer, srv.ServerID, msgServerExists)
		}
		if err := checkEndpointFree(ctx, r, srv.Endpoint, srv.ServerID); err != nil {
			return err
		}
		if _, err := r.exec(ctx, `INSERT INTO servers (`+serverColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			srv.ServerID, srv.Endpoint, srv.SecurityPolicyName, srv.PreAuthenticationLoginBanner,
			srv.PostAuthenticationLoginBanner, srv.Domain, srv.IdentityProviderType, protocols,
			srv.SetStatOption, srv.LoggingRole, srv.State, srv.Source, formatTime(created), idp, srv.StateReason, wd); err != nil {
			if s.d.isUniqueViolation(err) {
				// A concurrent writer won a race the checks above could not see (not in SQLite,
				// whose writers are serialized).
				return transfer.Exists(typeServer, srv.ServerID, msgServerExists+" or its endpoint is in use")
			}
			return err
		}
		return upsertTags(ctx, r, s.acct.ServerARN(srv.ServerID), srv.Tags)
	})
	if err != nil {
		return wrapInternal(err, "create server %s", srv.ServerID)
	}
	srv.CreatedAt = created
	return nil
}

// GetServer returns a server with its tags.
func (s *Store) GetServer(ctx context.Context, serverID string) (*transfer.Server, error) {
	var srv *transfer.Server
	err := s.read(ctx, func(r runner) error {
		var err error
		srv, err = scanServer(r.queryRow(ctx, `SELECT `+serverColumns+` FROM servers WHERE server_id = ?`, serverID))
		if errors.Is(err, sql.ErrNoRows) {
			return transfer.NotFound(typeServer, serverID, msgUnknownServer)
		}
		if err != nil {
			return err
		}
		srv.Tags, err = listTags(ctx, r, s.acct.ServerARN(serverID))
		return err
	})
	if err != nil {
		return nil, wrapInternal(err, "get server %s", serverID)
	}
	return srv, nil
}

// UpdateServer replaces a server's mutable settings: endpoint, security policy, banners,
// identity provider type and details, protocols, SetStat option, logging role and workflow
// details. ID, domain, state, source, creation time and tags stay as they are.
func (s *Store) UpdateServer(ctx context.Context, srv *transfer.Server) error {
	protocols, err := marshalList(srv.Protocols)
	if err != nil {
		return fmt.Errorf("update server %s: %w", srv.ServerID, err)
	}
	wd, err := marshalWorkflowDetails(srv.WorkflowDetails)
	if err != nil {
		return fmt.Errorf("update server %s: %w", srv.ServerID, err)
	}
	idp, err := marshalIdentity(srv.IdentityProviderDetails)
	if err != nil {
		return fmt.Errorf("update server %s: %w", srv.ServerID, err)
	}
	err = s.write(ctx, func(r runner) error {
		if ok, err := serverExists(ctx, r, srv.ServerID); err != nil {
			return err
		} else if !ok {
			return transfer.NotFound(typeServer, srv.ServerID, msgUnknownServer)
		}
		if err := checkEndpointFree(ctx, r, srv.Endpoint, srv.ServerID); err != nil {
			return err
		}
		_, err := r.exec(ctx, `UPDATE servers SET endpoint = ?, security_policy_name = ?,
			pre_auth_banner = ?, post_auth_banner = ?, identity_provider_type = ?, protocols = ?,
			set_stat_option = ?, logging_role = ?, identity_provider_details = ?, workflow_details = ? WHERE server_id = ?`,
			srv.Endpoint, srv.SecurityPolicyName, srv.PreAuthenticationLoginBanner,
			srv.PostAuthenticationLoginBanner, srv.IdentityProviderType, protocols,
			srv.SetStatOption, srv.LoggingRole, idp, wd, srv.ServerID)
		if s.d.isUniqueViolation(err) {
			return transfer.Exists(typeServer, srv.ServerID, fmt.Sprintf("Endpoint %s is already in use", srv.Endpoint))
		}
		return err
	})
	return wrapInternal(err, "update server %s", srv.ServerID)
}

// SetServerSource records who manages a server now (transfer.SourceConfig, SourceReleased …).
func (s *Store) SetServerSource(ctx context.Context, serverID, source string) error {
	err := s.write(ctx, func(r runner) error {
		n, err := affected(r.exec(ctx, `UPDATE servers SET source = ? WHERE server_id = ?`, source, serverID))
		if err != nil {
			return err
		}
		if n == 0 {
			return transfer.NotFound(typeServer, serverID, msgUnknownServer)
		}
		return nil
	})
	return wrapInternal(err, "set source of server %s", serverID)
}

// SetServerState records a server's state (transfer.StateOnline, …), with no reason.
func (s *Store) SetServerState(ctx context.Context, serverID, state string) error {
	return s.SetServerStateReason(ctx, serverID, state, "")
}

// SetServerStateReason records a server's state and why it is in it (for START_FAILED, what
// stopped it).
func (s *Store) SetServerStateReason(ctx context.Context, serverID, state, reason string) error {
	err := s.write(ctx, func(r runner) error {
		n, err := affected(r.exec(ctx, `UPDATE servers SET state = ?, state_reason = ? WHERE server_id = ?`, state, reason, serverID))
		if err != nil {
			return err
		}
		if n == 0 {
			return transfer.NotFound(typeServer, serverID, msgUnknownServer)
		}
		return nil
	})
	return wrapInternal(err, "set state of server %s", serverID)
}

// DeleteServer deletes a server with its host keys, users and their SSH public keys, and the
// tags of all of them.
func (s *Store) DeleteServer(ctx context.Context, serverID string) error {
	err := s.write(ctx, func(r runner) error {
		n, err := affected(r.exec(ctx, `DELETE FROM servers WHERE server_id = ?`, serverID))
		if err != nil {
			return err
		}
		if n == 0 {
			return transfer.NotFound(typeServer, serverID, msgUnknownServer)
		}
		// Foreign keys removed the rows below the server; tags are keyed by ARN. An ARN prefix
		// covers every user and host key of the server, including any whose rows are gone.
		users, hostKeys := s.acct.UserARN(serverID, ""), s.acct.HostKeyARN(serverID, "")
		_, err = r.exec(ctx, `DELETE FROM tags WHERE arn = ? OR substr(arn, 1, ?) = ? OR substr(arn, 1, ?) = ?`,
			s.acct.ServerARN(serverID),
			utf8.RuneCountInString(users), users,
			utf8.RuneCountInString(hostKeys), hostKeys)
		return err
	})
	return wrapInternal(err, "delete server %s", serverID)
}

// ListServers returns up to limit servers whose IDs sort after afterID, in ID order; a limit of
// zero or less returns them all. Tags are not filled in: ListServers does not show them.
func (s *Store) ListServers(ctx context.Context, afterID string, limit int) ([]transfer.Server, error) {
	var out []transfer.Server
	err := s.read(ctx, func(r runner) error {
		lim, args := limitClause(limit, []any{afterID})
		rows, err := r.query(ctx, `SELECT `+serverColumns+` FROM servers WHERE server_id > ? ORDER BY server_id`+lim, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			srv, err := scanServer(rows)
			if err != nil {
				return err
			}
			out = append(out, *srv)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, wrapInternal(err, "list servers")
	}
	return out, nil
}

// CountUsers returns how many users a server has.
func (s *Store) CountUsers(ctx context.Context, serverID string) (int, error) {
	var n int
	err := s.read(ctx, func(r runner) error {
		err := r.queryRow(ctx, `SELECT (SELECT COUNT(*) FROM users WHERE server_id = ?) FROM servers WHERE server_id = ?`,
			serverID, serverID).Scan(&n)
		if errors.Is(err, sql.ErrNoRows) {
			return transfer.NotFound(typeServer, serverID, msgUnknownServer)
		}
		return err
	})
	if err != nil {
		return 0, wrapInternal(err, "count users of server %s", serverID)
	}
	return n, nil
}

// serverExists reports whether a server exists.
func serverExists(ctx context.Context, r runner, serverID string) (bool, error) {
	var n int
	if err := r.queryRow(ctx, `SELECT COUNT(*) FROM servers WHERE server_id = ?`, serverID).Scan(&n); err != nil {
		return false, err
	}
	return n > 0, nil
}

// requireServer returns a KindNotFound error when the server does not exist.
func requireServer(ctx context.Context, r runner, serverID string) error {
	ok, err := serverExists(ctx, r, serverID)
	if err != nil {
		return err
	}
	if !ok {
		return transfer.NotFound(typeServer, serverID, msgUnknownServer)
	}
	return nil
}

// checkEndpointFree returns a KindExists error naming the other server when a server other than
// serverID listens on endpoint.
func checkEndpointFree(ctx context.Context, r runner, endpoint, serverID string) error {
	if endpoint == "" {
		return nil
	}
	var other string
	err := r.queryRow(ctx, `SELECT server_id FROM servers WHERE endpoint = ? AND server_id <> ?`, endpoint, serverID).Scan(&other)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return err
	}
	return transfer.Exists(typeServer, other, fmt.Sprintf("Endpoint %s is already used by server %s", endpoint, other))
}

type scanner interface{ Scan(dest ...any) error }

func scanServer(sc scanner) (*transfer.Server, error) {
	var srv transfer.Server
	var protocols, created, idp, wd string
	if err := sc.Scan(&srv.ServerID, &srv.Endpoint, &srv.SecurityPolicyName, &srv.PreAuthenticationLoginBanner,
		&srv.PostAuthenticationLoginBanner, &srv.Domain, &srv.IdentityProviderType, &protocols,
		&srv.SetStatOption, &srv.LoggingRole, &srv.State, &srv.Source, &created, &idp, &srv.StateReason, &wd); err != nil {
		return nil, err
	}
	if wd != "{}" && wd != "" {
		srv.WorkflowDetails = &transfer.WorkflowDetails{}
		if err := json.Unmarshal([]byte(wd), srv.WorkflowDetails); err != nil {
			return nil, fmt.Errorf("server %s workflow details: %w", srv.ServerID, err)
		}
	}
	var d identityJSON
	if err := json.Unmarshal([]byte(idp), &d); err != nil {
		return nil, fmt.Errorf("server %s identity provider details: %w", srv.ServerID, err)
	}
	srv.IdentityProviderDetails = transfer.IdentityProviderDetails(d)
	var err error
	if srv.Protocols, err = unmarshalList[string](protocols); err != nil {
		return nil, fmt.Errorf("server %s protocols: %w", srv.ServerID, err)
	}
	if srv.CreatedAt, err = parseTime(created); err != nil {
		return nil, fmt.Errorf("server %s: %w", srv.ServerID, err)
	}
	return &srv, nil
}

// marshalList encodes a list as a JSON array; nil becomes [].
func marshalList[T any](v []T) (string, error) {
	if v == nil {
		v = []T{}
	}
	b, err := json.Marshal(v)
	return string(b), err
}

// unmarshalList decodes a JSON array; an empty one becomes nil.
func unmarshalList[T any](s string) ([]T, error) {
	var v []T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return nil, err
	}
	if len(v) == 0 {
		return nil, nil
	}
	return v, nil
}

// wrapInternal says what was being done when err is not one of the store's kinded errors, which
// already say it in AWS's words and are returned as they are. It returns nil for nil.
func wrapInternal(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	var te *transfer.Error
	if errors.As(err, &te) {
		return err
	}
	err = fmt.Errorf(format+": %w", append(args, err)...)
	if unreachable(err) {
		return &transfer.Error{Kind: transfer.KindUnavailable, Message: "the state store is unreachable", Err: err}
	}
	return err
}

// marshalWorkflowDetails stores a server's WorkflowDetails as JSON with the API's member names;
// none is {}.
func marshalWorkflowDetails(d *transfer.WorkflowDetails) (string, error) {
	if d.Empty() {
		return "{}", nil
	}
	b, err := json.Marshal(d)
	return string(b), err
}

// ServersUsingWorkflow returns the IDs of the servers whose WorkflowDetails name a workflow.
func (s *Store) ServersUsingWorkflow(ctx context.Context, workflowID string) ([]string, error) {
	var out []string
	err := s.read(ctx, func(r runner) error {
		rows, err := r.query(ctx, `SELECT server_id, workflow_details FROM servers WHERE workflow_details LIKE ? ORDER BY server_id`,
			"%"+workflowID+"%")
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id, wd string
			if err := rows.Scan(&id, &wd); err != nil {
				return err
			}
			var d transfer.WorkflowDetails
			if err := json.Unmarshal([]byte(wd), &d); err != nil {
				return fmt.Errorf("server %s workflow details: %w", id, err)
			}
			for _, w := range append(d.OnUpload, d.OnPartialUpload...) {
				if w.WorkflowId == workflowID {
					out = append(out, id)
					break
				}
			}
		}
		return rows.Err()
	})
	return out, wrapInternal(err, "find the servers of workflow %s", workflowID)
}
