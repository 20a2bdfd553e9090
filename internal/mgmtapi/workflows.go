package mgmtapi

import (
	"context"

	"github.com/transferd/transferd/internal/transfer"
)

// Managed workflows. Their steps decode straight into transfer's types, whose members are the
// API model's.

type createWorkflowInput struct {
	Description      *string
	Steps            []transfer.WorkflowStep
	OnExceptionSteps []transfer.WorkflowStep
	Tags             []tagIn
}

type workflowIDInput struct {
	WorkflowId *string
}

type workflowIDOutput struct {
	WorkflowId string
}

type describeWorkflowOutput struct {
	Workflow describedWorkflow
}

type describedWorkflow struct {
	Arn              string
	Description      string                  `json:",omitempty"`
	Steps            []transfer.WorkflowStep `json:",omitempty"`
	OnExceptionSteps []transfer.WorkflowStep `json:",omitempty"`
	WorkflowId       string
	Tags             []tagOut `json:",omitempty"`
}

type listWorkflowsOutput struct {
	NextToken string `json:",omitempty"`
	Workflows []listedWorkflow
}

type listedWorkflow struct {
	WorkflowId  string
	Description string `json:",omitempty"`
	Arn         string
}

func (h *Handler) createWorkflow(ctx context.Context, in *createWorkflowInput) (*workflowIDOutput, error) {
	tags, err := tagsIn("Tags", in.Tags)
	if err != nil {
		return nil, err
	}
	id, err := h.svc.CreateWorkflow(ctx, transfer.Workflow{Description: deref(in.Description), Steps: in.Steps,
		OnExceptionSteps: in.OnExceptionSteps, Tags: tags, Source: transfer.SourceAPI})
	if err != nil {
		return nil, err
	}
	return &workflowIDOutput{WorkflowId: id}, nil
}

func (h *Handler) describeWorkflow(ctx context.Context, in *workflowIDInput) (*describeWorkflowOutput, error) {
	id, err := required("WorkflowId", in.WorkflowId)
	if err != nil {
		return nil, err
	}
	d, err := h.svc.DescribeWorkflow(ctx, id)
	if err != nil {
		return nil, err
	}
	w := d.Workflow
	out := describedWorkflow{Arn: d.ARN, Description: w.Description, Steps: w.Steps, OnExceptionSteps: w.OnExceptionSteps, WorkflowId: w.WorkflowId}
	if len(w.Tags) > 0 {
		out.Tags = tagsOut(w.Tags)
	}
	return &describeWorkflowOutput{Workflow: out}, nil
}

func (h *Handler) listWorkflows(ctx context.Context, in *listInput) (*listWorkflowsOutput, error) {
	page, err := in.page()
	if err != nil {
		return nil, err
	}
	ws, next, err := h.svc.ListWorkflows(ctx, page)
	if err != nil {
		return nil, err
	}
	out := &listWorkflowsOutput{NextToken: next, Workflows: make([]listedWorkflow, 0, len(ws))}
	for _, w := range ws {
		out.Workflows = append(out.Workflows, listedWorkflow{WorkflowId: w.WorkflowID, Description: w.Description, Arn: w.ARN})
	}
	return out, nil
}

func (h *Handler) deleteWorkflow(ctx context.Context, in *workflowIDInput) (*emptyOutput, error) {
	id, err := required("WorkflowId", in.WorkflowId)
	if err != nil {
		return nil, err
	}
	return &emptyOutput{}, h.svc.DeleteWorkflow(ctx, id)
}
