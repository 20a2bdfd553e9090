package metastore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/transferd/transferd/internal/transfer"
)

// Workflow executions: recorded when an upload starts one, updated after each step, run by the
// process named in instance. A process that dies leaves its executions to be claimed by another
// (or by itself after a restart, under a new instance).

const executionColumns = `execution_id, workflow_id, trigger_name, execution_role, server_id, user_name, session_id,
	domain, file, status, results, custom, definition, instance, created_at, updated_at`

// inProgress are the statuses of executions still running.
var inProgress = []any{transfer.ExecutionInProgress, transfer.ExecutionHandlingException}

// CreateExecution records a new execution; zero times are set to now.
func (s *Store) CreateExecution(ctx context.Context, e *transfer.Execution) error {
	file, results, custom, err := marshalExecution(e)
	if err != nil {
		return err
	}
	definition := ""
	if e.Definition != nil {
		b, err := json.Marshal(e.Definition)
		if err != nil {
			return err
		}
		definition = string(b)
	}
	now := s.stamp(e.CreatedAt)
	err = s.write(ctx, func(r runner) error {
		_, err := r.exec(ctx, `INSERT INTO executions (`+executionColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			e.ExecutionId, e.WorkflowId, e.Trigger, e.ExecutionRole, e.ServerId, e.UserName, e.SessionId,
			e.Domain, file, e.Status, results, custom, definition, e.Instance, formatTime(now), formatTime(now))
		return err
	})
	if err != nil {
		return wrapInternal(err, "record execution %s", e.ExecutionId)
	}
	e.CreatedAt, e.UpdatedAt = now, now
	return nil
}

// UpdateExecution records an execution's status, results and the CUSTOM step it waits on, if
// instance still runs it; false when another process has taken it over (or it is gone). A
// callback status SendWorkflowStepState stored meanwhile is kept.
func (s *Store) UpdateExecution(ctx context.Context, e *transfer.Execution) (bool, error) {
	_, results, _, err := marshalExecution(e)
	if err != nil {
		return false, err
	}
	now := s.now()
	var n int64
	for attempt := 0; ; attempt++ {
		err = s.write(ctx, func(r runner) error {
			// A callback stored since the wait was recorded is kept; the update is made over the
			// wait read, so one landing meanwhile (PostgreSQL) is not lost: then it is read again.
			var stored string
			err := r.queryRow(ctx, `SELECT custom FROM executions WHERE execution_id = ?`, e.ExecutionId).Scan(&stored)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			var w transfer.CustomWait
			if e.Custom != nil && e.Custom.Status == "" && stored != "" && json.Unmarshal([]byte(stored), &w) == nil && w.Token == e.Custom.Token {
				e.Custom.Status = w.Status
			}
			custom, err := marshalCustom(e.Custom)
			if err != nil {
				return err
			}
			n, err = affected(r.exec(ctx, `UPDATE executions SET status = ?, results = ?, custom = ?, updated_at = ?
				WHERE execution_id = ? AND instance = ? AND custom = ?`, e.Status, results, custom, formatTime(now), e.ExecutionId, e.Instance, stored))
			return err
		})
		// Nothing updated: the wait changed meanwhile (read it again), or another process has the
		// execution (which the attempts do not change).
		if err != nil || n == 1 || attempt == 2 {
			break
		}
	}
	if err != nil {
		return false, wrapInternal(err, "record execution %s", e.ExecutionId)
	}
	e.UpdatedAt = now
	return n == 1, nil
}

// GetExecution returns an execution.
func (s *Store) GetExecution(ctx context.Context, executionID string) (*transfer.Execution, error) {
	var e *transfer.Execution
	err := s.read(ctx, func(r runner) error {
		var err error
		e, err = scanExecution(r.queryRow(ctx, `SELECT `+executionColumns+` FROM executions WHERE execution_id = ?`, executionID))
		if errors.Is(err, sql.ErrNoRows) {
			return transfer.NotFound("Execution", executionID, "Unknown execution")
		}
		return err
	})
	if err != nil {
		return nil, wrapInternal(err, "read execution %s", executionID)
	}
	return e, nil
}

