package transfer

import (
	"errors"
	"strings"
	"testing"
)

func TestNewWorkflowID(t *testing.T) {
	seen := map[byte]bool{}
	for range 200 {
		id := NewWorkflowID()
		if !ValidWorkflowID(id) {
			t.Fatalf("NewWorkflowID() = %q, not w- and 17 lowercase letters and digits", id)
		}
		for i := 2; i < len(id); i++ {
			seen[id[i]] = true
		}
	}
	if len(seen) < 30 { // 3,400 draws from 36 characters
		t.Errorf("200 IDs used only %d characters", len(seen))
	}
	for _, bad := range []string{"w-0123456789abcdef", "w-0123456789abcdefgh", "w-0123456789ABCDEFG", "s-0123456789abcdefg"} {
		if ValidWorkflowID(bad) {
			t.Errorf("ValidWorkflowID(%q) = true", bad)
		}
	}
}

func TestValidateWorkflow(t *testing.T) {
	s3 := &InputFileLocation{S3FileLocation: &S3InputFileLocation{Bucket: "archive", Key: "${transfer:UserName}/"}}
	ok := Workflow{Description: "copy tag and delete", Steps: []WorkflowStep{
		{Type: StepCopy, CopyStepDetails: &CopyStepDetails{Name: "copy-1", DestinationFileLocation: s3, OverwriteExisting: "TRUE"}},
		{Type: StepTag, TagStepDetails: &TagStepDetails{Tags: []S3Tag{{Key: "state", Value: "copied"}}, SourceFileLocation: PreviousFile}},
		{Type: StepCustom, CustomStepDetails: &CustomStepDetails{Target: "arn:aws:lambda:us-east-1:000000000000:function:check", TimeoutSeconds: 1800}},
		{Type: StepDecrypt, DecryptStepDetails: &DecryptStepDetails{Type: "PGP", DestinationFileLocation: &InputFileLocation{
			EfsFileLocation: &EfsFileLocation{FileSystemId: "fs-0123456789abcdef0", Path: "/plain"}}}},
		{Type: StepDelete, DeleteStepDetails: &DeleteStepDetails{SourceFileLocation: OriginalFile}},
	}, OnExceptionSteps: []WorkflowStep{{Type: StepDelete, DeleteStepDetails: &DeleteStepDetails{}}}}
	if err := ValidateWorkflow(&ok); err != nil {
		t.Fatalf("a valid workflow: %v", err)
	}
	if err := ValidateWorkflow(&Workflow{Steps: []WorkflowStep{}}); err != nil {
		t.Errorf("no steps (the model allows 0): %v", err)
	}
	step := func(s WorkflowStep) *Workflow { return &Workflow{Steps: []WorkflowStep{s}} }
	nine := make([]WorkflowStep, 9)
	for i := range nine {
		nine[i] = WorkflowStep{Type: StepDelete, DeleteStepDetails: &DeleteStepDetails{}}
	}
	for _, c := range []struct {
		w     *Workflow
		field string
	}{
		{&Workflow{}, "Steps"},
		{&Workflow{Description: "semi;colon", Steps: []WorkflowStep{}}, "Description"},
		{&Workflow{Description: strings.Repeat("a", 257), Steps: []WorkflowStep{}}, "Description"},
		{&Workflow{Steps: nine}, "Steps"},
		{&Workflow{Steps: []WorkflowStep{}, OnExceptionSteps: nine}, "OnExceptionSteps"},
		{step(WorkflowStep{Type: "MOVE"}), "Steps[0].Type"},
		{step(WorkflowStep{Type: StepCopy}), "Steps[0]"},
		{step(WorkflowStep{Type: StepDelete, DeleteStepDetails: &DeleteStepDetails{}, TagStepDetails: &TagStepDetails{}}), "Steps[0]"},
		{step(WorkflowStep{Type: StepCopy, CopyStepDetails: &CopyStepDetails{}}), "Steps[0].CopyStepDetails.DestinationFileLocation"},
		{step(WorkflowStep{Type: StepCopy, CopyStepDetails: &CopyStepDetails{DestinationFileLocation: &InputFileLocation{}}}), "Steps[0].CopyStepDetails.DestinationFileLocation"},
		{step(WorkflowStep{Type: StepCopy, CopyStepDetails: &CopyStepDetails{DestinationFileLocation: &InputFileLocation{S3FileLocation: &S3InputFileLocation{Bucket: "UPPER"}}}}), "Steps[0].CopyStepDetails.DestinationFileLocation.S3FileLocation.Bucket"},
		{step(WorkflowStep{Type: StepCopy, CopyStepDetails: &CopyStepDetails{DestinationFileLocation: s3, OverwriteExisting: "yes"}}), "Steps[0].CopyStepDetails.OverwriteExisting"},
		{step(WorkflowStep{Type: StepCopy, CopyStepDetails: &CopyStepDetails{DestinationFileLocation: s3, SourceFileLocation: "${next.file}"}}), "Steps[0].CopyStepDetails.SourceFileLocation"},
		{step(WorkflowStep{Type: StepCopy, CopyStepDetails: &CopyStepDetails{DestinationFileLocation: s3, Name: "has space"}}), "Steps[0].CopyStepDetails.Name"},
		{step(WorkflowStep{Type: StepCustom, CustomStepDetails: &CustomStepDetails{}}), "Steps[0].CustomStepDetails.Target"},
		{step(WorkflowStep{Type: StepCustom, CustomStepDetails: &CustomStepDetails{Target: "arn:aws:s3:::bucket"}}), "Steps[0].CustomStepDetails.Target"},
		{step(WorkflowStep{Type: StepCustom, CustomStepDetails: &CustomStepDetails{Target: "arn:aws:lambda:us-east-1:0:function:f", TimeoutSeconds: 1801}}), "Steps[0].CustomStepDetails.TimeoutSeconds"},
		{step(WorkflowStep{Type: StepDecrypt, DecryptStepDetails: &DecryptStepDetails{DestinationFileLocation: s3}}), "Steps[0].DecryptStepDetails.Type"},
		{step(WorkflowStep{Type: StepDecrypt, DecryptStepDetails: &DecryptStepDetails{Type: "PGP", DestinationFileLocation: &InputFileLocation{EfsFileLocation: &EfsFileLocation{FileSystemId: "disk", Path: "/x"}}}}), "Steps[0].DecryptStepDetails.DestinationFileLocation.EfsFileLocation.FileSystemId"},
		{step(WorkflowStep{Type: StepTag, TagStepDetails: &TagStepDetails{}}), "Steps[0].TagStepDetails.Tags"},
		{step(WorkflowStep{Type: StepTag, TagStepDetails: &TagStepDetails{Tags: []S3Tag{{Key: "", Value: "v"}}}}), "Steps[0].TagStepDetails.Tags[0].Key"},
		{step(WorkflowStep{Type: StepTag, TagStepDetails: &TagStepDetails{Tags: []S3Tag{{Key: "k", Value: "semi;colon"}}}}), "Steps[0].TagStepDetails.Tags[0].Value"},
		{&Workflow{Steps: []WorkflowStep{}, OnExceptionSteps: []WorkflowStep{{Type: StepDelete}}}, "OnExceptionSteps[0]"},
	} {
		err := ValidateWorkflow(c.w)
		var te *Error
		if !errors.As(err, &te) || te.Kind != KindInvalid || te.Field != c.field {
			t.Errorf("%+v: %v, want an invalid %s", c.w, err, c.field)
		}
	}
}
