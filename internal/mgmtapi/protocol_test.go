package mgmtapi_test

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/transfer"
	"github.com/aws/aws-sdk-go-v2/service/transfer/types"

	"github.com/transferd/transferd/internal/control"
	"github.com/transferd/transferd/internal/mgmtapi"
	tf "github.com/transferd/transferd/internal/transfer"
)

// TestErrorTypes checks that each modeled error reaches the SDK as its typed error.
func TestErrorTypes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	id := e.createServer()
	role := aws.String("arn:aws:iam::000000000000:role/transfer")
	if _, err := e.client.CreateUser(ctx, &transfer.CreateUserInput{ServerId: &id, UserName: aws.String("bob"), Role: role}); err != nil {
		t.Fatal(err)
	}
	const unknown = "s-0123456789abcdef0"

	tests := []struct {
		name string
		call func() error
		// check inspects the typed error; it returns "" when the error is right.
		check func(err error) string
	}{
		{"unknown server", func() error {
			_, err := e.client.DescribeServer(ctx, &transfer.DescribeServerInput{ServerId: aws.String(unknown)})
			return err
		}, func(err error) string {
			var nf *types.ResourceNotFoundException
			if !errors.As(err, &nf) || aws.ToString(nf.Resource) != unknown || aws.ToString(nf.ResourceType) != "Server" || nf.ErrorMessage() != "Unknown server" {
				return "want ResourceNotFoundException Server " + unknown + " \"Unknown server\""
			}
			return ""
		}},
		{"unknown user", func() error {
			_, err := e.client.DeleteUser(ctx, &transfer.DeleteUserInput{ServerId: &id, UserName: aws.String("nobody")})
			return err
		}, func(err error) string {
			var nf *types.ResourceNotFoundException
			if !errors.As(err, &nf) || aws.ToString(nf.ResourceType) != "User" || aws.ToString(nf.Resource) == "" {
				return "want ResourceNotFoundException User"
			}
			return ""
		}},
		{"unknown security policy", func() error {
			_, err := e.client.DescribeSecurityPolicy(ctx, &transfer.DescribeSecurityPolicyInput{SecurityPolicyName: aws.String("TransferSecurityPolicy-1999-01")})
			return err
		}, func(err error) string {
			var nf *types.ResourceNotFoundException
			if !errors.As(err, &nf) || aws.ToString(nf.ResourceType) == "" || aws.ToString(nf.Resource) == "" {
				return "want ResourceNotFoundException with Resource and ResourceType"
			}
			return ""
		}},
		{"user exists", func() error {
			_, err := e.client.CreateUser(ctx, &transfer.CreateUserInput{ServerId: &id, UserName: aws.String("bob"), Role: role})
			return err
		}, func(err error) string {
			var ex *types.ResourceExistsException
			if !errors.As(err, &ex) || aws.ToString(ex.ResourceType) != "User" || aws.ToString(ex.Resource) == "" {
				return "want ResourceExistsException User"
			}
			return ""
		}},
		{"malformed server ID", func() error {
			_, err := e.client.DescribeServer(ctx, &transfer.DescribeServerInput{ServerId: aws.String("s-0")})
			return err
		}, wantInvalidRequest(`ServerId: "s-0" must match ^s-([0-9a-f]{17})$`)},
		{"malformed user name", func() error {
			_, err := e.client.DescribeUser(ctx, &transfer.DescribeUserInput{ServerId: &id, UserName: aws.String("-x")})
			return err
		}, wantInvalidRequest("UserName: ")},
		{"malformed host key ID", func() error {
			_, err := e.client.DescribeHostKey(ctx, &transfer.DescribeHostKeyInput{ServerId: &id, HostKeyId: aws.String("key-1")})
			return err
		}, wantInvalidRequest("HostKeyId: ")},
		{"malformed SSH public key ID", func() error {
			_, err := e.client.DeleteSshPublicKey(ctx, &transfer.DeleteSshPublicKeyInput{ServerId: &id, UserName: aws.String("bob"), SshPublicKeyId: aws.String("hostkey-1")})
			return err
		}, wantInvalidRequest("SshPublicKeyId: ")},
		{"MaxResults 0", func() error {
			_, err := e.client.ListServers(ctx, &transfer.ListServersInput{MaxResults: aws.Int32(0)})
			return err
		}, wantInvalidRequest("MaxResults: 0 must be between 1 and 1000")},
		{"MaxResults 1001", func() error {
			_, err := e.client.ListUsers(ctx, &transfer.ListUsersInput{ServerId: &id, MaxResults: aws.Int32(1001)})
			return err
		}, wantInvalidRequest("MaxResults: 1001 must be between 1 and 1000")},
		{"NextToken too long", func() error {
			_, err := e.client.ListServers(ctx, &transfer.ListServersInput{NextToken: aws.String(strings.Repeat("a", 6145))})
			return err
		}, wantInvalidRequest("NextToken: ")},
		{"bad user key", func() error {
			_, err := e.client.ImportSshPublicKey(ctx, &transfer.ImportSshPublicKeyInput{ServerId: &id, UserName: aws.String("bob"), SshPublicKeyBody: aws.String("ssh-rsa AAAA")})
			return err
		}, wantInvalidRequest("SshPublicKeyBody: ")},
		{"VPC endpoint", func() error {
			_, err := e.client.CreateServer(ctx, &transfer.CreateServerInput{EndpointType: types.EndpointTypeVpc})
			return err
		}, wantInvalidRequest("EndpointType VPC is not supported by transferd")},
		{"dual stack", func() error {
			_, err := e.client.UpdateServer(ctx, &transfer.UpdateServerInput{ServerId: &id, IpAddressType: types.IpAddressTypeDualstack})
			return err
		}, wantInvalidRequest("IpAddressType DUALSTACK is not supported by transferd")},
		{"identity provider details of service-managed users", func() error {
			_, err := e.client.CreateServer(ctx, &transfer.CreateServerInput{IdentityProviderDetails: &types.IdentityProviderDetails{Url: aws.String("https://example.com")}})
			return err
		}, wantInvalidRequest("IdentityProviderDetails: must be empty with IdentityProviderType SERVICE_MANAGED")},
		{"directory service", func() error {
			_, err := e.client.CreateServer(ctx, &transfer.CreateServerInput{IdentityProviderType: types.IdentityProviderTypeAwsDirectoryService,
				IdentityProviderDetails: &types.IdentityProviderDetails{DirectoryId: aws.String("d-0123456789")}})
			return err
		}, wantInvalidRequest("IdentityProviderDetails.DirectoryId is not supported by transferd")},
		{"certificate", func() error {
			_, err := e.client.CreateServer(ctx, &transfer.CreateServerInput{Certificate: aws.String("arn:aws:acm:us-east-1:000000000000:certificate/x")})
			return err
		}, wantInvalidRequest("Certificate is not supported by transferd")},
		{"unknown workflow", func() error {
			_, err := e.client.UpdateServer(ctx, &transfer.UpdateServerInput{ServerId: &id, WorkflowDetails: &types.WorkflowDetails{
				OnUpload: []types.WorkflowDetail{{WorkflowId: aws.String("w-0123456789abcdefg"), ExecutionRole: aws.String("arn:aws:iam::000000000000:role/wf")}},
			}})
			return err
		}, wantInvalidRequest("WorkflowDetails.OnUpload[0].WorkflowId: there is no workflow w-0123456789abcdefg")},
		{"structured logs", func() error {
			_, err := e.client.CreateServer(ctx, &transfer.CreateServerInput{StructuredLogDestinations: []string{"arn:aws:logs:us-east-1:000000000000:log-group:x"}})
			return err
		}, wantInvalidRequest("StructuredLogDestinations is not supported by transferd")},
		{"FTP passive IP", func() error {
			_, err := e.client.CreateServer(ctx, &transfer.CreateServerInput{ProtocolDetails: &types.ProtocolDetails{PassiveIp: aws.String("192.0.2.1")}})
			return err
		}, wantInvalidRequest("ProtocolDetails.PassiveIp is not supported by transferd")},
		{"invalid next token", func() error {
			_, err := e.client.ListUsers(ctx, &transfer.ListUsersInput{ServerId: &id, NextToken: aws.String("bm90IGEgdG9rZW4")})
			return err
		}, func(err error) string {
			var it *types.InvalidNextTokenException
			if !errors.As(err, &it) {
				return "want InvalidNextTokenException"
			}
			return ""
		}},
		{"token of another list", func() error {
			out, err := e.client.ListSecurityPolicies(ctx, &transfer.ListSecurityPoliciesInput{MaxResults: aws.Int32(1)})
			if err != nil {
				return err
			}
			_, err = e.client.ListServers(ctx, &transfer.ListServersInput{NextToken: out.NextToken})
			return err
		}, func(err error) string {
			var it *types.InvalidNextTokenException
			if !errors.As(err, &it) {
				return "want InvalidNextTokenException"
			}
			return ""
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.call()
			if err == nil {
				t.Fatal("no error")
			}
			if problem := tt.check(err); problem != "" {
				t.Errorf("got %v (%T); %s", err, err, problem)
			}
		})
	}
}

