package mgmtapi_test

import (
	"context"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/transfer"
	"github.com/aws/aws-sdk-go-v2/service/transfer/types"
)

var workflowIDRE = regexp.MustCompile(`^w-[a-z0-9]{17}$`)

// Workflows go through the SDK as the model shapes them: every step type round-trips, lists page
// in ID order, tags work on the workflow ARN, and bad steps name their member.
func TestWorkflowOperations(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	steps := []types.WorkflowStep{
		{Type: types.WorkflowStepTypeCopy, CopyStepDetails: &types.CopyStepDetails{Name: aws.String("copy"), OverwriteExisting: types.OverwriteExistingTrue,
			DestinationFileLocation: &types.InputFileLocation{S3FileLocation: &types.S3InputFileLocation{Bucket: aws.String("archive"), Key: aws.String("${transfer:UserName}/")}}}},
		{Type: types.WorkflowStepTypeTag, TagStepDetails: &types.TagStepDetails{Name: aws.String("tag"), Tags: []types.S3Tag{{Key: aws.String("state"), Value: aws.String("copied")}},
			SourceFileLocation: aws.String("${original.file}")}},
		{Type: types.WorkflowStepTypeDecrypt, DecryptStepDetails: &types.DecryptStepDetails{Type: types.EncryptionTypePgp,
			DestinationFileLocation: &types.InputFileLocation{EfsFileLocation: &types.EfsFileLocation{FileSystemId: aws.String("fs-0123456789abcdef0"), Path: aws.String("/plain")}}}},
		{Type: types.WorkflowStepTypeCustom, CustomStepDetails: &types.CustomStepDetails{Target: aws.String("arn:aws:lambda:us-east-1:000000000000:function:check"), TimeoutSeconds: aws.Int32(120)}},
	}
	onException := []types.WorkflowStep{{Type: types.WorkflowStepTypeDelete, DeleteStepDetails: &types.DeleteStepDetails{Name: aws.String("cleanup")}}}
	out, err := e.client.CreateWorkflow(ctx, &transfer.CreateWorkflowInput{Description: aws.String("copy tag decrypt check"), Steps: steps,
		OnExceptionSteps: onException, Tags: []types.Tag{tagOf("team", "ops")}})
	if err != nil {
		t.Fatalf("CreateWorkflow: %v", err)
	}
	id := aws.ToString(out.WorkflowId)
	if !workflowIDRE.MatchString(id) {
		t.Fatalf("WorkflowId %q", id)
	}
	d, err := e.client.DescribeWorkflow(ctx, &transfer.DescribeWorkflowInput{WorkflowId: &id})
	if err != nil {
		t.Fatalf("DescribeWorkflow: %v", err)
	}
	w := d.Workflow
	arn := "arn:aws:transfer:us-east-1:000000000000:workflow/" + id
	if aws.ToString(w.Arn) != arn || aws.ToString(w.WorkflowId) != id || aws.ToString(w.Description) != "copy tag decrypt check" ||
		tagMap(w.Tags)["team"] != "ops" {
		t.Errorf("DescribeWorkflow: Arn %q, id %q, description %q, tags %v", aws.ToString(w.Arn), aws.ToString(w.WorkflowId), aws.ToString(w.Description), tagMap(w.Tags))
	}
	for _, c := range []struct {
		name       string
		sent, back []types.WorkflowStep
	}{{"Steps", steps, w.Steps}, {"OnExceptionSteps", onException, w.OnExceptionSteps}} {
		sent, _ := json.Marshal(c.sent)
		back, _ := json.Marshal(c.back)
		if string(sent) != string(back) {
			t.Errorf("%s sent:\n%s\ndescribed:\n%s", c.name, sent, back)
		}
	}

	// Tags on the workflow's ARN.
	if _, err := e.client.TagResource(ctx, &transfer.TagResourceInput{Arn: &arn, Tags: []types.Tag{tagOf("stage", "prod")}}); err != nil {
		t.Fatalf("TagResource: %v", err)
	}
	if _, err := e.client.UntagResource(ctx, &transfer.UntagResourceInput{Arn: &arn, TagKeys: []string{"team"}}); err != nil {
		t.Fatalf("UntagResource: %v", err)
	}
	if lt, err := e.client.ListTagsForResource(ctx, &transfer.ListTagsForResourceInput{Arn: &arn}); err != nil || len(lt.Tags) != 1 || tagMap(lt.Tags)["stage"] != "prod" {
		t.Errorf("ListTagsForResource: %v, %v", err, lt)
	}

	// Pages, in ID order.
	ids := []string{id}
	for range 4 {
		o, err := e.client.CreateWorkflow(ctx, &transfer.CreateWorkflowInput{Steps: onException})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, aws.ToString(o.WorkflowId))
	}
	slices.Sort(ids)
	var listed []string
	p := transfer.NewListWorkflowsPaginator(e.client, &transfer.ListWorkflowsInput{MaxResults: aws.Int32(2)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("ListWorkflows: %v", err)
		}
		for _, l := range page.Workflows {
			listed = append(listed, aws.ToString(l.WorkflowId))
			if aws.ToString(l.Arn) != "arn:aws:transfer:us-east-1:000000000000:workflow/"+aws.ToString(l.WorkflowId) {
				t.Errorf("listed Arn %q", aws.ToString(l.Arn))
			}
		}
	}
	if !slices.Equal(listed, ids) {
		t.Errorf("listed %v, want %v", listed, ids)
	}

	// Errors.
	for _, c := range []struct {
		in   *transfer.CreateWorkflowInput
		code string
		msg  string
	}{
		{&transfer.CreateWorkflowInput{Steps: []types.WorkflowStep{{Type: types.WorkflowStepTypeCopy}}}, "InvalidRequestException", "Steps[0]: is a COPY step without CopyStepDetails"},
		{&transfer.CreateWorkflowInput{Steps: []types.WorkflowStep{{Type: types.WorkflowStepTypeCustom, CustomStepDetails: &types.CustomStepDetails{
			Target: aws.String("arn:aws:lambda:us-east-1:0:function:f"), TimeoutSeconds: aws.Int32(1801)}}}}, "InvalidRequestException", "Steps[0].CustomStepDetails.TimeoutSeconds"},
		{&transfer.CreateWorkflowInput{Steps: []types.WorkflowStep{}, OnExceptionSteps: []types.WorkflowStep{{Type: types.WorkflowStepTypeDelete,
			DeleteStepDetails: &types.DeleteStepDetails{SourceFileLocation: aws.String("${upload.file}")}}}}, "InvalidRequestException", "OnExceptionSteps[0].DeleteStepDetails.SourceFileLocation"},
	} {
		_, err := e.client.CreateWorkflow(ctx, c.in)
		if code, msg := apiError(t, err); code != c.code || !strings.Contains(msg, c.msg) {
			t.Errorf("CreateWorkflow %+v: %s %q, want %s naming %s", c.in, code, msg, c.code, c.msg)
		}
	}
	for _, c := range []struct{ id, code string }{{"w-0123456789abcdefg", "ResourceNotFoundException"}, {"w-short", "InvalidRequestException"}} {
		_, err := e.client.DescribeWorkflow(ctx, &transfer.DescribeWorkflowInput{WorkflowId: &c.id})
		if code, _ := apiError(t, err); code != c.code {
			t.Errorf("DescribeWorkflow %s: %s, want %s", c.id, code, c.code)
		}
	}
	if _, err := e.client.DeleteWorkflow(ctx, &transfer.DeleteWorkflowInput{WorkflowId: &id}); err != nil {
		t.Fatalf("DeleteWorkflow: %v", err)
	}
	if _, err := e.client.DeleteWorkflow(ctx, &transfer.DeleteWorkflowInput{WorkflowId: &id}); err == nil {
		t.Error("deleting a deleted workflow succeeded")
	} else if code, _ := apiError(t, err); code != "ResourceNotFoundException" {
		t.Errorf("deleting a deleted workflow: %s", code)
	}
	if _, err := e.client.ListTagsForResource(ctx, &transfer.ListTagsForResourceInput{Arn: &arn}); err == nil {
		t.Error("ListTagsForResource of a deleted workflow succeeded")
	}
}

