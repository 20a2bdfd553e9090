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

// Executions.

type listExecutionsInput struct {
	listInput
	WorkflowId *string
}

type describeExecutionInput struct {
	ExecutionId *string
	WorkflowId  *string
}

type listExecutionsOutput struct {
	Executions []listedExecution
	NextToken  string `json:",omitempty"`
	WorkflowId string
}

type listedExecution struct {
	ExecutionId         string
	InitialFileLocation fileLocation
	ServiceMetadata     serviceMetadata
	Status              string
}

type fileLocation struct {
	S3FileLocation  *s3FileLocation           `json:",omitempty"`
	EfsFileLocation *transfer.EfsFileLocation `json:",omitempty"`
}

type s3FileLocation struct {
	Bucket string
	Key    string
	Etag   string `json:",omitempty"`
}

type serviceMetadata struct {
	UserDetails userDetails
}

type userDetails struct {
	ServerId  string
	SessionId string `json:",omitempty"`
	UserName  string
}

type describeExecutionOutput struct {
	Execution  describedExecution
	WorkflowId string
}

type describedExecution struct {
	ExecutionId          string
	ExecutionRole        string `json:",omitempty"`
	InitialFileLocation  fileLocation
	LoggingConfiguration *loggingConfiguration `json:",omitempty"`
	Results              executionResults
	ServiceMetadata      serviceMetadata
	Status               string
}

type loggingConfiguration struct {
	LoggingRole string `json:",omitempty"`
}

type executionResults struct {
	Steps            []stepResult `json:",omitempty"`
	OnExceptionSteps []stepResult `json:",omitempty"`
}

type stepResult struct {
	StepType string
	Outputs  string                   `json:",omitempty"`
	Error    *transfer.ExecutionError `json:",omitempty"`
}

func listed(x *transfer.Execution) listedExecution {
	loc := fileLocation{S3FileLocation: &s3FileLocation{Bucket: x.File.Bucket, Key: x.File.Key, Etag: x.File.ETag}}
	if x.Domain == transfer.DomainEFS {
		loc = fileLocation{EfsFileLocation: &transfer.EfsFileLocation{FileSystemId: x.File.Bucket, Path: "/" + x.File.Key}}
	}
	return listedExecution{ExecutionId: x.ExecutionId, InitialFileLocation: loc, Status: x.Status,
		ServiceMetadata: serviceMetadata{UserDetails: userDetails{ServerId: x.ServerId, SessionId: x.SessionId, UserName: x.UserName}}}
}

func results(rs []transfer.ExecutionStepResult) []stepResult {
	out := make([]stepResult, 0, len(rs))
	for _, r := range rs {
		out = append(out, stepResult{StepType: r.StepType, Outputs: r.Outputs, Error: r.Error})
	}
	return out
}

func (h *Handler) listExecutions(ctx context.Context, in *listExecutionsInput) (*listExecutionsOutput, error) {
	id, err := required("WorkflowId", in.WorkflowId)
	if err != nil {
		return nil, err
	}
	page, err := in.page()
	if err != nil {
		return nil, err
	}
	xs, next, err := h.svc.ListExecutions(ctx, id, page)
	if err != nil {
		return nil, err
	}
	out := &listExecutionsOutput{Executions: make([]listedExecution, 0, len(xs)), NextToken: next, WorkflowId: id}
	for i := range xs {
		out.Executions = append(out.Executions, listed(&xs[i]))
	}
	return out, nil
}

func (h *Handler) describeExecution(ctx context.Context, in *describeExecutionInput) (*describeExecutionOutput, error) {
	wid, err := required("WorkflowId", in.WorkflowId)
	if err != nil {
		return nil, err
	}
	eid, err := required("ExecutionId", in.ExecutionId)
	if err != nil {
		return nil, err
	}
	d, err := h.svc.DescribeExecution(ctx, wid, eid)
	if err != nil {
		return nil, err
	}
	x := &d.Execution
	l := listed(x)
	out := describedExecution{ExecutionId: x.ExecutionId, ExecutionRole: x.ExecutionRole, InitialFileLocation: l.InitialFileLocation,
		ServiceMetadata: l.ServiceMetadata, Status: x.Status,
		Results: executionResults{Steps: results(x.Results.Steps), OnExceptionSteps: results(x.Results.OnExceptionSteps)}}
	if d.LoggingRole != "" {
		out.LoggingConfiguration = &loggingConfiguration{LoggingRole: d.LoggingRole}
	}
	return &describeExecutionOutput{Execution: out, WorkflowId: wid}, nil
}

type sendWorkflowStepStateInput struct {
	WorkflowId  *string
	ExecutionId *string
	Token       *string
	Status      *string
}

func (h *Handler) sendWorkflowStepState(ctx context.Context, in *sendWorkflowStepStateInput) (*emptyOutput, error) {
	var vals [4]string
	for i, m := range []struct {
		name string
		p    *string
	}{{"WorkflowId", in.WorkflowId}, {"ExecutionId", in.ExecutionId}, {"Token", in.Token}, {"Status", in.Status}} {
		v, err := required(m.name, m.p)
		if err != nil {
			return nil, err
		}
		vals[i] = v
	}
	return &emptyOutput{}, h.svc.SendWorkflowStepState(ctx, vals[0], vals[1], vals[2], vals[3])
}