func wantInvalidRequest(prefix string) func(error) string {
	return func(err error) string {
		var ir *types.InvalidRequestException
		if !errors.As(err, &ir) || !strings.HasPrefix(ir.ErrorMessage(), prefix) {
			return "want InvalidRequestException starting " + prefix
		}
		return ""
	}
}

// conflicting is a control plane whose StartServer always conflicts and whose StopServer fails.
type conflicting struct{ mgmtapi.Service }

func (conflicting) StartServer(context.Context, string) error {
	return tf.Conflict("Server", "s-0123456789abcdef0", "Server s-0123456789abcdef0 is being deleted")
}

func (conflicting) StopServer(context.Context, string) error {
	return errors.New("database on fire")
}

func TestServiceErrors(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, envOptions{service: func(real *control.Service) mgmtapi.Service { return conflicting{real} }})
	client := e.sdk(e.creds.AccessKeyID, e.creds.SecretAccessKey, func(o *transfer.Options) { o.RetryMaxAttempts = 1 })
	ctx := context.Background()
	id := aws.String("s-0123456789abcdef0")

	_, err := client.StartServer(ctx, &transfer.StartServerInput{ServerId: id})
	if code, msg := apiError(t, err); code != "ConflictException" || msg != "Server s-0123456789abcdef0 is being deleted" {
		t.Errorf("StartServer: %s %q", code, msg)
	}
	_, err = client.StopServer(ctx, &transfer.StopServerInput{ServerId: id})
	var ise *types.InternalServiceError
	if !errors.As(err, &ise) || strings.Contains(ise.ErrorMessage(), "fire") {
		t.Errorf("StopServer: %v; want an InternalServiceError that does not tell the cause", err)
	}
	if logs := e.logs.String(); !regexp.MustCompile(`level=ERROR .*operation=StopServer.*error="database on fire"`).MatchString(logs) {
		t.Errorf("the internal error is not logged at ERROR:\n%s", logs)
	}
}

