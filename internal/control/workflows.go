package control

import (
	"context"

	"github.com/transferd/transferd/internal/transfer"
)

const typeWorkflow = "Workflow"

// WorkflowDescription is DescribeWorkflow's answer.
type WorkflowDescription struct {
	Workflow transfer.Workflow
	ARN      string
}

// WorkflowSummary is a workflow as ListWorkflows lists it.
type WorkflowSummary struct {
	WorkflowID, Description, ARN string
}

// CreateWorkflow checks a workflow as CreateWorkflow does (transfer.ValidateWorkflow, and up to
// 50 tags), stores it under a new ID and returns the ID. Source says who creates it.
func (s *Service) CreateWorkflow(ctx context.Context, w transfer.Workflow) (string, error) {
	if err := transfer.ValidateWorkflow(&w); err != nil {
		return "", err
	}
	if w.Tags != nil { // given, the list holds 1 to 50 tags
		if err := transfer.ValidateTags("Tags", w.Tags, 1); err != nil {
			return "", err
		}
	}
	w.WorkflowId, w.CreatedAt = transfer.NewWorkflowID(), s.stamp()
	if err := s.store.CreateWorkflow(ctx, &w); err != nil {
		return "", err
	}
	s.log.Info("created workflow", "workflow-id", w.WorkflowId, "steps", len(w.Steps), "exception-steps", len(w.OnExceptionSteps), "source", w.Source)
	return w.WorkflowId, nil
}

// DescribeWorkflow returns a workflow with its tags.
func (s *Service) DescribeWorkflow(ctx context.Context, workflowID string) (*WorkflowDescription, error) {
	if err := checkWorkflowID(workflowID); err != nil {
		return nil, err
	}
	w, err := s.store.GetWorkflow(ctx, workflowID)
	if err != nil {
		return nil, err
	}
	return &WorkflowDescription{Workflow: *w, ARN: s.account.WorkflowARN(workflowID)}, nil
}

// ListWorkflows returns one page of workflows, in ID order, and the token of the next page ("" on
// the last).
func (s *Service) ListWorkflows(ctx context.Context, p Page) ([]WorkflowSummary, string, error) {
	size, err := pageSize(p)
	if err != nil {
		return nil, "", err
	}
	after, err := pageCursor(p, workflowsList())
	if err != nil {
		return nil, "", err
	}
	if after != "" && !transfer.ValidWorkflowID(after) {
		return nil, "", errInvalidToken()
	}
	ws, err := s.store.ListWorkflows(ctx, after, size+1)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(ws) > size {
		ws = ws[:size]
		next = nextToken(workflowsList(), ws[size-1].WorkflowId)
	}
	out := make([]WorkflowSummary, 0, len(ws))
	for _, w := range ws {
		out = append(out, WorkflowSummary{WorkflowID: w.WorkflowId, Description: w.Description, ARN: s.account.WorkflowARN(w.WorkflowId)})
	}
	return out, next, nil
}

// DeleteWorkflow deletes a workflow and its tags.
func (s *Service) DeleteWorkflow(ctx context.Context, workflowID string) error {
	if err := checkWorkflowID(workflowID); err != nil {
		return err
	}
	if err := s.store.DeleteWorkflow(ctx, workflowID); err != nil {
		return err
	}
	s.log.Info("deleted workflow", "workflow-id", workflowID)
	return nil
}

func checkWorkflowID(id string) error {
	if id == "" {
		return transfer.Invalid("WorkflowId", "is required")
	}
	if !transfer.ValidWorkflowID(id) {
		return transfer.Invalid("WorkflowId", "%q is not a workflow ID: w- and 17 lowercase letters and digits", id)
	}
	return nil
}
