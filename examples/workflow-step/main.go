// Command workflow-step is a CUSTOM step function for managed workflows, for AWS Lambda or a
// Lambda-compatible runtime: it receives the event Transfer Family (or transferd) invokes a CUSTOM
// step with, decides from the uploaded file's name, and reports the outcome with
// SendWorkflowStepState, as a real step function must.
//
// It answers FAILURE for files whose key or path matches REJECT (a regular expression; none by
// default) and SUCCESS for the others, after DELAY (a Go duration, e.g. 20s; none by default) for
// files matching DELAY_PATTERN (every file when it is unset). It reports to the Transfer API at
// AWS_ENDPOINT_URL_TRANSFER (transferd's management API, e.g. http://127.0.0.1:9460), or AWS's,
// with the AWS credential chain (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: transferd's pair).
package main

import (
	"cmp"
	"context"
	"fmt"
	"log"
	"os"
	"regexp"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/transfer"
	"github.com/aws/aws-sdk-go-v2/service/transfer/types"
)

// event is what a CUSTOM step's function is invoked with.
type event struct {
	Token           string `json:"token"`
	ServiceMetadata struct {
		ExecutionDetails struct {
			WorkflowID  string `json:"workflowId"`
			ExecutionID string `json:"executionId"`
		} `json:"executionDetails"`
		TransferDetails struct {
			SessionID string `json:"sessionId"`
			UserName  string `json:"userName"`
			ServerID  string `json:"serverId"`
		} `json:"transferDetails"`
	} `json:"serviceMetadata"`
	FileLocation struct {
		Domain       string `json:"domain"`
		Bucket       string `json:"bucket"`
		Key          string `json:"key"`
		FileSystemID string `json:"fileSystemId"`
		Path         string `json:"path"`
	} `json:"fileLocation"`
}

func main() {
	reject, err := pattern("REJECT")
	if err != nil {
		log.Fatal(err)
	}
	delayed, err := pattern("DELAY_PATTERN")
	if err != nil {
		log.Fatal(err)
	}
	var delay time.Duration
	if v := os.Getenv("DELAY"); v != "" {
		if delay, err = time.ParseDuration(v); err != nil {
			log.Fatalf("DELAY: %v", err)
		}
	}
	cfg, err := config.LoadDefaultConfig(context.Background(), config.WithRegion(cmp.Or(os.Getenv("AWS_REGION"), "us-east-1")))
	if err != nil {
		log.Fatal(err)
	}
	client := transfer.NewFromConfig(cfg)
	lambda.Start(func(ctx context.Context, ev event) (string, error) {
		name := ev.FileLocation.Key
		if ev.FileLocation.Domain == "EFS" {
			name = ev.FileLocation.Path
		}
		if delay > 0 && (delayed == nil || delayed.MatchString(name)) {
			time.Sleep(delay)
		}
		status := types.CustomStepStatusSuccess
		if reject != nil && reject.MatchString(name) {
			status = types.CustomStepStatusFailure
		}
		_, err := client.SendWorkflowStepState(ctx, &transfer.SendWorkflowStepStateInput{
			WorkflowId: aws.String(ev.ServiceMetadata.ExecutionDetails.WorkflowID), ExecutionId: aws.String(ev.ServiceMetadata.ExecutionDetails.ExecutionID),
			Token: aws.String(ev.Token), Status: status})
		if err != nil {
			return "", fmt.Errorf("SendWorkflowStepState: %w", err)
		}
		return string(status), nil
	})
}

// pattern compiles the regular expression in an environment variable; nil when it is unset.
func pattern(name string) (*regexp.Regexp, error) {
	v := os.Getenv(name)
	if v == "" {
		return nil, nil
	}
	re, err := regexp.Compile(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return re, nil
}
