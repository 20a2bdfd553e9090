package control

import (
	"cmp"
	"context"
	"fmt"
	"strings"

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
	w.WorkflowId, w.CreatedAt, w.Source = transfer.NewWorkflowID(), s.stamp(), cmp.Or(w.Source, transfer.SourceAPI)
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

// DeleteWorkflow deletes a workflow and its tags; one a server runs cannot be deleted.
func (s *Service) DeleteWorkflow(ctx context.Context, workflowID string) error {
	if err := checkWorkflowID(workflowID); err != nil {
		return err
	}
	if err := s.managedWorkflow(workflowID, "DeleteWorkflow"); err != nil {
		return err
	}
	err := s.exclusive(ctx, func(ts *Service) error {
		if _, err := ts.store.GetWorkflow(ctx, workflowID); err != nil {
			return err
		}
		servers, err := ts.store.ServersUsingWorkflow(ctx, workflowID)
		if err != nil {
			return err
		}
		if len(servers) > 0 {
			return transfer.Invalid("WorkflowId", "workflow %s is in use by server %s: remove it from the WorkflowDetails of %s first (update-server --workflow-details '{\"OnUpload\":[]}')",
				workflowID, strings.Join(servers, ", "), plural(len(servers), "that server", "those servers"))
		}
		return ts.store.DeleteWorkflow(ctx, workflowID)
	})
	if err != nil {
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

// checkWorkflowDetails checks that the workflows a server is to run exist.
func (s *Service) checkWorkflowDetails(ctx context.Context, d *transfer.WorkflowDetails) error {
	if d == nil {
		return nil
	}
	for _, list := range []struct {
		field   string
		details []transfer.WorkflowDetail
	}{{"WorkflowDetails.OnUpload", d.OnUpload}, {"WorkflowDetails.OnPartialUpload", d.OnPartialUpload}} {
		for i, wd := range list.details {
			f := fmt.Sprintf("%s[%d].WorkflowId", list.field, i)
			_, err := s.store.GetWorkflow(ctx, wd.WorkflowId)
			if transfer.KindOf(err) == transfer.KindNotFound {
				return transfer.Invalid(f, "there is no workflow %s", wd.WorkflowId)
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// ExecutionDescription is an execution as DescribeExecution and ListExecutions show it.
type ExecutionDescription struct {
	Execution transfer.Execution
	// LoggingRole is the server's.
	LoggingRole string
}

// ListExecutions returns one page of a workflow's executions in progress, in ID order, and the
// token of the next page ("" on the last).
func (s *Service) ListExecutions(ctx context.Context, workflowID string, p Page) ([]transfer.Execution, string, error) {
	if err := checkWorkflowID(workflowID); err != nil {
		return nil, "", err
	}
	size, err := pageSize(p)
	if err != nil {
		return nil, "", err
	}
	list := "executions " + workflowID
	after, err := pageCursor(p, list)
	if err != nil {
		return nil, "", err
	}
	if _, err := s.store.GetWorkflow(ctx, workflowID); err != nil {
		return nil, "", err
	}
	xs, err := s.store.ListExecutions(ctx, workflowID, after, size+1)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(xs) > size {
		xs = xs[:size]
		next = nextToken(list, xs[size-1].ExecutionId)
	}
	return xs, next, nil
}

// DescribeExecution returns an execution of a workflow still in progress, as AWS does: an ended
// one, or one of another workflow, is not found.
func (s *Service) DescribeExecution(ctx context.Context, workflowID, executionID string) (*ExecutionDescription, error) {
	if err := checkWorkflowID(workflowID); err != nil {
		return nil, err
	}
	if !transfer.ValidExecutionID(executionID) {
		return nil, transfer.Invalid("ExecutionId", "%q is not an execution ID (a UUID)", executionID)
	}
	x, err := s.store.GetExecution(ctx, executionID)
	if err != nil {
		return nil, err
	}
	if x.WorkflowId != workflowID || (x.Status != transfer.ExecutionInProgress && x.Status != transfer.ExecutionHandlingException) {
		return nil, transfer.NotFound("Execution", executionID, "Unknown execution: DescribeExecution shows executions in progress")
	}
	d := &ExecutionDescription{Execution: *x}
	if srv, err := s.store.GetServer(ctx, x.ServerId); err == nil {
		d.LoggingRole = srv.LoggingRole
	}
	return d, nil
}

// SendWorkflowStepState records a CUSTOM step's outcome, as its function reports it with the
// token the step's event carried: SUCCESS goes on to the next step, FAILURE to the exception
// steps. The execution's process sees it at its next look (within a second).
func (s *Service) SendWorkflowStepState(ctx context.Context, workflowID, executionID, token, status string) error {
	if err := checkWorkflowID(workflowID); err != nil {
		return err
	}
	if !transfer.ValidExecutionID(executionID) {
		return transfer.Invalid("ExecutionId", "%q is not an execution ID (a UUID)", executionID)
	}
	if !transfer.ValidStepToken(token) {
		return transfer.Invalid("Token", "must be 1 to 64 letters, digits and _")
	}
	if status != transfer.CustomStepSuccess && status != transfer.CustomStepFailure {
		return transfer.Invalid("Status", "%q must be SUCCESS or FAILURE", status)
	}
	if err := s.store.SetCustomStepStatus(ctx, workflowID, executionID, token, status); err != nil {
		return err
	}
	s.log.Info("workflow step state received", "workflow-id", workflowID, "execution-id", executionID, "status", status)
	return nil
}
