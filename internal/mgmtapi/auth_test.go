package mgmtapi_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/transfer"
	"github.com/aws/smithy-go"

	"github.com/transferd/transferd/internal/mgmtapi"
)

func TestSDKAuthFailures(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	other := mgmtapi.NewCredentials()
	tests := []struct {
		name, accessKeyID, secret string
		wantCode, wantMessage     string
	}{
		{"wrong secret", e.creds.AccessKeyID, other.SecretAccessKey, "InvalidSignatureException",
			"The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."},
		{"unknown access key", other.AccessKeyID, other.SecretAccessKey, "UnrecognizedClientException",
			"The security token included in the request is invalid."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { // not parallel: the log is checked below
			_, err := e.sdk(tt.accessKeyID, tt.secret).ListServers(context.Background(), &transfer.ListServersInput{})
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != tt.wantCode || ae.ErrorMessage() != tt.wantMessage {
				t.Errorf("got %v, want %s %q", err, tt.wantCode, tt.wantMessage)
			}
		})
	}
	// Neither the secrets nor signatures reach the log; the access key IDs do.
	logs := e.logs.String()
	for _, secret := range []string{e.creds.SecretAccessKey, other.SecretAccessKey, "Signature="} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log holds a secret or signature %.12s...", secret)
		}
	}
	if !strings.Contains(logs, "access_key_id="+other.AccessKeyID) || !strings.Contains(logs, "error_code=InvalidSignatureException") {
		t.Errorf("the log lacks the failed requests:\n%s", logs)
	}
}

// TestSDKCorrectsClockSkew checks that the Date header lets the SDK correct its clock: the
// server's clock is an hour ahead, the first attempt fails, the retry succeeds.
func TestSDKCorrectsClockSkew(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, envOptions{now: func() time.Time { return time.Now().Add(time.Hour) }})
	if _, err := e.client.ListServers(context.Background(), &transfer.ListServersInput{}); err != nil {
		t.Fatalf("ListServers: %v", err)
	}
	if !strings.Contains(e.logs.String(), "Signature expired") && !strings.Contains(e.logs.String(), "error_code=InvalidSignatureException") {
		t.Errorf("the first attempt did not fail as skewed:\n%s", e.logs.String())
	}
}

