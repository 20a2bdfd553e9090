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

// lambdaClient returns the providers' Lambda client for a region, made once.
func (c *Client) lambdaClient(region string) invoker { return c.lambdaFor(c.lambdas, region, c.http) }

// stepClient returns the workflow steps' Lambda client for a region, made once: the providers'
// settings, but no wait for response headers, which come only when a step's function returns
// (bounded by the step's timeout instead).
func (c *Client) stepClient(region string) invoker {
	c.mu.Lock()
	hc := c.stepHTTP
	if hc == nil {
		tr := c.http.Transport.(*http.Transport).Clone()
		tr.ResponseHeaderTimeout = 0
		hc = &http.Client{Transport: tr}
		c.stepHTTP = hc
	}
	c.mu.Unlock()
	return c.lambdaFor(c.steps, region, hc)
}

// lambdaFor returns cache's client for a region, made once over hc. It makes one attempt: a login
// waits for one answer, and a retry would run a step's function twice.
func (c *Client) lambdaFor(cache map[string]invoker, region string, hc *http.Client) invoker {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l, ok := cache[region]; ok {
		return l
	}
	o := lambda.Options{Region: region, Credentials: c.opts.Credentials, HTTPClient: hc}
	if c.opts.LambdaEndpoint != "" {
		o.BaseEndpoint = aws.String(c.opts.LambdaEndpoint)
	}
	l := lambda.New(o, func(o *lambda.Options) { o.RetryMaxAttempts = 1 })
	cache[region] = l
	return l
}

// invokeInput is the request invoking a function ARN with payload, and the region to call.
func (c *Client) invokeInput(functionARN string, payload []byte) (string, *lambda.InvokeInput) {
	region, name, qualifier := functionTarget(functionARN, c.opts.LambdaEndpoint != "", c.opts.Region)
	in := &lambda.InvokeInput{FunctionName: aws.String(name), InvocationType: types.InvocationTypeRequestResponse, Payload: payload}
	if qualifier != "" {
		in.Qualifier = aws.String(qualifier)
	}
	return region, in
}

// errNoCredentials refuses an invocation without AWS credentials.
const errNoCredentials = "invoking a Lambda function needs AWS credentials, and none are configured (IdentityProviders.AccessKeyId, or the AWS credential chain)"

// callLambda invokes an AWS_LAMBDA provider and returns its answer.
func (c *Client) callLambda(ctx context.Context, srv *transfer.Server, q Query) (Call, error) {
	arn := srv.IdentityProviderDetails.Function
	call := Call{URL: arn}
	if c.opts.Credentials == nil {
		return call, fail(Unreachable, call, errNoCredentials)
	}
	ev := lambdaEvent{Username: q.UserName, Protocol: q.Protocol, ServerID: srv.ServerID, SourceIP: q.SourceIP}
	if q.HasPassword {
		ev.Password = &q.Password
	}
	payload, err := json.Marshal(ev)
	if err != nil {
		return call, fail(Unreachable, call, "encoding the event: %v", err)
	}
	region, in := c.invokeInput(arn, payload)
	out, err := c.lambdaClient(region).Invoke(ctx, in)
	if err != nil {
		return call, fail(Unreachable, call, "invoking %s: %s", aws.ToString(in.FunctionName), describeTransportError(ctx, err))
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
		return errors.New(errNoCredentials)
	}
	region, in := c.invokeInput(functionARN, payload)
	out, err := c.stepClient(region).Invoke(ctx, in)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("invoking %s: %s", aws.ToString(in.FunctionName), describeTransportError(ctx, err))
	}
	if fe := aws.ToString(out.FunctionError); fe != "" {
		return fmt.Errorf("the function failed (%s): %s", fe, functionErrorMessage(out.Payload))
	}
	return nil
}
