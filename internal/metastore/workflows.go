package metastore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/transferd/transferd/internal/transfer"
)

const workflowColumns = `workflow_id, description, steps, on_exception_steps, source, created_at`

// CreateWorkflow stores a new workflow and its tags. A zero CreatedAt is set to the current time.
// It fails with KindExists when the ID is taken.
func (s *Store) CreateWorkflow(ctx context.Context, w *transfer.Workflow) error {
	if err := required("WorkflowId", w.WorkflowId); err != nil {
		return err
	}
	steps, err := marshalSteps(w.Steps)
	if err != nil {
		return err
	}
	onException, err := marshalSteps(w.OnExceptionSteps)
	if err != nil {
		return err
	}
	created := s.stamp(w.CreatedAt)
	err = s.write(ctx, func(r runner) error {
		_, err := r.exec(ctx, `INSERT INTO workflows (`+workflowColumns+`) VALUES (?, ?, ?, ?, ?, ?)`,
			w.WorkflowId, w.Description, steps, onException, w.Source, formatTime(created))
		if s.d.isUniqueViolation(err) {
			return transfer.Exists(typeWflow, w.WorkflowId, msgWorkflowExists)
		}
		if err != nil {
			return err
		}
		return upsertTags(ctx, r, s.acct.WorkflowARN(w.WorkflowId), w.Tags)
	})
	if err != nil {
		return wrapInternal(err, "create workflow %s", w.WorkflowId)
	}
	w.CreatedAt = created
	return nil
}

// ReplaceWorkflow makes a stored workflow's description, steps and source w's and sets w's tags
// (others stay); false when nothing changed.
func (s *Store) ReplaceWorkflow(ctx context.Context, w *transfer.Workflow) (bool, error) {
	steps, err := marshalSteps(w.Steps)
	if err != nil {
		return false, err
	}
	onException, err := marshalSteps(w.OnExceptionSteps)
	if err != nil {
		return false, err
	}
	changed := false
	err = s.write(ctx, func(r runner) error {
		// The stored JSON was written by marshalSteps too: the texts compare.
		var desc, haveSteps, haveExc, source string
		err := r.queryRow(ctx, `SELECT description, steps, on_exception_steps, source FROM workflows WHERE workflow_id = ?`,
			w.WorkflowId).Scan(&desc, &haveSteps, &haveExc, &source)
		if errors.Is(err, sql.ErrNoRows) {
			return transfer.NotFound(typeWflow, w.WorkflowId, msgUnknownWflow)
		}
		if err != nil {
			return err
		}
		if desc != w.Description || haveSteps != steps || haveExc != onException || source != w.Source {
			changed = true
			if _, err := r.exec(ctx, `UPDATE workflows SET description = ?, steps = ?, on_exception_steps = ?, source = ? WHERE workflow_id = ?`,
				w.Description, steps, onException, w.Source, w.WorkflowId); err != nil {
				return err
			}
		}
		return upsertTags(ctx, r, s.acct.WorkflowARN(w.WorkflowId), w.Tags)
	})
	return changed, wrapInternal(err, "replace workflow %s", w.WorkflowId)
}

// GetWorkflow returns a workflow with its tags.
func (s *Store) GetWorkflow(ctx context.Context, workflowID string) (*transfer.Workflow, error) {
	var w *transfer.Workflow
	err := s.read(ctx, func(r runner) error {
		var err error
		w, err = scanWorkflow(r.queryRow(ctx, `SELECT `+workflowColumns+` FROM workflows WHERE workflow_id = ?`, workflowID))
		if errors.Is(err, sql.ErrNoRows) {
			return transfer.NotFound(typeWflow, workflowID, msgUnknownWflow)
		}
		if err != nil {
			return err
		}
		w.Tags, err = listTags(ctx, r, s.acct.WorkflowARN(workflowID))
		return err
	})
	if err != nil {
		return nil, wrapInternal(err, "get workflow %s", workflowID)
	}
	return w, nil
}

// DeleteWorkflow deletes a workflow and its tags.
func (s *Store) DeleteWorkflow(ctx context.Context, workflowID string) error {
	err := s.write(ctx, func(r runner) error {
		n, err := affected(r.exec(ctx, `DELETE FROM workflows WHERE workflow_id = ?`, workflowID))
		if err != nil {
			return err
		}
		if n == 0 {
			return transfer.NotFound(typeWflow, workflowID, msgUnknownWflow)
		}
		_, err = r.exec(ctx, `DELETE FROM tags WHERE arn = ?`, s.acct.WorkflowARN(workflowID))
		return err
	})
	return wrapInternal(err, "delete workflow %s", workflowID)
}

// ListWorkflows returns up to limit workflows whose IDs sort after afterID, in ID order; a limit
// of zero or less returns them all. Tags are not filled in: ListWorkflows does not show them.
func (s *Store) ListWorkflows(ctx context.Context, afterID string, limit int) ([]transfer.Workflow, error) {
	var out []transfer.Workflow
	err := s.read(ctx, func(r runner) error {
		lim, args := limitClause(limit, []any{afterID})
		rows, err := r.query(ctx, `SELECT `+workflowColumns+` FROM workflows WHERE workflow_id > ? ORDER BY workflow_id`+lim, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			w, err := scanWorkflow(rows)
			if err != nil {
				return err
			}
			out = append(out, *w)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, wrapInternal(err, "list workflows")
	}
	return out, nil
}

func marshalSteps(steps []transfer.WorkflowStep) (string, error) {
	if steps == nil {
		steps = []transfer.WorkflowStep{}
	}
	b, err := json.Marshal(steps)
	return string(b), err
}

func scanWorkflow(row scanner) (*transfer.Workflow, error) {
	var w transfer.Workflow
	var steps, onException, created string
	if err := row.Scan(&w.WorkflowId, &w.Description, &steps, &onException, &w.Source, &created); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(steps), &w.Steps); err != nil {
		return nil, fmt.Errorf("workflow %s: steps: %w", w.WorkflowId, err)
	}
	if err := json.Unmarshal([]byte(onException), &w.OnExceptionSteps); err != nil {
		return nil, fmt.Errorf("workflow %s: on_exception_steps: %w", w.WorkflowId, err)
	}
	if len(w.OnExceptionSteps) == 0 {
		w.OnExceptionSteps = nil
	}
	var err error
	w.CreatedAt, err = parseTime(created)
	return &w, err
}