// ListExecutions returns up to limit executions of a workflow still in progress, whose IDs sort
// after afterID, in ID order.
func (s *Store) ListExecutions(ctx context.Context, workflowID, afterID string, limit int) ([]transfer.Execution, error) {
	var out []transfer.Execution
	err := s.read(ctx, func(r runner) error {
		lim, args := limitClause(limit, append([]any{workflowID, afterID}, inProgress...))
		rows, err := r.query(ctx, `SELECT `+executionColumns+` FROM executions WHERE workflow_id = ? AND execution_id > ?
			AND status IN (?, ?) ORDER BY execution_id`+lim, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			e, err := scanExecution(rows)
			if err != nil {
				return err
			}
			out = append(out, *e)
		}
		return rows.Err()
	})
	return out, wrapInternal(err, "list executions of workflow %s", workflowID)
}

// ClaimExecutions gives instance the executions in progress that no living process runs: those
// released (instance ”), and those of processes last seen before deadAfter or never recorded.
// It returns the executions instance runs now, claimed before or just now, oldest first.
func (s *Store) ClaimExecutions(ctx context.Context, instance string, deadAfter time.Time) ([]transfer.Execution, error) {
	var out []transfer.Execution
	err := s.write(ctx, func(r runner) error {
		args := append([]any{instance}, inProgress...)
		args = append(args, instance, formatTime(deadAfter))
		if _, err := r.exec(ctx, `UPDATE executions SET instance = ? WHERE status IN (?, ?) AND instance <> ?
			AND (instance = '' OR NOT EXISTS (SELECT 1 FROM nodes n WHERE n.instance = executions.instance AND n.seen_at >= ?))`,
			args...); err != nil {
			return err
		}
		rows, err := r.query(ctx, `SELECT `+executionColumns+` FROM executions WHERE instance = ? AND status IN (?, ?)
			ORDER BY created_at, execution_id`, append([]any{instance}, inProgress...)...)
		if err != nil {
			return err
		}
		for rows.Next() {
			e, err := scanExecution(rows)
			if err != nil {
				rows.Close()
				return err
			}
			out = append(out, *e)
		}
		return errors.Join(rows.Err(), rows.Close())
	})
	return out, wrapInternal(err, "claim executions")
}

// ReleaseExecutions hands instance's executions in progress to whichever process claims them
// next (a clean shutdown: the next start takes them at once).
func (s *Store) ReleaseExecutions(ctx context.Context, instance string) error {
	err := s.write(ctx, func(r runner) error {
		_, err := r.exec(ctx, `UPDATE executions SET instance = '' WHERE instance = ? AND status IN (?, ?)`,
			append([]any{instance}, inProgress...)...)
		return err
	})
	return wrapInternal(err, "release executions")
}

// PruneExecutions forgets the executions that ended before cut.
func (s *Store) PruneExecutions(ctx context.Context, cut time.Time) error {
	err := s.write(ctx, func(r runner) error {
		_, err := r.exec(ctx, `DELETE FROM executions WHERE status NOT IN (?, ?) AND updated_at < ?`,
			append(inProgress, formatTime(cut))...)
		return err
	})
	return wrapInternal(err, "forget old executions")
}

// SetCustomStepStatus records SendWorkflowStepState's status for the CUSTOM step of a workflow's
// execution in progress that waits with token; KindNotFound when there is none, or the step has
// its status already.
func (s *Store) SetCustomStepStatus(ctx context.Context, workflowID, executionID, token, status string) error {
	err := s.write(ctx, func(r runner) error {
		var stored string
		err := r.queryRow(ctx, `SELECT custom FROM executions WHERE execution_id = ? AND workflow_id = ? AND status IN (?, ?)`,
			append([]any{executionID, workflowID}, inProgress...)...).Scan(&stored)
		if errors.Is(err, sql.ErrNoRows) {
			return transfer.NotFound("Execution", executionID, "Unknown execution: no execution of this workflow is in progress with this ID")
		}
		if err != nil {
			return err
		}
		var w transfer.CustomWait
		if stored == "" || json.Unmarshal([]byte(stored), &w) != nil || w.Token != token || w.Status != "" {
			return transfer.NotFound("Token", token, "Unknown token: the execution waits on no custom step with this token")
		}
		w.Status = status
		custom, err := marshalCustom(&w)
		if err != nil {
			return err
		}
		// Only over the wait read: on PostgreSQL another writer may have changed it meanwhile.
		n, err := affected(r.exec(ctx, `UPDATE executions SET custom = ? WHERE execution_id = ? AND custom = ?`, custom, executionID, stored))
		if err == nil && n == 0 {
			return transfer.NotFound("Token", token, "Unknown token: the execution's custom step changed meanwhile")
		}
		return err
	})
	return wrapInternal(err, "record the callback of execution %s", executionID)
}

