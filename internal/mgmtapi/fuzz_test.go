package mgmtapi_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/transferd/transferd/internal/control"
	"github.com/transferd/transferd/internal/metastore"
	"github.com/transferd/transferd/internal/mgmtapi"
	"github.com/transferd/transferd/internal/policy"
)

// fuzzOps are the operations FuzzAPI sends bodies to, by the body's first byte.
var fuzzOps = []string{
	"CreateServer", "DescribeServer", "UpdateServer", "DeleteServer", "ListServers", "StartServer", "StopServer",
	"CreateUser", "DescribeUser", "UpdateUser", "DeleteUser", "ListUsers", "ImportSshPublicKey", "DeleteSshPublicKey",
	"TagResource", "UntagResource", "ListTagsForResource", "ImportHostKey", "DescribeHostKey", "ListHostKeys",
	"DeleteHostKey", "UpdateHostKey", "DescribeSecurityPolicy", "ListSecurityPolicies", "TestIdentityProvider", "NoSuchOperation",
}

// FuzzAPI sends the management API requests it has never seen: signed requests with arbitrary
// JSON bodies to every operation (the request decoder and the control plane behind it), and
// requests with an arbitrary Authorization header and target (the SigV4 parser). Every answer
// must be a well-formed AWS JSON 1.1 answer: 200, or a 4xx error with its __type; never a 5xx,
// which would be a bug.
func FuzzAPI(f *testing.F) {
	ctx := context.Background()
	store, err := metastore.OpenSQLite(ctx, filepath.Join(f.TempDir(), "state.db"), metastore.Options{})
	if err != nil {
		f.Fatal(err)
	}
	defer store.Close()
	catalog, err := policy.NewCatalog()
	if err != nil {
		f.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	creds := mgmtapi.NewCredentials()
	h := mgmtapi.New(mgmtapi.Options{
		Service:     control.New(control.Options{Store: store, Catalog: catalog, Endpoints: &ports{}, Logger: logger}),
		Credentials: []mgmtapi.Credentials{creds},
		Logger:      logger,
	})
	for i, seed := range []string{
		`{}`, `{"ServerId":"s-0123456789abcdef0"}`, `{"Tags":[{"Key":"transferd:MaxStartups","Value":"1:2:3"}]}`,
		`{"ServerId":"s-0123456789abcdef0","UserName":"alice","Role":"arn:aws:iam::1:role/r","HomeDirectoryType":"LOGICAL","HomeDirectoryMappings":[{"Entry":"/","Target":"/b/${transfer:UserName}"}],"Policy":"{\"Version\":\"2012-10-17\",\"Statement\":[]}"}`,
		`{"SecurityPolicyName":"TransferSecurityPolicy-2024-01"}`, `{"MaxResults":1,"NextToken":"x"}`, `[1,2`, `null`,
	} {
		f.Add(byte(i), []byte(seed), "")
	}
	f.Add(byte(0), []byte(`{}`), "AWS4-HMAC-SHA256 Credential=AKIA/20261204/us-east-1/transfer/aws4_request, SignedHeaders=host;x-amz-date, Signature=00")
	f.Add(byte(3), []byte(`{}`), "AWS4-HMAC-SHA256 Credential=, SignedHeaders=, Signature=")
	f.Fuzz(func(t *testing.T, op byte, body []byte, auth string) {
		name := fuzzOps[int(op)%len(fuzzOps)]
		req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1/", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		req.Header.Set("X-Amz-Target", "TransferService."+name)
		if auth != "" {
			req.Header.Set("X-Amz-Date", time.Now().UTC().Format("20060102T150405Z"))
			req.Header.Set("Authorization", auth)
		} else {
			sum := sha256.Sum256(body)
			c := aws.Credentials{AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey}
			if err := v4.NewSigner().SignHTTP(ctx, c, req, hex.EncodeToString(sum[:]), "transfer", region, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("%s %q: status %d: %s", name, body, w.Code, w.Body.String())
		}
		if ct := w.Header().Get("Content-Type"); ct != "application/x-amz-json-1.1" {
			t.Fatalf("%s: Content-Type %q", name, ct)
		}
		var answer map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &answer); err != nil {
			t.Fatalf("%s %q: the answer %q is not a JSON object: %v", name, body, w.Body.String(), err)
		}
		if w.Code != http.StatusOK && answer["__type"] == nil {
			t.Fatalf("%s: status %d without __type: %s", name, w.Code, w.Body.String())
		}
	})
}