// TestRawAuth checks signature verification with requests built by hand.
func TestRawAuth(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const body = `{}`
	now := time.Now().UTC()
	signed := func(at time.Time) func(*http.Request) *http.Request {
		return func(req *http.Request) *http.Request { return e.sign(req, body, at) }
	}
	// resign replaces the Authorization header of a signed request after edit changes it.
	resign := func(edit func(string) string) func(*http.Request) *http.Request {
		return func(req *http.Request) *http.Request {
			e.sign(req, body, now)
			req.Header.Set("Authorization", edit(req.Header.Get("Authorization")))
			return req
		}
	}
	tests := []struct {
		name        string
		prepare     func(*http.Request) *http.Request
		wantStatus  int
		wantCode    string
		wantMessage string
	}{
		{"SDK-style", signed(now), 200, "", ""},
		{"CLI-style", func(req *http.Request) *http.Request { return signLikeCLI(t, req, e.creds, body, now) }, 200, "", ""},
		{"other region", func(req *http.Request) *http.Request {
			sum := sha256.Sum256([]byte(body))
			creds := aws.Credentials{AccessKeyID: e.creds.AccessKeyID, SecretAccessKey: e.creds.SecretAccessKey}
			if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "transfer", "eu-west-3", now); err != nil {
				t.Fatal(err)
			}
			return req
		}, 200, "", ""},
		{"no Authorization", func(req *http.Request) *http.Request { return req }, 400, "MissingAuthenticationTokenException", "Missing Authentication Token"},
		{"presigned", func(req *http.Request) *http.Request {
			req.URL.RawQuery = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=00"
			return req
		}, 400, "IncompleteSignatureException", "query string"},
		{"expired", signed(now.Add(-20 * time.Minute)), 403, "InvalidSignatureException", "Signature expired: " + now.Add(-20*time.Minute).Format("20060102T150405Z") + " is now earlier than "},
		{"from the future", signed(now.Add(20 * time.Minute)), 403, "InvalidSignatureException", "Signature not yet current: "},
		{"just inside the skew", signed(now.Add(-14 * time.Minute)), 200, "", ""},
		{"body changed", func(req *http.Request) *http.Request {
			e.sign(req, `{"MaxResults":5}`, now)
			return req
		}, 403, "InvalidSignatureException", "The request signature we calculated does not match"},
		{"signed header changed", func(req *http.Request) *http.Request {
			e.sign(req, body, now)
			req.Header.Set("X-Amz-Target", "TransferService.ListUsers")
			return req
		}, 403, "InvalidSignatureException", "The request signature we calculated does not match"},
		{"content hash mismatch", func(req *http.Request) *http.Request {
			req.Header.Set("X-Amz-Content-Sha256", strings.Repeat("0", 64))
			return e.sign(req, body, now)
		}, 403, "InvalidSignatureException", "x-amz-content-sha256"},
		{"content hash", func(req *http.Request) *http.Request {
			sum := sha256.Sum256([]byte(body))
			req.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
			return e.sign(req, body, now)
		}, 200, "", ""},
		{"session token", func(req *http.Request) *http.Request {
			req.Header.Set("X-Amz-Security-Token", "token")
			return e.sign(req, body, now)
		}, 403, "UnrecognizedClientException", "The security token included in the request is invalid."},
		{"SigV2", resign(func(string) string { return "AWS " + e.creds.AccessKeyID + ":c2lnbmF0dXJl" }), 400, "IncompleteSignatureException", "AWS4-HMAC-SHA256"},
		{"no Signature", resign(func(a string) string { return a[:strings.Index(a, ", Signature=")] }), 400, "IncompleteSignatureException", "Authorization header requires 'Signature' parameter."},
		{"no SignedHeaders", resign(func(a string) string {
			i, j := strings.Index(a, "SignedHeaders="), strings.Index(a, ", Signature=")
			return a[:i] + a[j+2:]
		}), 400, "IncompleteSignatureException", "Authorization header requires 'SignedHeaders' parameter."},
		{"other service", resign(func(a string) string { return strings.Replace(a, "/transfer/", "/s3/", 1) }), 400, "IncompleteSignatureException", "Credential should be scoped to correct service: 'transfer'."},
		{"bad terminator", resign(func(a string) string { return strings.Replace(a, "/aws4_request", "/aws5_request", 1) }), 400, "IncompleteSignatureException", "terminator"},
		{"short scope", resign(func(a string) string { return strings.Replace(a, "/us-east-1/", "/", 1) }), 400, "IncompleteSignatureException", "Credential must have the form"},
		{"host not signed", resign(func(a string) string { return strings.Replace(a, ";host;", ";", 1) }), 400, "IncompleteSignatureException", "SignedHeaders must include 'host'."},
		{"date not signed", resign(func(a string) string { return strings.Replace(a, ";x-amz-date", "", 1) }), 400, "IncompleteSignatureException", "SignedHeaders must include 'x-amz-date'."},
		{"scope date differs", resign(func(a string) string {
			return strings.Replace(a, "/"+now.Format("20060102")+"/", "/"+now.AddDate(0, 0, -1).Format("20060102")+"/", 1)
		}), 400, "IncompleteSignatureException", "Date in Credential scope does not match"},
		{"no X-Amz-Date", func(req *http.Request) *http.Request {
			e.sign(req, body, now)
			req.Header.Del("X-Amz-Date")
			return req
		}, 400, "IncompleteSignatureException", "X-Amz-Date"},
		{"bad X-Amz-Date", func(req *http.Request) *http.Request {
			e.sign(req, body, now)
			req.Header.Set("X-Amz-Date", now.Format(time.RFC3339))
			return req
		}, 400, "IncompleteSignatureException", "X-Amz-Date"},
		{"unknown access key", resign(func(a string) string { return strings.Replace(a, e.creds.AccessKeyID, "AKIAAAAAAAAAAAAAAAAA", 1) }), 403, "UnrecognizedClientException", "The security token included in the request is invalid."},
		{"signature changed", resign(func(a string) string { return a[:len(a)-4] + "0000" }), 403, "InvalidSignatureException", "The request signature we calculated does not match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp := e.do(tt.prepare(e.rawRequest("ListServers", body)))
			if resp.status != tt.wantStatus {
				t.Errorf("status %d, want %d; body %s", resp.status, tt.wantStatus, resp.body)
			}
			if tt.wantCode == "" {
				return
			}
			code, msg := resp.errorCode(t)
			if code != tt.wantCode || !strings.Contains(msg, tt.wantMessage) {
				t.Errorf("error %s %q, want %s containing %q", code, msg, tt.wantCode, tt.wantMessage)
			}
			if strings.Contains(msg, e.creds.SecretAccessKey) {
				t.Error("the message holds the secret key")
			}
		})
	}
}

// signLikeCLI signs req as the AWS CLI (botocore) does: only content-type, host, x-amz-date and
// x-amz-target are signed; the other headers travel unsigned.
func signLikeCLI(t *testing.T, req *http.Request, c mgmtapi.Credentials, body string, at time.Time) *http.Request {
	t.Helper()
	only, err := http.NewRequest(req.Method, req.URL.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"Content-Type", "X-Amz-Target"} {
		only.Header.Set(h, req.Header.Get(h))
	}
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, only, hex.EncodeToString(sum[:]), "transfer", region, at); err != nil {
		t.Fatal(err)
	}
	if a := only.Header.Get("Authorization"); !strings.Contains(a, "SignedHeaders=content-type;host;x-amz-date;x-amz-target,") {
		t.Fatalf("the CLI-style request signs other headers: %s", a)
	}
	req.Header.Set("Authorization", only.Header.Get("Authorization"))
	req.Header.Set("X-Amz-Date", only.Header.Get("X-Amz-Date"))
	req.Header.Set("User-Agent", "aws-cli/2.9.19 Python/3.11.2 Linux/6.1 source/x86_64.debian.12 prompt/off command/transfer.list-servers")
	req.Header.Set("Content-Length", "2") // sent, as the CLI does, but not signed
	return req
}
