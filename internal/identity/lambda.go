package identity

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/transferd/transferd/internal/transfer"
)

// invoker is the part of the Lambda client a provider call needs.
type invoker interface {
	Invoke(ctx context.Context, in *lambda.InvokeInput, optFns ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

// lambdaEvent is the event Transfer Family invokes an identity provider function with; password
// is present only for password logins.
type lambdaEvent struct {
	Username string  `json:"username"`
	Password *string `json:"password,omitempty"`
	Protocol string  `json:"protocol"`
	ServerID string  `json:"serverId"`
	SourceIP string  `json:"sourceIp"`
}

// functionTarget splits a function ARN (arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER])
// into the region and what to invoke: the whole ARN against AWS; the name and qualifier against
// a Lambda-compatible endpoint, which knows its functions by name (the Runtime Interface Emulator
// serves one, named "function").
func functionTarget(functionARN string, local bool, defaultRegion string) (region, name, qualifier string) {
	a, err := arn.Parse(functionARN)
	if err != nil { // checked where the server was configured; only a name is left
		return defaultRegion, functionARN, ""
	}
	region = cmp.Or(a.Region, defaultRegion)
	if !local {
		return region, functionARN, ""
	}
	fn, ok := strings.CutPrefix(a.Resource, "function:")
	if !ok {
		return region, a.Resource, ""
	}
	name, qualifier, _ = strings.Cut(fn, ":")
	return region, name, qualifier
}

// lambdaClient returns the Lambda client for a region, made once.
func (c *Client) lambdaClient(region string) invoker {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l, ok := c.lambdas[region]; ok {
		return l
	}
	o := lambda.Options{
		Region:      region,
		Credentials: c.opts.Credentials,
		HTTPClient:  c.http,
	}
	if c.opts.LambdaEndpoint != "" {
		o.BaseEndpoint = aws.String(c.opts.LambdaEndpoint)
	}
	l := lambda.New(o, func(o *lambda.Options) {
		o.RetryMaxAttempts = 1 // a login waits for one answer; a retry would double its wait
	})
	c.lambdas[region] = l
	return l
}

// callLambda invokes an AWS_LAMBDA provider and returns its answer.
func (c *Client) callLambda(ctx context.Context, srv *transfer.Server, q Query) (Call, error) {
	arn := srv.IdentityProviderDetails.Function
	call := Call{URL: arn}
	if c.opts.Credentials == nil {
		return call, fail(Unreachable, call, "invoking a Lambda function needs AWS credentials, and none are configured (IdentityProviders.AccessKeyId, or the AWS credential chain)")
	}
	ev := lambdaEvent{Username: q.UserName, Protocol: q.Protocol, ServerID: srv.ServerID, SourceIP: q.SourceIP}
	if q.HasPassword {
		ev.Password = &q.Password
	}
	payload, err := json.Marshal(ev)
	if err != nil {
		return call, fail(Unreachable, call, "encoding the event: %v", err)
	}
	region, name, qualifier := functionTarget(arn, c.opts.LambdaEndpoint != "", c.opts.Region)
	in := &lambda.InvokeInput{FunctionName: aws.String(name), InvocationType: types.InvocationTypeRequestResponse, Payload: payload}
	if qualifier != "" {
		in.Qualifier = aws.String(qualifier)
	}
	out, err := c.lambdaClient(region).Invoke(ctx, in)
	if err != nil {
		return call, fail(Unreachable, call, "invoking %s: %s", name, describeTransportError(ctx, err))
	}
	call.StatusCode = int(out.StatusCode)
	call.Body = out.Payload
	if int64(len(call.Body)) > c.opts.MaxResponseBytes {
		call.Body = call.Body[:c.opts.MaxResponseBytes]
		return call, fail(BadResponse, call, "the answer is longer than %d bytes", c.opts.MaxResponseBytes)
	}
	if fe := aws.ToString(out.FunctionError); fe != "" {
		if q.HasPassword {
			// A function's error text may quote its input, the password with it.
			return call, fail(BadResponse, call, "the function failed (%s); its message is not recorded for password logins", fe)
		}
		return call, fail(BadResponse, call, "the function failed (%s): %s", fe, functionErrorMessage(out.Payload))
	}
	return call, nil
}

// functionErrorMessage is the errorMessage of a failed function's payload, or the payload.
func functionErrorMessage(payload []byte) string {
	var e struct {
		ErrorMessage string `json:"errorMessage"`
		ErrorType    string `json:"errorType"`
	}
	if json.Unmarshal(payload, &e) == nil && e.ErrorMessage != "" {
		if e.ErrorType != "" {
			return e.ErrorType + ": " + e.ErrorMessage
		}
		return e.ErrorMessage
	}
	const keep = 200
	if len(payload) > keep {
		return string(payload[:keep]) + "..."
	}
	return string(payload)
}

// Invoke invokes a Lambda function with payload and waits for it to end, as a workflow's CUSTOM
// step does (the same client and settings as AWS_LAMBDA providers; the function reports the
// step's outcome itself, with SendWorkflowStepState). An error is a failed invocation: the
// function unreachable, or failing (its error message then says why).
func (c *Client) Invoke(ctx context.Context, functionARN string, payload []byte) error {
	if c.opts.Credentials == nil {
		return errors.New("invoking a Lambda function needs AWS credentials, and none are configured (IdentityProviders.AccessKeyId, or the AWS credential chain)")
	}
	region, name, qualifier := functionTarget(functionARN, c.opts.LambdaEndpoint != "", c.opts.Region)
	in := &lambda.InvokeInput{FunctionName: aws.String(name), InvocationType: types.InvocationTypeRequestResponse, Payload: payload}
	if qualifier != "" {
		in.Qualifier = aws.String(qualifier)
	}
	out, err := c.stepClient(region).Invoke(ctx, in)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("invoking %s: %s", name, describeTransportError(ctx, err))
	}
	if fe := aws.ToString(out.FunctionError); fe != "" {
		return fmt.Errorf("the function failed (%s): %s", fe, functionErrorMessage(out.Payload))
	}
	return nil
}

// stepClient returns the Lambda client for workflow steps in a region, made once: the
// providers' settings, but no wait for response headers, which come only when a step's function
// returns (bounded by the step's timeout instead).
func (c *Client) stepClient(region string) invoker {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l, ok := c.steps[region]; ok {
		return l
	}
	tr := c.http.Transport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = 0
	o := lambda.Options{Region: region, Credentials: c.opts.Credentials, HTTPClient: &http.Client{Transport: tr}}
	if c.opts.LambdaEndpoint != "" {
		o.BaseEndpoint = aws.String(c.opts.LambdaEndpoint)
	}
	l := lambda.New(o, func(o *lambda.Options) {
		o.RetryMaxAttempts = 1 // a retry would run the function twice
	})
	c.steps[region] = l
	return l
}
