package identity

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/transferd/transferd/internal/transfer"
)

const aliceKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIN2ko0EvD2lltnkVQAsQgKR+5g2wcArA/C0q7FTEKBUT alice@example"

func TestParseAnswer(t *testing.T) {
	s3 := &transfer.Server{ServerID: "s-0123456789abcdef0", Domain: transfer.DomainS3, IdentityProviderType: transfer.IdentityAPIGateway}
	efs := &transfer.Server{ServerID: "s-0123456789abcdef0", Domain: transfer.DomainEFS, IdentityProviderType: transfer.IdentityAPIGateway}
	key := Query{UserName: "alice"}
	pw := Query{UserName: "alice", Password: "x", HasPassword: true}
	const role = `"Role":"arn:aws:iam::123456789012:role/sftp"`
	for _, tc := range []struct {
		name string
		srv  *transfer.Server
		q    Query
		body string
		kind Kind   // when want is not ""
		want string // part of the error; "" for success
	}{
		{"empty", s3, pw, "", Refused, "the answer is empty"},
		{"empty object", s3, pw, "{}", Refused, "the answer has no Role"},
		{"empty role", s3, pw, `{"Role":""}`, Refused, "no Role"},
		{"garbage", s3, pw, "<html>oops</html>", BadResponse, "not a JSON object"},
		{"array", s3, pw, "[]", BadResponse, "not a JSON object"},
		{"role of the wrong type", s3, pw, `{"Role":7}`, BadResponse, "Role must be a string, not a JSON number"},
		{"keys of the wrong type", s3, key, `{` + role + `,"PublicKeys":"ssh-ed25519 AAAA"}`, BadResponse, "PublicKeys must be a list"},
		{"bad role", s3, pw, `{"Role":"admin"}`, BadResponse, `Role: "admin" is not an IAM role ARN`},
		{"password login, PATH", s3, pw, `{` + role + `,"HomeDirectory":"/bucket1/alice"}`, 0, ""},
		{"password login, LOGICAL", s3, pw, `{` + role + `,"HomeDirectoryType":"LOGICAL","HomeDirectoryDetails":"[{\"Entry\":\"/\",\"Target\":\"/bucket1/${transfer:UserName}\"}]"}`, 0, ""},
		{"LOGICAL without mappings", s3, pw, `{` + role + `,"HomeDirectoryType":"LOGICAL"}`, BadResponse, "HomeDirectoryMappings: LOGICAL home directories need at least one mapping"},
		{"mappings not JSON", s3, pw, `{` + role + `,"HomeDirectoryType":"LOGICAL","HomeDirectoryDetails":"[{Entry: /}]"}`, BadResponse, "HomeDirectoryDetails must be a JSON string"},
		{"mapping without target", s3, pw, `{` + role + `,"HomeDirectoryType":"LOGICAL","HomeDirectoryDetails":"[{\"Entry\":\"/\"}]"}`, BadResponse, "HomeDirectoryDetails[0] needs an Entry and a Target"},
		{"bad mapping target", s3, pw, `{` + role + `,"HomeDirectoryType":"LOGICAL","HomeDirectoryDetails":"[{\"Entry\":\"/\",\"Target\":\"bucket\"}]"}`, BadResponse, "HomeDirectoryMappings[0].Target"},
		{"key login with keys", s3, key, `{` + role + `,"PublicKeys":["` + aliceKey + `"]}`, 0, ""},
		{"key login without keys", s3, key, `{` + role + `}`, Refused, "no PublicKeys, and this is a key login"},
		{"key login with empty keys", s3, key, `{` + role + `,"PublicKeys":[]}`, Refused, "no PublicKeys"},
		{"bad key", s3, key, `{` + role + `,"PublicKeys":["ssh-ed25519 nope"]}`, BadResponse, "PublicKeys[0]"},
		{"policy", s3, pw, `{` + role + `,"HomeDirectory":"/b/alice","Policy":"{\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"s3:*\",\"Resource\":\"arn:aws:s3:::${transfer:HomeDirectory}/*\"}}"}`, 0, ""},
		{"policy transferd cannot evaluate", s3, pw, `{` + role + `,"Policy":"{\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"s3:*\",\"Resource\":\"*\",\"Condition\":{\"Bool\":{\"aws:SecureTransport\":\"true\"}}}}"}`, BadResponse, "Policy: Statement[0].Condition.Bool"},
		{"posix on EFS", efs, pw, `{` + role + `,"HomeDirectory":"/fs-1/alice","PosixProfile":{"Uid":1001,"Gid":1001,"SecondaryGids":[4]}}`, 0, ""},
		{"EFS without posix", efs, pw, `{` + role + `}`, BadResponse, "PosixProfile is required for users of an EFS-domain server"},
		{"posix on S3", s3, pw, `{` + role + `,"PosixProfile":{"Uid":1,"Gid":1}}`, BadResponse, "POSIX profiles apply to EFS-domain servers"},
		{"posix without gid", efs, pw, `{` + role + `,"PosixProfile":{"Uid":1}}`, BadResponse, "PosixProfile needs a Uid and a Gid"},
		{"posix out of range", efs, pw, `{` + role + `,"PosixProfile":{"Uid":-1,"Gid":1}}`, BadResponse, "-1 is not a POSIX ID"},
		{"unknown members are ignored", s3, pw, `{` + role + `,"Comment":"hi"}`, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := parseAnswer(tc.srv, tc.q, []byte(tc.body))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("parseAnswer(%s) = %v", tc.body, err)
				}
				if u.Role == "" || u.UserName != "alice" || u.ServerID != tc.srv.ServerID {
					t.Errorf("user %+v", u)
				}
				if !tc.q.HasPassword && len(u.SSHPublicKeys) != 1 {
					t.Errorf("keys %+v", u.SSHPublicKeys)
				}
				return
			}
			e, ok := errors.AsType[*Error](err)
			if !ok || e.Kind != tc.kind || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("parseAnswer(%s) = %v, want kind %d with %q", tc.body, err, tc.kind, tc.want)
			}
		})
	}
}

