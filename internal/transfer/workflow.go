package transfer

import (
	"crypto/rand"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// A managed workflow: the steps Transfer Family runs after an upload (WorkflowDetails.OnUpload)
// or an upload cut short (OnPartialUpload). The types carry the API model's member names, which
// are also the config file's and the state store's.

// Step types.
const (
	StepCopy    = "COPY"
	StepCustom  = "CUSTOM"
	StepTag     = "TAG"
	StepDelete  = "DELETE"
	StepDecrypt = "DECRYPT"
)

// StepTypes lists the step types in the API model's order.
var StepTypes = []string{StepCopy, StepCustom, StepTag, StepDelete, StepDecrypt}

// File locations a step reads: the previous step's output (the default) or the uploaded file.
const (
	PreviousFile = "${previous.file}"
	OriginalFile = "${original.file}"
)

// The API model's limits.
const (
	MaxWorkflowSteps       = 8
	MaxWorkflowDescription = 256
	MaxStepName            = 30
	MaxCustomStepTarget    = 170
	MinCustomStepTimeout   = 1
	MaxCustomStepTimeout   = 1800
	MaxTagStepTags         = 10
	MaxS3TagKey            = 128
	MaxS3TagValue          = 256
	MaxS3Key               = 1024
	MaxEfsPath             = 65536
	MaxEfsFileSystemID     = 128
)

// DefaultCustomStepTimeout is a CUSTOM step's timeout, in seconds, when it names none (the API
// model states no default).
const DefaultCustomStepTimeout = 60

var (
	workflowIDPattern    = regexp.MustCompile(`^w-[a-z0-9]{17}$`)
	descriptionPattern   = regexp.MustCompile(`^[\w- ]*$`)
	stepNamePattern      = regexp.MustCompile(`^[\w-]*$`)
	customTargetPattern  = regexp.MustCompile(`^arn:[a-z-]+:lambda:.*$`)
	s3BucketPattern      = regexp.MustCompile(`^[a-z0-9][.\-a-z0-9]{1,61}[a-z0-9]$`)
	s3TagPattern         = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)
	efsFileSystemPattern = regexp.MustCompile(`^(arn:aws[-a-z]*:elasticfilesystem:[0-9a-z-:]+:(access-point/fsap|file-system/fs)-[0-9a-f]{8,40}|fs(ap)?-[0-9a-f]{8,40})$`)
)

// Workflow is a managed workflow.
type Workflow struct {
	WorkflowId       string
	Description      string         `json:",omitempty"`
	Steps            []WorkflowStep `json:",omitempty"`
	OnExceptionSteps []WorkflowStep `json:",omitempty"`
	// Tags are the workflow's tags (CreateWorkflow takes them; the store keeps them by ARN).
	Tags []Tag `json:"-"`
	// Source says who created it: the config file or the API.
	Source string `json:"-"`
	// CreatedAt is when it was created (transferd; the API does not show it).
	CreatedAt time.Time `json:"-"`
}

// WorkflowStep is one step: its Type and the details of that type.
type WorkflowStep struct {
	Type               string              `json:",omitempty" yaml:"Type,omitempty"`
	CopyStepDetails    *CopyStepDetails    `json:",omitempty" yaml:"CopyStepDetails,omitempty"`
	CustomStepDetails  *CustomStepDetails  `json:",omitempty" yaml:"CustomStepDetails,omitempty"`
	DecryptStepDetails *DecryptStepDetails `json:",omitempty" yaml:"DecryptStepDetails,omitempty"`
	DeleteStepDetails  *DeleteStepDetails  `json:",omitempty" yaml:"DeleteStepDetails,omitempty"`
	TagStepDetails     *TagStepDetails     `json:",omitempty" yaml:"TagStepDetails,omitempty"`
}

// CopyStepDetails copies the file to DestinationFileLocation.
type CopyStepDetails struct {
	Name                    string             `json:",omitempty" yaml:"Name,omitempty"`
	DestinationFileLocation *InputFileLocation `json:",omitempty" yaml:"DestinationFileLocation,omitempty"`
	OverwriteExisting       string             `json:",omitempty" yaml:"OverwriteExisting,omitempty"`
	SourceFileLocation      string             `json:",omitempty" yaml:"SourceFileLocation,omitempty"`
}

