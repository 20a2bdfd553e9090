package mgmtapi_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/transfer"

	"github.com/transferd/transferd/internal/mgmtapi"
)

// TestAudit checks the audit trail: one event per request, accepted or refused, in CloudTrail's
// shape, with host private keys and passwords redacted, the IDs a change made in its response
// elements, and none for reads.
func TestAudit(t *testing.T) {
	t.Parallel()
	var (
		mu     sync.Mutex
		events []mgmtapi.AuditEvent
	)
	e := newEnvWith(t, envOptions{audit: func(ev mgmtapi.AuditEvent) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, ev)
	}})
	ctx := context.Background()
	pem := hostKeyPEM(t)
	out, err := e.client.CreateServer(ctx, &transfer.CreateServerInput{HostKey: aws.String(pem)})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(out.ServerId)
	if _, err := e.client.ImportHostKey(ctx, &transfer.ImportHostKeyInput{ServerId: aws.String(id), HostKeyBody: aws.String(hostKeyPEM(t))}); err != nil {
		t.Fatal(err)
	}
	e.client.TestIdentityProvider(ctx, &transfer.TestIdentityProviderInput{ServerId: aws.String(id), UserName: aws.String("alice"), UserPassword: aws.String("pw-s3cret")})
	if _, err := e.client.DescribeServer(ctx, &transfer.DescribeServerInput{ServerId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	e.do(e.rawRequest("ListServers", "{}"))                       // unsigned
	e.call("FrobnicateServer", "{}")                              // unknown
	e.call("DeleteServer", `{"ServerId": "s-00000000000000000"}`) // refused: no such server

	mu.Lock()
	defer mu.Unlock()
	names := []string{}
	for _, ev := range events {
		names = append(names, ev.EventName)
		line, _ := json.Marshal(ev)
		if strings.Contains(string(line), "PRIVATE KEY") || strings.Contains(string(line), "pw-s3cret") {
			t.Errorf("%s: a secret in the audit event: %s", ev.EventName, line)
		}
		if ev.EventSource != "transfer.amazonaws.com" || ev.AWSRegion != region || ev.RecipientAccountID != "123456789012" ||
			ev.EventID == "" || ev.RequestID == "" || ev.EventTime == "" || ev.EventType != "AwsApiCall" || ev.SourceIPAddress != "127.0.0.1" {
			t.Errorf("%s: common fields: %s", ev.EventName, line)
		}
	}
	if want := "CreateServer ImportHostKey TestIdentityProvider DescribeServer ListServers FrobnicateServer DeleteServer"; strings.Join(names, " ") != want {
		t.Fatalf("events %q, want %q", names, want)
	}
	create, importKey, test, describe, unsigned, unknown, refused := events[0], events[1], events[2], events[3], events[4], events[5], events[6]
	if create.RequestParameters["HostKey"] != "HIDDEN_DUE_TO_SECURITY_REASONS" || create.ResponseElements["ServerId"] != id ||
		create.ReadOnly || create.UserIdentity.AccessKeyID != e.creds.AccessKeyID || create.ErrorCode != "" {
		t.Errorf("CreateServer event: %+v", create)
	}
	if importKey.RequestParameters["HostKeyBody"] != "HIDDEN_DUE_TO_SECURITY_REASONS" || importKey.RequestParameters["ServerId"] != id ||
		importKey.ResponseElements["HostKeyId"] == nil {
		t.Errorf("ImportHostKey event: %+v", importKey)
	}
	if test.RequestParameters["UserPassword"] != "HIDDEN_DUE_TO_SECURITY_REASONS" || !test.ReadOnly {
		t.Errorf("TestIdentityProvider event: %+v", test)
	}
	if !describe.ReadOnly || describe.ResponseElements != nil {
		t.Errorf("DescribeServer event: readOnly %v, responseElements %v; want a read with none", describe.ReadOnly, describe.ResponseElements)
	}
	if unsigned.ErrorCode == "" || unsigned.UserIdentity.Type != "Unknown" || unsigned.UserIdentity.AccessKeyID != "" {
		t.Errorf("unsigned request's event: %+v", unsigned)
	}
	if unknown.ErrorCode != "UnknownOperationException" {
		t.Errorf("unknown operation's event: %+v", unknown)
	}
	if refused.ErrorCode != "ResourceNotFoundException" || refused.ErrorMessage == "" || refused.ResponseElements != nil ||
		refused.RequestParameters["ServerId"] != "s-00000000000000000" {
		t.Errorf("refused DeleteServer's event: %+v", refused)
	}
}