func TestTargets(t *testing.T) {
	for _, tc := range []struct {
		arn                     string
		local                   bool
		region, name, qualifier string
	}{
		{"arn:aws:lambda:eu-west-1:123456789012:function:idp", false, "eu-west-1", "arn:aws:lambda:eu-west-1:123456789012:function:idp", ""},
		{"arn:aws:lambda:eu-west-1:123456789012:function:idp", true, "eu-west-1", "idp", ""},
		{"arn:aws:lambda:eu-west-1:123456789012:function:idp:live", true, "eu-west-1", "idp", "live"},
		{"arn:aws:lambda:::function:function", true, "us-east-1", "function", ""},
	} {
		region, name, q := functionTarget(tc.arn, tc.local, "us-east-1")
		if region != tc.region || name != tc.name || q != tc.qualifier {
			t.Errorf("functionTarget(%s, %v) = %s %s %s", tc.arn, tc.local, region, name, q)
		}
	}
	for host, want := range map[string]string{
		"abc123.execute-api.eu-central-1.amazonaws.com":      "eu-central-1",
		"abc123.execute-api.eu-central-1.amazonaws.com:443":  "eu-central-1",
		"idp.internal.example.com":                           "us-east-1",
		"127.0.0.1:8080":                                     "us-east-1",
		"vpce-1.execute-api.ap-south-1.vpce.amazonaws.com.x": "us-east-1",
	} {
		if got := apiGatewayRegion(host, "us-east-1"); got != want {
			t.Errorf("apiGatewayRegion(%s) = %s, want %s", host, got, want)
		}
	}
	call, full := apiGatewayURL("https://idp.example.com/prod/", "s-0123456789abcdef0", Query{UserName: "a@b.c", Protocol: "SFTP", SourceIP: "::1"})
	if call != "https://idp.example.com/prod/servers/s-0123456789abcdef0/users/a@b.c/config" ||
		full != call+"?protocol=SFTP&sourceIp=%3A%3A1" {
		t.Errorf("apiGatewayURL = %s, %s", call, full)
	}
}

// idpServer is an API Gateway identity provider on loopback that records what it was asked.
type idpServer struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []*http.Request
}

func newIDP(t *testing.T, h http.HandlerFunc) *idpServer {
	s := &idpServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.reqs = append(s.reqs, r.Clone(context.Background()))
		s.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *idpServer) last() *http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reqs[len(s.reqs)-1]
}

func apiServer(url, role string) *transfer.Server {
	return &transfer.Server{ServerID: "s-0123456789abcdef0", Domain: transfer.DomainS3, IdentityProviderType: transfer.IdentityAPIGateway,
		IdentityProviderDetails: transfer.IdentityProviderDetails{URL: url, InvocationRole: role}}
}