// CustomStepDetails invokes a Lambda function, which reports back with SendWorkflowStepState.
type CustomStepDetails struct {
	Name               string `json:",omitempty" yaml:"Name,omitempty"`
	Target             string `json:",omitempty" yaml:"Target,omitempty"`
	TimeoutSeconds     int    `json:",omitempty" yaml:"TimeoutSeconds,omitempty"`
	SourceFileLocation string `json:",omitempty" yaml:"SourceFileLocation,omitempty"`
}

// DecryptStepDetails decrypts the file (OpenPGP) to DestinationFileLocation.
type DecryptStepDetails struct {
	Name                    string             `json:",omitempty" yaml:"Name,omitempty"`
	Type                    string             `json:",omitempty" yaml:"Type,omitempty"`
	SourceFileLocation      string             `json:",omitempty" yaml:"SourceFileLocation,omitempty"`
	OverwriteExisting       string             `json:",omitempty" yaml:"OverwriteExisting,omitempty"`
	DestinationFileLocation *InputFileLocation `json:",omitempty" yaml:"DestinationFileLocation,omitempty"`
}

// DeleteStepDetails deletes the file.
type DeleteStepDetails struct {
	Name               string `json:",omitempty" yaml:"Name,omitempty"`
	SourceFileLocation string `json:",omitempty" yaml:"SourceFileLocation,omitempty"`
}

// TagStepDetails tags the file.
type TagStepDetails struct {
	Name               string  `json:",omitempty" yaml:"Name,omitempty"`
	Tags               []S3Tag `json:",omitempty" yaml:"Tags,omitempty"`
	SourceFileLocation string  `json:",omitempty" yaml:"SourceFileLocation,omitempty"`
}

// S3Tag is a tag a TAG step sets.
type S3Tag struct {
	Key   string `yaml:"Key"`
	Value string `yaml:"Value"`
}

// InputFileLocation is where a COPY or DECRYPT step writes: an S3 bucket and key, or an EFS file
// system and path.
type InputFileLocation struct {
	S3FileLocation  *S3InputFileLocation `json:",omitempty" yaml:"S3FileLocation,omitempty"`
	EfsFileLocation *EfsFileLocation     `json:",omitempty" yaml:"EfsFileLocation,omitempty"`
}

// S3InputFileLocation is a bucket and a key; a key ending in "/" is a folder the file keeps its
// name in.
type S3InputFileLocation struct {
	Bucket string `json:",omitempty" yaml:"Bucket,omitempty"`
	Key    string `json:",omitempty" yaml:"Key,omitempty"`
}

// EfsFileLocation is an EFS file system and a path in it.
type EfsFileLocation struct {
	FileSystemId string `json:",omitempty" yaml:"FileSystemId,omitempty"`
	Path         string `json:",omitempty" yaml:"Path,omitempty"`
}

// NewWorkflowID returns a fresh workflow ID: w- and 17 lowercase letters and digits, each
// equally likely.
func NewWorkflowID() string {
	const alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
	id := []byte("w-")
	var b [1]byte
	for len(id) < 19 {
		if _, err := rand.Read(b[:]); err != nil {
			panic(err) // crypto/rand does not fail on supported platforms
		}
		if b[0] < 252 { // 7 × 36: the rest would favour the first letters
			id = append(id, alphabet[b[0]%36])
		}
	}
	return string(id)
}

// ValidWorkflowID reports whether id has the form w- and 17 lowercase letters and digits.
func ValidWorkflowID(id string) bool { return workflowIDPattern.MatchString(id) }