// TestProtocol drives the wire protocol with raw, correctly signed requests.
func TestProtocol(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.createServer()

	tests := []struct {
		name        string
		method      string
		path        string
		op          string
		contentType string
		body        string
		wantStatus  int
		wantCode    string
		wantMessage string // a part of it
	}{
		{name: "GET", method: http.MethodGet, op: "ListServers", wantStatus: 405, wantCode: "UnknownOperationException"},
		{name: "other path", path: "/servers", op: "ListServers", body: "{}", wantStatus: 404, wantCode: "UnknownOperationException"},
		{name: "no target", body: "{}", wantStatus: 400, wantCode: "IncompleteSignatureException", wantMessage: "SignedHeaders must include 'x-amz-target'"},
		{name: "unknown operation", op: "CreateConnector", body: "{}", wantStatus: 400, wantCode: "UnknownOperationException", wantMessage: "CreateConnector"},
		{name: "other service", op: "", body: "{}", wantStatus: 400, wantCode: "UnknownOperationException"},
		{name: "text body", op: "ListServers", contentType: "text/plain", body: "{}", wantStatus: 400, wantCode: "SerializationException", wantMessage: "Content-Type"},
		{name: "application/json", op: "ListServers", contentType: "application/json", body: "{}", wantStatus: 200},
		{name: "empty body", op: "ListServers", body: "", wantStatus: 200},
		{name: "malformed JSON", op: "ListServers", body: `{"MaxResults":`, wantStatus: 400, wantCode: "SerializationException"},
		{name: "not an object", op: "ListServers", body: `[1]`, wantStatus: 400, wantCode: "SerializationException"},
		{name: "two values", op: "ListServers", body: `{} {}`, wantStatus: 400, wantCode: "SerializationException"},
		{name: "wrong type", op: "DescribeServer", body: `{"ServerId":5}`, wantStatus: 400, wantCode: "SerializationException", wantMessage: "ServerId: expected a string"},
		{name: "wrong nested type", op: "TagResource", body: `{"Arn":"arn:aws:transfer:us-east-1:000000000000:server/` + id + `","Tags":[{"Key":"a","Value":1}]}`, wantStatus: 400, wantCode: "SerializationException", wantMessage: "Tags.Value"},
		{name: "fractional MaxResults", op: "ListServers", body: `{"MaxResults":1.5}`, wantStatus: 400, wantCode: "SerializationException", wantMessage: "MaxResults"},
		{name: "unknown member", op: "ListServers", body: `{"MaxResult":5}`, wantStatus: 400, wantCode: "SerializationException", wantMessage: "MaxResult is not a member"},
		{name: "member in other case", op: "DescribeServer", body: `{"serverId":"` + id + `"}`, wantStatus: 400, wantCode: "SerializationException", wantMessage: "serverId is not a member"},
		{name: "unknown nested member", op: "CreateUser", body: `{"ServerId":"` + id + `","UserName":"carol","Role":"arn:aws:iam::000000000000:role/x","PosixProfile":{"Uid":1,"Gid":1,"Shell":"/bin/sh"}}`, wantStatus: 400, wantCode: "SerializationException", wantMessage: "PosixProfile.Shell"},
		{name: "missing ServerId", op: "DescribeServer", body: `{}`, wantStatus: 400, wantCode: "InvalidRequestException", wantMessage: "ServerId: required member missing"},
		{name: "missing Role", op: "CreateUser", body: `{"ServerId":"` + id + `","UserName":"carol"}`, wantStatus: 400, wantCode: "InvalidRequestException", wantMessage: "Role: required member missing"},
		{name: "missing tag value", op: "TagResource", body: `{"Arn":"arn:aws:transfer:us-east-1:000000000000:server/` + id + `","Tags":[{"Key":"a"}]}`, wantStatus: 400, wantCode: "InvalidRequestException", wantMessage: "Tags[0].Value: required member missing"},
		{name: "missing TagKeys", op: "UntagResource", body: `{"Arn":"arn:aws:transfer:us-east-1:000000000000:server/` + id + `"}`, wantStatus: 400, wantCode: "InvalidRequestException", wantMessage: "TagKeys: required member missing"},
		{name: "missing Description", op: "UpdateHostKey", body: `{"ServerId":"` + id + `","HostKeyId":"hostkey-0123456789abcdef0"}`, wantStatus: 400, wantCode: "InvalidRequestException", wantMessage: "Description: required member missing"},
		{name: "negative Uid", op: "CreateUser", body: `{"ServerId":"` + id + `","UserName":"carol","Role":"arn:aws:iam::000000000000:role/x","PosixProfile":{"Uid":-1,"Gid":1}}`, wantStatus: 400, wantCode: "InvalidRequestException", wantMessage: "PosixProfile.Uid: -1"},
		{name: "two endpoint tags", op: "CreateServer", body: `{"Tags":[{"Key":"transferd:Endpoint","Value":"127.0.0.1:1"},{"Key":"transferd:Endpoint","Value":"127.0.0.1:2"}]}`, wantStatus: 400, wantCode: "InvalidRequestException", wantMessage: "transferd:Endpoint appears more than once"},
		{name: "null members", op: "ListServers", body: `{"MaxResults":null,"NextToken":null}`, wantStatus: 200},
		{name: "accepted defaults", op: "UpdateServer", body: `{"ServerId":"` + id + `","EndpointType":"PUBLIC","IpAddressType":"IPV4","EndpointDetails":null,"StructuredLogDestinations":[],"WorkflowDetails":{"OnUpload":[]},"ProtocolDetails":{"PassiveIp":"AUTO","TlsSessionResumptionMode":"ENFORCED","As2Transports":["HTTP"]},"S3StorageOptions":{"DirectoryListingOptimization":"DISABLED"}}`, wantStatus: 200},
		{name: "endpoint details", op: "UpdateServer", body: `{"ServerId":"` + id + `","EndpointDetails":{"VpcId":"vpc-1"}}`, wantStatus: 400, wantCode: "InvalidRequestException", wantMessage: "EndpointDetails is not supported by transferd"},
		{name: "unknown endpoint type", op: "UpdateServer", body: `{"ServerId":"` + id + `","EndpointType":"PRIVATE"}`, wantStatus: 400, wantCode: "InvalidRequestException", wantMessage: `EndpointType: "PRIVATE" must be`},
		{name: "too large", op: "ListServers", body: `{"NextToken":"` + strings.Repeat("a", 1<<20) + `"}`, wantStatus: 413, wantCode: "SerializationException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := e.rawRequest(tt.op, tt.body)
			if tt.name == "other service" {
				req.Header.Set("X-Amz-Target", "DynamoDB_20120810.ListTables")
			}
			if tt.method != "" {
				req.Method = tt.method
			}
			if tt.path != "" {
				req.URL.Path = tt.path
			}
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			resp := e.do(e.sign(req, tt.body, time.Now()))
			if resp.status != tt.wantStatus {
				t.Errorf("status %d, want %d; body %.300s", resp.status, tt.wantStatus, resp.body)
			}
			if tt.wantCode == "" {
				return
			}
			code, msg := resp.errorCode(t)
			if code != tt.wantCode || !strings.Contains(msg, tt.wantMessage) {
				t.Errorf("error %s %q, want %s containing %q", code, msg, tt.wantCode, tt.wantMessage)
			}
		})
	}
}

func TestNewCredentials(t *testing.T) {
	t.Parallel()
	a, b := mgmtapi.NewCredentials(), mgmtapi.NewCredentials()
	if !regexp.MustCompile(`^AKIA[A-Z2-7]{16}$`).MatchString(a.AccessKeyID) {
		t.Errorf("AccessKeyID %q", a.AccessKeyID)
	}
	if !regexp.MustCompile(`^[A-Za-z0-9+/]{40}$`).MatchString(a.SecretAccessKey) {
		t.Errorf("SecretAccessKey has the wrong shape (length %d)", len(a.SecretAccessKey))
	}
	if a == b {
		t.Error("two calls returned the same credentials")
	}
}