func marshalExecution(e *transfer.Execution) (file, results, custom string, err error) {
	f, err := json.Marshal(e.File)
	if err != nil {
		return "", "", "", err
	}
	res, err := json.Marshal(e.Results)
	if err != nil {
		return "", "", "", err
	}
	custom, err = marshalCustom(e.Custom)
	return string(f), string(res), custom, err
}

func marshalCustom(w *transfer.CustomWait) (string, error) {
	if w == nil {
		return "", nil
	}
	b, err := json.Marshal(w)
	return string(b), err
}

func scanExecution(sc scanner) (*transfer.Execution, error) {
	var e transfer.Execution
	var file, results, custom, definition, created, updated string
	if err := sc.Scan(&e.ExecutionId, &e.WorkflowId, &e.Trigger, &e.ExecutionRole, &e.ServerId, &e.UserName, &e.SessionId,
		&e.Domain, &file, &e.Status, &results, &custom, &definition, &e.Instance, &created, &updated); err != nil {
		return nil, err
	}
	if definition != "" {
		e.Definition = &transfer.Workflow{}
		if err := json.Unmarshal([]byte(definition), e.Definition); err != nil {
			return nil, fmt.Errorf("execution %s definition: %w", e.ExecutionId, err)
		}
	}
	if custom != "" {
		e.Custom = &transfer.CustomWait{}
		if err := json.Unmarshal([]byte(custom), e.Custom); err != nil {
			return nil, fmt.Errorf("execution %s custom step: %w", e.ExecutionId, err)
		}
	}
	if err := json.Unmarshal([]byte(file), &e.File); err != nil {
		return nil, fmt.Errorf("execution %s file: %w", e.ExecutionId, err)
	}
	if err := json.Unmarshal([]byte(results), &e.Results); err != nil {
		return nil, fmt.Errorf("execution %s results: %w", e.ExecutionId, err)
	}
	var err error
	if e.CreatedAt, err = parseTime(created); err == nil {
		e.UpdatedAt, err = parseTime(updated)
	}
	return &e, err
}

// TagFile sets tags on a file of storage without object tags, replacing the values of keys it
// has, and returns all its tags, sorted by key.
func (s *Store) TagFile(ctx context.Context, bucket, key string, tags []transfer.Tag) ([]transfer.Tag, error) {
	var out []transfer.Tag
	err := s.write(ctx, func(r runner) error {
		for _, t := range tags {
			if _, err := r.exec(ctx, `INSERT INTO file_tags (bucket, object_key, key, value) VALUES (?, ?, ?, ?)
				ON CONFLICT (bucket, object_key, key) DO UPDATE SET value = excluded.value`, bucket, key, t.Key, t.Value); err != nil {
				return err
			}
		}
		var err error
		out, err = fileTags(ctx, r, bucket, key)
		return err
	})
	return out, wrapInternal(err, "tag /%s/%s", bucket, key)
}

// FileTags returns the tags TagFile set on a file, sorted by key.
func (s *Store) FileTags(ctx context.Context, bucket, key string) ([]transfer.Tag, error) {
	var out []transfer.Tag
	err := s.read(ctx, func(r runner) error {
		var err error
		out, err = fileTags(ctx, r, bucket, key)
		return err
	})
	return out, wrapInternal(err, "read the tags of /%s/%s", bucket, key)
}

// UntagFile forgets a file's tags (it was deleted).
func (s *Store) UntagFile(ctx context.Context, bucket, key string) error {
	err := s.write(ctx, func(r runner) error {
		_, err := r.exec(ctx, `DELETE FROM file_tags WHERE bucket = ? AND object_key = ?`, bucket, key)
		return err
	})
	return wrapInternal(err, "untag /%s/%s", bucket, key)
}

func fileTags(ctx context.Context, r runner, bucket, key string) ([]transfer.Tag, error) {
	rows, err := r.query(ctx, `SELECT key, value FROM file_tags WHERE bucket = ? AND object_key = ? ORDER BY key`, bucket, key)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []transfer.Tag
	for rows.Next() {
		var t transfer.Tag
		if err := rows.Scan(&t.Key, &t.Value); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}