// ValidateWorkflow checks a workflow's description and steps as CreateWorkflow does: the API
// model's limits, each step's details matching its type, and only what transferd can run (the
// source locations ${previous.file} and ${original.file}).
func ValidateWorkflow(w *Workflow) error {
	if n := utf8.RuneCountInString(w.Description); n > MaxWorkflowDescription || !descriptionPattern.MatchString(w.Description) {
		return Invalid("Description", "%q must be at most %d letters, digits, spaces, _ and -", w.Description, MaxWorkflowDescription)
	}
	if w.Steps == nil {
		return Invalid("Steps", "is required")
	}
	for _, list := range []struct {
		field string
		steps []WorkflowStep
	}{{"Steps", w.Steps}, {"OnExceptionSteps", w.OnExceptionSteps}} {
		if len(list.steps) > MaxWorkflowSteps {
			return Invalid(list.field, "has %d steps; at most %d are allowed", len(list.steps), MaxWorkflowSteps)
		}
		for i := range list.steps {
			if err := validateStep(fmt.Sprintf("%s[%d]", list.field, i), &list.steps[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

// validateStep checks one step; field names it, as Steps[2].
func validateStep(field string, s *WorkflowStep) error {
	details := map[string]bool{
		StepCopy: s.CopyStepDetails != nil, StepCustom: s.CustomStepDetails != nil, StepDecrypt: s.DecryptStepDetails != nil,
		StepDelete: s.DeleteStepDetails != nil, StepTag: s.TagStepDetails != nil,
	}
	if !slices.Contains(StepTypes, s.Type) {
		return Invalid(field+".Type", "%q is not a step type; use one of %s", s.Type, strings.Join(StepTypes, ", "))
	}
	for t, present := range details {
		if present && t != s.Type {
			return Invalid(field, "is a %s step but has %s", s.Type, detailsName(t))
		}
	}
	if !details[s.Type] {
		return Invalid(field, "is a %s step without %s", s.Type, detailsName(s.Type))
	}
	f := field + "." + detailsName(s.Type)
	switch s.Type {
	case StepCopy:
		d := s.CopyStepDetails
		if d.DestinationFileLocation == nil {
			return Invalid(f+".DestinationFileLocation", "is required")
		}
		return firstError(validateStepName(f, d.Name), validateSource(f, d.SourceFileLocation),
			validateOverwrite(f, d.OverwriteExisting), validateDestination(f+".DestinationFileLocation", d.DestinationFileLocation))
	case StepCustom:
		d := s.CustomStepDetails
		if err := firstError(validateStepName(f, d.Name), validateSource(f, d.SourceFileLocation)); err != nil {
			return err
		}
		if d.Target == "" {
			return Invalid(f+".Target", "is required: the ARN of the Lambda function to invoke")
		}
		if len(d.Target) > MaxCustomStepTarget || !customTargetPattern.MatchString(d.Target) {
			return Invalid(f+".Target", "%q is not a Lambda function ARN (arn:aws:lambda:REGION:ACCOUNT:function:NAME, at most %d characters)", d.Target, MaxCustomStepTarget)
		}
		if d.TimeoutSeconds != 0 && (d.TimeoutSeconds < MinCustomStepTimeout || d.TimeoutSeconds > MaxCustomStepTimeout) {
			return Invalid(f+".TimeoutSeconds", "%d must be from %d to %d", d.TimeoutSeconds, MinCustomStepTimeout, MaxCustomStepTimeout)
		}
	case StepDecrypt:
		d := s.DecryptStepDetails
		if d.Type != "PGP" {
			return Invalid(f+".Type", "%q: the encryption type must be PGP", d.Type)
		}
		if d.DestinationFileLocation == nil {
			return Invalid(f+".DestinationFileLocation", "is required")
		}
		return firstError(validateStepName(f, d.Name), validateSource(f, d.SourceFileLocation),
			validateOverwrite(f, d.OverwriteExisting), validateDestination(f+".DestinationFileLocation", d.DestinationFileLocation))
	case StepDelete:
		d := s.DeleteStepDetails
		return firstError(validateStepName(f, d.Name), validateSource(f, d.SourceFileLocation))
	case StepTag:
		d := s.TagStepDetails
		if err := firstError(validateStepName(f, d.Name), validateSource(f, d.SourceFileLocation)); err != nil {
			return err
		}
		if len(d.Tags) == 0 || len(d.Tags) > MaxTagStepTags {
			return Invalid(f+".Tags", "has %d tags; give from 1 to %d", len(d.Tags), MaxTagStepTags)
		}
		for i, t := range d.Tags {
			tf := fmt.Sprintf("%s.Tags[%d]", f, i)
			if n := utf8.RuneCountInString(t.Key); n == 0 || n > MaxS3TagKey || !s3TagPattern.MatchString(t.Key) {
				return Invalid(tf+".Key", "%q must be 1 to %d letters, digits, spaces and _ . : / = + - @", t.Key, MaxS3TagKey)
			}
			if n := utf8.RuneCountInString(t.Value); n > MaxS3TagValue || !s3TagPattern.MatchString(t.Value) {
				return Invalid(tf+".Value", "%q must be at most %d letters, digits, spaces and _ . : / = + - @", t.Value, MaxS3TagValue)
			}
		}
	}
	return nil
}

func detailsName(stepType string) string {
	switch stepType {
	case StepCopy:
		return "CopyStepDetails"
	case StepCustom:
		return "CustomStepDetails"
	case StepDecrypt:
		return "DecryptStepDetails"
	case StepDelete:
		return "DeleteStepDetails"
	}
	return "TagStepDetails"
}

func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func validateStepName(field, name string) error {
	if len(name) > MaxStepName || !stepNamePattern.MatchString(name) {
		return Invalid(field+".Name", "%q must be at most %d letters, digits, _ and -", name, MaxStepName)
	}
	return nil
}

// validateSource accepts the two file locations transferd knows (the model's pattern allows any
// ${a.b} variable, which nothing could resolve).
func validateSource(field, source string) error {
	if source == "" || source == PreviousFile || source == OriginalFile {
		return nil
	}
	return Invalid(field+".SourceFileLocation", "%q: use %s (the previous step's output, the default) or %s (the uploaded file)", source, PreviousFile, OriginalFile)
}

func validateOverwrite(field, v string) error {
	if v == "" || v == "TRUE" || v == "FALSE" {
		return nil
	}
	return Invalid(field+".OverwriteExisting", "%q must be TRUE or FALSE", v)
}

func validateDestination(field string, l *InputFileLocation) error {
	switch {
	case (l.S3FileLocation == nil) == (l.EfsFileLocation == nil):
		return Invalid(field, "give one of S3FileLocation (Bucket, Key) and EfsFileLocation (FileSystemId, Path)")
	case l.S3FileLocation != nil:
		s3 := l.S3FileLocation
		if !s3BucketPattern.MatchString(s3.Bucket) {
			return Invalid(field+".S3FileLocation.Bucket", "%q is not a bucket name (3 to 63 lowercase letters, digits, . and -)", s3.Bucket)
		}
		if n := utf8.RuneCountInString(s3.Key); n > MaxS3Key || !utf8.ValidString(s3.Key) {
			return Invalid(field+".S3FileLocation.Key", "must be at most %d characters of UTF-8", MaxS3Key)
		}
	default:
		efs := l.EfsFileLocation
		if len(efs.FileSystemId) > MaxEfsFileSystemID || !efsFileSystemPattern.MatchString(efs.FileSystemId) {
			return Invalid(field+".EfsFileLocation.FileSystemId", "%q is not an EFS file system ID (fs- and 8 to 40 hex digits, or its ARN)", efs.FileSystemId)
		}
		if efs.Path == "" || len(efs.Path) > MaxEfsPath || strings.ContainsRune(efs.Path, 0) {
			return Invalid(field+".EfsFileLocation.Path", "must be 1 to %d characters without NUL", MaxEfsPath)
		}
	}
	return nil
}

// WorkflowARN returns arn:aws:transfer:REGION:ACCOUNT:workflow/WORKFLOWID.
func (a Account) WorkflowARN(workflowID string) string {
	a = a.WithDefaults()
	return fmt.Sprintf("arn:aws:transfer:%s:%s:workflow/%s", a.Region, a.AccountID, workflowID)
}

// WorkflowDetails are the workflows a server runs: OnUpload after a file is uploaded whole,
// OnPartialUpload after an upload ends early (the session ended with the file open). Each holds
// at most one.
type WorkflowDetails struct {
	OnUpload        []WorkflowDetail `json:",omitempty" yaml:"OnUpload,omitempty"`
	OnPartialUpload []WorkflowDetail `json:",omitempty" yaml:"OnPartialUpload,omitempty"`
}

// WorkflowDetail is a workflow and the role its executions run as (recorded; transferd assumes
// no role).
type WorkflowDetail struct {
	WorkflowId    string `yaml:"WorkflowId"`
	ExecutionRole string `yaml:"ExecutionRole"`
}

// Empty reports whether d runs no workflow.
func (d *WorkflowDetails) Empty() bool {
	return d == nil || len(d.OnUpload)+len(d.OnPartialUpload) == 0
}

// ValidateWorkflowDetails checks a server's WorkflowDetails as the model limits them.
func ValidateWorkflowDetails(d *WorkflowDetails) error {
	if d == nil {
		return nil
	}
	for _, list := range []struct {
		field   string
		details []WorkflowDetail
	}{{"WorkflowDetails.OnUpload", d.OnUpload}, {"WorkflowDetails.OnPartialUpload", d.OnPartialUpload}} {
		if len(list.details) > 1 {
			return Invalid(list.field, "holds %d workflows; at most 1 is allowed", len(list.details))
		}
		for i, w := range list.details {
			f := fmt.Sprintf("%s[%d]", list.field, i)
			if !ValidWorkflowID(w.WorkflowId) {
				return Invalid(f+".WorkflowId", "%q is not a workflow ID: w- and 17 lowercase letters and digits", w.WorkflowId)
			}
			// ExecutionRole is required by the model; transferd records it and assumes nothing.
			if !validRole(w.ExecutionRole) {
				return Invalid(f+".ExecutionRole", "%q is not an IAM role ARN (arn:...:role/NAME, 20 to 2048 characters)", w.ExecutionRole)
			}
		}
	}
	return nil
}

// Execution statuses.
const (
	ExecutionInProgress        = "IN_PROGRESS"
	ExecutionCompleted         = "COMPLETED"
	ExecutionException         = "EXCEPTION"
	ExecutionHandlingException = "HANDLING_EXCEPTION"
)

// Execution error types.
const (
	ErrPermissionDenied = "PERMISSION_DENIED"
	ErrCustomStepFailed = "CUSTOM_STEP_FAILED"
	ErrAlreadyExists    = "ALREADY_EXISTS"
	ErrNotFound         = "NOT_FOUND"
	ErrBadRequest       = "BAD_REQUEST"
	ErrTimeout          = "TIMEOUT"
	ErrInternal         = "INTERNAL_SERVER_ERROR"
)

// Triggers of an execution.
const (
	TriggerOnUpload        = "OnUpload"
	TriggerOnPartialUpload = "OnPartialUpload"
)

// Execution is one run of a workflow for one upload.
type Execution struct {
	ExecutionId string
	WorkflowId  string
	// Trigger is TriggerOnUpload or TriggerOnPartialUpload.
	Trigger       string
	ExecutionRole string
	// ServerId, UserName and SessionId say whose upload started it.
	ServerId, UserName, SessionId string
	// Domain is the server's (S3 or EFS); File is the uploaded file.
	Domain string
	File   FileRef
	// Status is one of the Execution* statuses; Results has a result per step run so far.
	Status  string
	Results ExecutionResults
	// Definition is the workflow's steps when the execution started, which it runs to the end
	// whatever becomes of the workflow.
	Definition *Workflow
	// Custom is the CUSTOM step the execution waits on, nil when none.
	Custom *CustomWait
	// Instance is the transferd process running it ("" when none has it).
	Instance  string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// CustomWait is a CUSTOM step whose function was invoked: its callback token, when it times out,
// and the status SendWorkflowStepState gave ("" until it does).
type CustomWait struct {
	// Step is the step's index, in the exception steps when Exception is set.
	Step      int
	Exception bool `json:",omitempty"`
	Token     string
	Deadline  time.Time
	Status    string `json:",omitempty"`
}

// Custom step statuses, as SendWorkflowStepState's Status.
const (
	CustomStepSuccess = "SUCCESS"
	CustomStepFailure = "FAILURE"
)

var tokenPattern = regexp.MustCompile(`^\w{1,64}$`)

// ValidStepToken reports whether token is a CUSTOM step's callback token as the model has it.
func ValidStepToken(token string) bool { return tokenPattern.MatchString(token) }

// FileRef is a file in a server's storage: a bucket (or EFS file system) and a key (path).
type FileRef struct {
	Bucket string
	Key    string
	// ETag is the object's, on S3.
	ETag string `json:",omitempty"`
}

// ExecutionResults are the results of the steps run, nominal and exception steps apart.
type ExecutionResults struct {
	Steps            []ExecutionStepResult `json:",omitempty"`
	OnExceptionSteps []ExecutionStepResult `json:",omitempty"`
}

// ExecutionStepResult is one step's result.
type ExecutionStepResult struct {
	StepType string
	// Outputs is JSON: the tags a TAG step applied, the file a COPY or DECRYPT step wrote.
	Outputs string          `json:",omitempty"`
	Error   *ExecutionError `json:",omitempty"`
	// File is the file the step left for the next one (transferd's, for resuming; not shown).
	File *FileRef `json:",omitempty"`
}

// ExecutionError is why a step failed.
type ExecutionError struct {
	Type    string
	Message string
}

// NewExecutionID returns a random UUID (version 4), as execution IDs are.
func NewExecutionID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

var executionIDPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// ValidExecutionID reports whether id is a UUID as the model's pattern has it.
func ValidExecutionID(id string) bool { return executionIDPattern.MatchString(id) }