// A server runs a workflow through its WorkflowDetails: DescribeServer shows them, a workflow in
// use cannot be deleted, and an empty OnUpload removes it.
func TestServerWorkflowDetails(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	id := e.createServer("a", "1")
	role := aws.String("arn:aws:iam::000000000000:role/workflow")
	w, err := e.client.CreateWorkflow(ctx, &transfer.CreateWorkflowInput{Steps: []types.WorkflowStep{
		{Type: types.WorkflowStepTypeDelete, DeleteStepDetails: &types.DeleteStepDetails{}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.UpdateServer(ctx, &transfer.UpdateServerInput{ServerId: &id, WorkflowDetails: &types.WorkflowDetails{
		OnUpload:        []types.WorkflowDetail{{WorkflowId: w.WorkflowId, ExecutionRole: role}},
		OnPartialUpload: []types.WorkflowDetail{{WorkflowId: w.WorkflowId, ExecutionRole: role}}}}); err != nil {
		t.Fatalf("UpdateServer WorkflowDetails: %v", err)
	}
	d, err := e.client.DescribeServer(ctx, &transfer.DescribeServerInput{ServerId: &id})
	if err != nil {
		t.Fatal(err)
	}
	if wd := d.Server.WorkflowDetails; wd == nil || len(wd.OnUpload) != 1 || aws.ToString(wd.OnUpload[0].WorkflowId) != aws.ToString(w.WorkflowId) ||
		aws.ToString(wd.OnPartialUpload[0].ExecutionRole) != aws.ToString(role) {
		t.Errorf("DescribeServer WorkflowDetails: %+v", wd)
	}
	_, err = e.client.DeleteWorkflow(ctx, &transfer.DeleteWorkflowInput{WorkflowId: w.WorkflowId})
	if code, msg := apiError(t, err); code != "InvalidRequestException" || !strings.Contains(msg, "in use by server "+id) {
		t.Errorf("deleting a workflow in use: %s %q", code, msg)
	}
	// A callback for no waiting step, and bad callbacks.
	eid := aws.String("3f1e0c55-7d7a-4b8e-9a53-2d1c0b6f4e21")
	for _, c := range []struct {
		token, status, code string
	}{{"abc", "SUCCESS", "ResourceNotFoundException"}, {"abc", "MAYBE", "InvalidRequestException"}, {"not a token", "SUCCESS", "InvalidRequestException"}} {
		_, err := e.client.SendWorkflowStepState(ctx, &transfer.SendWorkflowStepStateInput{WorkflowId: w.WorkflowId, ExecutionId: eid,
			Token: aws.String(c.token), Status: types.CustomStepStatus(c.status)})
		if code, _ := apiError(t, err); code != c.code {
			t.Errorf("SendWorkflowStepState %q %s: %s, want %s", c.token, c.status, code, c.code)
		}
	}
	_, err = e.client.CreateServer(ctx, &transfer.CreateServerInput{WorkflowDetails: &types.WorkflowDetails{
		OnUpload: []types.WorkflowDetail{{WorkflowId: w.WorkflowId, ExecutionRole: aws.String("not-a-role")}}}})
	if code, msg := apiError(t, err); code != "InvalidRequestException" || !strings.Contains(msg, "WorkflowDetails.OnUpload[0].ExecutionRole") {
		t.Errorf("a bad ExecutionRole: %s %q", code, msg)
	}
	if _, err := e.client.UpdateServer(ctx, &transfer.UpdateServerInput{ServerId: &id, WorkflowDetails: &types.WorkflowDetails{OnUpload: []types.WorkflowDetail{}}}); err != nil {
		t.Fatalf("removing the workflows: %v", err)
	}
	if d, _ := e.client.DescribeServer(ctx, &transfer.DescribeServerInput{ServerId: &id}); d.Server.WorkflowDetails != nil {
		t.Errorf("after an empty OnUpload: %+v", d.Server.WorkflowDetails)
	}
	if _, err := e.client.DeleteWorkflow(ctx, &transfer.DeleteWorkflowInput{WorkflowId: w.WorkflowId}); err != nil {
		t.Errorf("deleting the workflow no server runs: %v", err)
	}
	_, err = e.client.ListExecutions(ctx, &transfer.ListExecutionsInput{WorkflowId: w.WorkflowId})
	if code, _ := apiError(t, err); code != "ResourceNotFoundException" {
		t.Errorf("ListExecutions of a deleted workflow: %s", code)
	}
}
