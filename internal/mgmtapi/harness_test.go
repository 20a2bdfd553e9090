package mgmtapi_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/transfer"
	"github.com/aws/smithy-go"

	"github.com/transferd/transferd/internal/control"
	"github.com/transferd/transferd/internal/metastore"
	"github.com/transferd/transferd/internal/mgmtapi"
	"github.com/transferd/transferd/internal/policy"
)

const region = "us-east-1"

// env is a management API over a real control plane on SQLite, served on loopback.
type env struct {
	t       *testing.T
	url     string
	creds   mgmtapi.Credentials
	client  *transfer.Client
	catalog *policy.Catalog
	logs    *syncBuffer
}

// envOptions change how newEnv builds the API.
type envOptions struct {
	// service replaces the real control plane.
	service func(real *control.Service) mgmtapi.Service
	// now is the API's clock.
	now func() time.Time
	// audit gets the API's audit events.
	audit func(mgmtapi.AuditEvent)
}

// ports hands out distinct loopback addresses; nothing listens on them in these tests.
type ports struct {
	mu   sync.Mutex
	next int
}

func (p *ports) Allocate(inUse []string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		p.next++
		ep := fmt.Sprintf("127.0.0.1:%d", 40000+p.next)
		if !slices.Contains(inUse, ep) {
			return ep, nil
		}
	}
}

// syncBuffer is a log sink tests can read.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newEnv(t *testing.T) *env { return newEnvWith(t, envOptions{}) }

func newEnvWith(t *testing.T, o envOptions) *env {
	t.Helper()
	ctx := context.Background()
	store, err := metastore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "state.db"), metastore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	catalog, err := policy.NewCatalog()
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(io.MultiWriter(logs, t.Output()), &slog.HandlerOptions{Level: slog.LevelDebug}))
	var svc mgmtapi.Service = control.New(control.Options{Store: store, Catalog: catalog, Endpoints: &ports{}, Logger: logger})
	if o.service != nil {
		svc = o.service(svc.(*control.Service))
	}
	creds := mgmtapi.NewCredentials()
	srv := httptest.NewServer(mgmtapi.New(mgmtapi.Options{
		Service:     svc,
		Credentials: []mgmtapi.Credentials{mgmtapi.NewCredentials(), creds},
		Logger:      logger,
		Now:         o.now,
		Audit:       o.audit,
		Region:      region,
		Account:     "123456789012",
	}))
	t.Cleanup(srv.Close)
	e := &env{t: t, url: srv.URL, creds: creds, catalog: catalog, logs: logs}
	e.client = e.sdk(creds.AccessKeyID, creds.SecretAccessKey)
	return e
}

// sdk returns an AWS SDK client for the API with the given keys.
func (e *env) sdk(accessKeyID, secret string, optFns ...func(*transfer.Options)) *transfer.Client {
	return transfer.New(transfer.Options{
		Region:       region,
		BaseEndpoint: aws.String(e.url),
		Credentials:  credentials.NewStaticCredentialsProvider(accessKeyID, secret, ""),
	}, optFns...)
}

// response is a raw HTTP answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

// errorCode decodes an error body and checks that X-Amzn-ErrorType agrees with it.
func (r response) errorCode(t *testing.T) (code, message string) {
	t.Helper()
	var b struct {
		Type    string `json:"__type"`
		Message string
	}
	if err := json.Unmarshal(r.body, &b); err != nil {
		t.Fatalf("error body %q: %v", r.body, err)
	}
	if h := r.header.Get("X-Amzn-ErrorType"); h != b.Type {
		t.Errorf("X-Amzn-ErrorType %q, body __type %q", h, b.Type)
	}
	return b.Type, b.Message
}

// do sends req and checks the headers every answer carries.
func (e *env) do(req *http.Request) response {
	e.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		e.t.Errorf("Content-Type %q", ct)
	}
	if id := resp.Header.Get("X-Amzn-Requestid"); len(id) != 36 {
		e.t.Errorf("x-amzn-RequestId %q is not a UUID", id)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: body}
}

// rawRequest builds an unsigned request for an operation, with the headers the SDK sends.
func (e *env) rawRequest(op, body string) *http.Request {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.url+"/", strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	if op != "" {
		req.Header.Set("X-Amz-Target", "TransferService."+op)
	}
	return req
}

// sign signs req as the SDK does (every header it carries), at time at, with e's keys.
func (e *env) sign(req *http.Request, body string, at time.Time) *http.Request {
	e.t.Helper()
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: e.creds.AccessKeyID, SecretAccessKey: e.creds.SecretAccessKey}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "transfer", region, at); err != nil {
		e.t.Fatal(err)
	}
	return req
}

// call sends a signed raw request for an operation.
func (e *env) call(op, body string) response {
	e.t.Helper()
	return e.do(e.sign(e.rawRequest(op, body), body, time.Now()))
}

// apiError returns err's AWS error code and message, failing when err is not an API error.
func apiError(t *testing.T, err error) (string, string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v (%T) is not an API error", err, err)
	}
	return ae.ErrorCode(), ae.ErrorMessage()
}

// hostKeyPEM returns a fresh ED25519 private key in PKCS#8 PEM form: fast to make, unlike the
// RSA key a server gets when CreateServer names none.
func hostKeyPEM(t *testing.T) string {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// userKey returns a fresh ED25519 public key in authorized_keys form.
func userKey(t *testing.T, comment string) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var wire []byte
	for _, field := range [][]byte{[]byte("ssh-ed25519"), pub} {
		wire = binary.BigEndian.AppendUint32(wire, uint32(len(field)))
		wire = append(wire, field...)
	}
	return "ssh-ed25519 " + base64.StdEncoding.EncodeToString(wire) + " " + comment
}

// createServer creates a server with an ED25519 host key and returns its ID.
func (e *env) createServer(tags ...string) string {
	e.t.Helper()
	in := &transfer.CreateServerInput{HostKey: aws.String(hostKeyPEM(e.t))}
	for i := 0; i+1 < len(tags); i += 2 {
		in.Tags = append(in.Tags, tagOf(tags[i], tags[i+1]))
	}
	out, err := e.client.CreateServer(context.Background(), in)
	if err != nil {
		e.t.Fatalf("CreateServer: %v", err)
	}
	return aws.ToString(out.ServerId)
}