func TestAPIGatewayCalls(t *testing.T) {
	idp := newIDP(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Password") == "wrong" {
			w.Write([]byte("{}"))
			return
		}
		w.Write([]byte(`{"Role":"arn:aws:iam::123456789012:role/sftp","HomeDirectory":"/bucket1/alice","PublicKeys":["` + aliceKey + `"]}`))
	})
	c := New(Options{Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")})
	defer c.Close()
	ctx := context.Background()

	ans, err := c.Lookup(ctx, apiServer(idp.URL+"/prod", ""), Query{UserName: "alice", SourceIP: "192.0.2.1"})
	if err != nil {
		t.Fatalf("key lookup: %v", err)
	}
	r := idp.last()
	if r.URL.Path != "/prod/servers/s-0123456789abcdef0/users/alice/config" || r.URL.Query().Get("protocol") != "SFTP" ||
		r.URL.Query().Get("sourceIp") != "192.0.2.1" || r.Method != http.MethodGet {
		t.Errorf("request %s %s", r.Method, r.URL)
	}
	if _, has := r.Header["Password"]; has {
		t.Error("a key login sent a Password header")
	}
	if r.Header.Get("Authorization") != "" {
		t.Error("a call without InvocationRole was signed")
	}
	if len(ans.User.SSHPublicKeys) != 1 || ans.StatusCode != 200 || ans.URL != idp.URL+"/prod/servers/s-0123456789abcdef0/users/alice/config" || ans.Latency <= 0 {
		t.Errorf("answer %+v", ans)
	}

	if _, err := c.Lookup(ctx, apiServer(idp.URL, "arn:aws:iam::123456789012:role/idp"), Query{UserName: "alice", Password: "pw", HasPassword: true}); err != nil {
		t.Fatalf("password lookup: %v", err)
	}
	r = idp.last()
	if r.Header.Get("Password") != "pw" {
		t.Errorf("Password header %q", r.Header.Get("Password"))
	}
	if auth := r.Header.Get("Authorization"); !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/") || !strings.Contains(auth, "/us-east-1/execute-api/aws4_request") {
		t.Errorf("a call with an InvocationRole has Authorization %q, want SigV4 for execute-api", auth)
	}

	_, err = c.Lookup(ctx, apiServer(idp.URL, ""), Query{UserName: "alice", Password: "wrong", HasPassword: true})
	if e, ok := errors.AsType[*Error](err); !ok || e.Kind != Refused || e.Error() != "identity provider refused the user: the answer has no Role" ||
		string(e.Body) != "{}" || e.StatusCode != 200 {
		t.Errorf("wrong password: %v", err)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Errorf("the error %q shows the password", err)
	}
	_, err = c.Lookup(ctx, apiServer(idp.URL, ""), Query{UserName: "alice", Password: "a\r\nInjected: x", HasPassword: true})
	if e, ok := errors.AsType[*Error](err); !ok || e.Kind != Refused || !strings.Contains(err.Error(), "control characters") {
		t.Errorf("a password with control characters: %v", err)
	}
	_, err = c.Lookup(ctx, apiServer(idp.URL, ""), Query{UserName: "alice", Password: " pw", HasPassword: true})
	if e, ok := errors.AsType[*Error](err); !ok || e.Kind != Refused || !strings.Contains(err.Error(), "blanks") {
		t.Errorf("a password with a leading blank: %v", err)
	}
}

func TestAPIGatewayFailures(t *testing.T) {
	ctx := context.Background()
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) })
	hanging := newIDP(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	})
	status := newIDP(t, func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", http.StatusBadGateway) })
	redirect := newIDP(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://example.com/", http.StatusFound)
	})
	huge := newIDP(t, func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"Role":"` + strings.Repeat("x", 2<<20) + `"}`))
	})
	c := New(Options{Timeout: 300 * time.Millisecond, MaxConcurrent: 1})
	defer c.Close()
	for _, tc := range []struct {
		name string
		srv  *transfer.Server
		kind Kind
		want string
	}{
		{"hangs", apiServer(hanging.URL, ""), Unreachable, "identity provider unreachable: no answer before the deadline"},
		{"not 200", apiServer(status.URL, ""), BadResponse, "HTTP status 502 Bad Gateway"},
		{"redirect", apiServer(redirect.URL, ""), BadResponse, "HTTP status 302 Found"},
		{"oversized", apiServer(huge.URL, ""), BadResponse, "longer than 1048576 bytes"},
		{"refused connection", apiServer("http://127.0.0.1:1", ""), Unreachable, "connection refused"},
		{"signing without credentials", apiServer(status.URL, "arn:aws:iam::123456789012:role/idp"), Unreachable, "no AWS credentials are configured"},
	} {
		start := time.Now()
		_, err := c.Lookup(ctx, tc.srv, Query{UserName: "alice", Password: "pw", HasPassword: true})
		e, ok := errors.AsType[*Error](err)
		if !ok || e.Kind != tc.kind || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want kind %d with %q", tc.name, err, tc.kind, tc.want)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s took %v with a 300ms timeout", tc.name, d)
		}
	}

	// One call in flight per server: a second waits for the first, and fails when its deadline
	// comes first.
	done := make(chan error, 1)
	go func() {
		_, err := c.Lookup(ctx, apiServer(hanging.URL, ""), Query{UserName: "alice"})
		done <- err
	}()
	for {
		hanging.mu.Lock()
		n := len(hanging.reqs)
		hanging.mu.Unlock()
		if n >= 2 { // the "hangs" case's request and this one
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond) // ends while the first holds its place
	defer cancel()
	_, err := c.Lookup(short, apiServer(hanging.URL, ""), Query{UserName: "bob"})
	if e, ok := errors.AsType[*Error](err); !ok || e.Kind != Unreachable || !strings.Contains(err.Error(), "1 calls to this server's identity provider are in flight") {
		t.Errorf("a call beyond MaxConcurrent: %v", err)
	}
	<-done
}
