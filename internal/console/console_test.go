package console_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"html"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/ssh"

	"github.com/transferd/transferd/internal/console"
	"github.com/transferd/transferd/internal/control"
	"github.com/transferd/transferd/internal/explain"
	"github.com/transferd/transferd/internal/metastore"
	"github.com/transferd/transferd/internal/negotiate"
	"github.com/transferd/transferd/internal/policy"
	"github.com/transferd/transferd/internal/transfer"
)

type ports struct {
	mu   sync.Mutex
	next int
}

func (p *ports) Allocate([]string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.next++
	return fmt.Sprintf("127.0.0.1:%d", 41000+p.next), nil
}

var creds = console.Credentials{AccessKeyID: "AKIAEXAMPLE0000000001", SecretAccessKey: "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"}

// clock is a settable time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// env is a console over a control plane on a fresh SQLite store.
type env struct {
	srv   *httptest.Server
	svc   *control.Service
	clock *clock
}

func newEnv(t testing.TB) *env { return newEnvWith(t, nil) }

// newEnvWith is newEnv with the console's options changed by opts.
func newEnvWith(t testing.TB, opts func(*console.Options)) *env {
	t.Helper()
	store, err := metastore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "state.db"), metastore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	catalog, err := policy.NewCatalog()
	if err != nil {
		t.Fatal(err)
	}
	svc := control.New(control.Options{Store: store, Catalog: catalog, Endpoints: &ports{}})
	clk := &clock{t: time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)}
	o := console.Options{Service: svc, Credentials: []console.Credentials{creds}, Now: clk.Now}
	if opts != nil {
		opts(&o)
	}
	c, err := console.New(o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	return &env{srv: srv, svc: svc, clock: clk}
}

// browser is an HTTP client with a cookie jar that does not follow redirects.
func (e *env) browser(t testing.TB) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func get(t testing.TB, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func post(t testing.TB, c *http.Client, u string, form url.Values, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// signIn signs c in and returns the CSRF token of its pages.
func (e *env) signIn(t testing.TB, c *http.Client) string {
	t.Helper()
	resp, _ := post(t, c, e.srv.URL+"/signin", url.Values{"access_key_id": {creds.AccessKeyID}, "secret_access_key": {creds.SecretAccessKey}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %s", resp.Status)
	}
	_, body := get(t, c, e.srv.URL+"/servers")
	return csrfOf(t, body)
}

// withServer signs a browser in and creates a server; it returns the browser, its CSRF token
// and the server's ID.
func (e *env) withServer(t *testing.T) (*http.Client, string, string) {
	t.Helper()
	b := e.browser(t)
	csrf := e.signIn(t, b)
	id, err := e.svc.CreateServer(context.Background(), control.CreateServerInput{})
	if err != nil {
		t.Fatal(err)
	}
	return b, csrf, id
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t testing.TB, body string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token in the page:\n%s", body)
	}
	return m[1]
}

// Every page and every state change refuses a browser without a session, and every state change
// refuses one without the CSRF token or from another origin.
func TestNothingAnswersWithoutASession(t *testing.T) {
	e := newEnv(t)
	anon := e.browser(t)
	id, err := e.svc.CreateServer(context.Background(), control.CreateServerInput{})
	if err != nil {
		t.Fatal(err)
	}
	pages := []string{"/", "/servers", "/servers/" + id, "/servers/" + id + "/delete", "/servers/s-00000000000000000",
		"/servers/" + id + "/users", "/servers/" + id + "/users/alice", "/sessions",
		"/servers/" + id + "/negotiation", "/servers/" + id + "/impact?policy=TransferSecurityPolicy-2024-01", "/explain?policy=TransferSecurityPolicy-2024-01&client=putty-0.84"}
	changes := []string{"/servers", "/servers/" + id + "/start", "/servers/" + id + "/stop", "/servers/" + id + "/policy", "/servers/" + id + "/delete", "/signout",
		"/servers/" + id + "/users", "/servers/" + id + "/users/alice/home", "/servers/" + id + "/users/alice/keys",
		"/servers/" + id + "/users/alice/keys/key-0/delete", "/servers/" + id + "/users/alice/delete", "/sessions/abc/disconnect",
		"/servers/" + id + "/hostkeys", "/servers/" + id + "/hostkeys/hostkey-0/delete", "/explain"}
	for _, p := range pages {
		resp, body := get(t, anon, e.srv.URL+p)
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/signin") || strings.Contains(body, "ONLINE") {
			t.Errorf("GET %s without a session: %s, Location %q", p, resp.Status, resp.Header.Get("Location"))
		}
	}
	for _, p := range changes {
		resp, _ := post(t, anon, e.srv.URL+p, url.Values{"confirm": {id}})
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("POST %s without a session: %s, want 401", p, resp.Status)
		}
	}

	b := e.browser(t)
	csrf := e.signIn(t, b)
	for _, p := range changes {
		for name, form := range map[string]url.Values{"no token": {"confirm": {id}}, "a wrong token": {"confirm": {id}, "csrf": {csrf + "x"}}} {
			if resp, _ := post(t, b, e.srv.URL+p, form); resp.StatusCode != http.StatusForbidden {
				t.Errorf("POST %s with %s: %s, want 403", p, name, resp.Status)
			}
		}
		form := url.Values{"confirm": {id}, "csrf": {csrf}}
		if resp, _ := post(t, b, e.srv.URL+p, form, "Origin", "https://evil.example"); resp.StatusCode != http.StatusForbidden {
			t.Errorf("POST %s from another origin: %s, want 403", p, resp.Status)
		}
	}
	if d, err := e.svc.DescribeServer(context.Background(), id); err != nil || d.Server.State != "ONLINE" {
		t.Errorf("after refused changes the server is %v, %v", d, err)
	}
	// Static assets need no session: the sign-in page uses them.
	if resp, _ := get(t, anon, e.srv.URL+"/static/console.css"); resp.StatusCode != http.StatusOK {
		t.Errorf("the style sheet: %s", resp.Status)
	}
}

func TestSignIn(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	start := time.Now()
	resp, body := post(t, b, e.srv.URL+"/signin", url.Values{"access_key_id": {creds.AccessKeyID}, "secret_access_key": {"wrong"}})
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "wrong") || time.Since(start) < 900*time.Millisecond {
		t.Errorf("a wrong secret: %s after %v", resp.Status, time.Since(start))
	}
	if len(resp.Cookies()) != 0 {
		t.Errorf("a refused sign-in set cookies: %v", resp.Cookies())
	}
	resp, _ = post(t, b, e.srv.URL+"/signin", url.Values{"access_key_id": {creds.AccessKeyID}, "secret_access_key": {creds.SecretAccessKey}, "next": {"//evil.example/x"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/servers" {
		t.Errorf("sign-in with an off-site next: %s to %q, want /servers", resp.Status, resp.Header.Get("Location"))
	}
	var ck *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "transferd_console" {
			ck = c
		}
	}
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" || len(ck.Value) < 40 {
		t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Strict, Path=/ and a long random value", ck)
	}
	for h, want := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}
	if resp, _ := get(t, b, e.srv.URL+"/servers"); resp.StatusCode != http.StatusOK {
		t.Fatalf("a page after sign-in: %s", resp.Status)
	}

	// Idle expiry: 30 minutes without a request end the session.
	e.clock.Add(29 * time.Minute)
	if resp, _ := get(t, b, e.srv.URL+"/servers"); resp.StatusCode != http.StatusOK {
		t.Fatalf("after 29 idle minutes: %s", resp.Status)
	}
	e.clock.Add(31 * time.Minute)
	if resp, _ := get(t, b, e.srv.URL+"/servers"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("after 31 idle minutes: %s, want a redirect to sign in", resp.Status)
	}

	// Sign-out ends the session on the server: the old cookie no longer works.
	csrf := e.signIn(t, b)
	old := b.Jar.Cookies(mustURL(t, e.srv.URL))
	if resp, _ := post(t, b, e.srv.URL+"/signout", url.Values{"csrf": {csrf}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-out: %s", resp.Status)
	}
	replay := e.browser(t)
	replay.Jar.SetCookies(mustURL(t, e.srv.URL), old)
	if resp, _ := get(t, replay, e.srv.URL+"/servers"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the cookie of a signed-out session: %s, want a redirect to sign in", resp.Status)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// The servers pages go through the control plane: its validation messages reach the page, and
// what they change is what the API sees.
func TestServerPages(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	csrf := e.signIn(t, b)
	ctx := context.Background()

	resp, body := post(t, b, e.srv.URL+"/servers", url.Values{"csrf": {csrf}, "endpoint": {"not an address"}, "policy": {"TransferSecurityPolicy-2024-01"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "Endpoint") {
		t.Errorf("create with a bad endpoint: %s; the page should name the Endpoint field:\n%s", resp.Status, body)
	}
	resp, body = post(t, b, e.srv.URL+"/servers", url.Values{"csrf": {csrf}, "policy": {"TransferSecurityPolicy-2018-11"}, "domain": {"S3"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %s\n%s", resp.Status, body)
	}
	id := strings.TrimPrefix(resp.Header.Get("Location"), "/servers/")
	d, err := e.svc.DescribeServer(ctx, id)
	if err != nil || d.Server.SecurityPolicyName != "TransferSecurityPolicy-2018-11" {
		t.Fatalf("the created server: %+v, %v", d, err)
	}
	_, body = get(t, b, e.srv.URL+"/servers/"+id)
	text := html.UnescapeString(body) // html/template writes a fingerprint's "+" as &#43;
	for _, want := range []string{id, "Server " + id + " created.", "TransferSecurityPolicy-2018-11", d.HostKeyFingerprint} {
		if !strings.Contains(text, want) {
			t.Errorf("the server's page lacks %q", want)
		}
	}
	if _, body = get(t, b, e.srv.URL+"/servers/"+id); strings.Contains(body, "created.") {
		t.Error("the message is shown twice")
	}

	post(t, b, e.srv.URL+"/servers/"+id+"/stop", url.Values{"csrf": {csrf}})
	// Without a daemon to finish it, a stop stays STOPPING.
	if d, _ := e.svc.DescribeServer(ctx, id); d.Server.State != "STOPPING" && d.Server.State != "OFFLINE" {
		t.Errorf("after Stop: %s", d.Server.State)
	}
	post(t, b, e.srv.URL+"/servers/"+id+"/policy", url.Values{"csrf": {csrf}, "policy": {"TransferSecurityPolicy-2024-01"}})
	if d, _ := e.svc.DescribeServer(ctx, id); d.Server.SecurityPolicyName != "TransferSecurityPolicy-2024-01" {
		t.Errorf("after changing the policy: %s", d.Server.SecurityPolicyName)
	}
	post(t, b, e.srv.URL+"/servers/"+id+"/policy", url.Values{"csrf": {csrf}, "policy": {"TransferSFTPConnectorSecurityPolicy-2024-03"}})
	if _, body := get(t, b, e.srv.URL+"/servers/"+id); !strings.Contains(body, "SecurityPolicyName") {
		t.Errorf("a connector policy on a server: the page does not say why it was refused:\n%s", body)
	}

	// Delete asks for the ID first.
	post(t, b, e.srv.URL+"/servers/"+id+"/delete", url.Values{"csrf": {csrf}, "confirm": {"yes"}})
	if _, err := e.svc.DescribeServer(ctx, id); err != nil {
		t.Fatalf("deleted without the ID typed: %v", err)
	}
	post(t, b, e.srv.URL+"/servers/"+id+"/delete", url.Values{"csrf": {csrf}, "confirm": {id}})
	if _, err := e.svc.DescribeServer(ctx, id); err == nil {
		t.Error("the server is still there after a confirmed delete")
	}

	// Long names wrap instead of breaking the layout; nothing is injected.
	if _, body := get(t, b, e.srv.URL+"/servers/%3Cscript%3E"); strings.Contains(body, "<script>") {
		t.Error("a server ID in the path reached the page unescaped")
	}
}

const testRole = "arn:aws:iam::123456789012:role/transfer-user"

// authorizedKey makes a new public key in a .pub file's form.
func authorizedKey(t *testing.T, kind string) string {
	t.Helper()
	var pub any
	switch kind {
	case "ed25519":
		k, _, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		pub = k
	default:
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		pub = &k.PublicKey
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp))) + " console-test"
}

func TestUserPages(t *testing.T) {
	e := newEnv(t)
	b, csrf, id := e.withServer(t)
	ctx := context.Background()
	users := e.srv.URL + "/servers/" + id + "/users"

	// The API's validation, by field, on the page.
	resp, body := post(t, b, users, url.Values{"csrf": {csrf}, "user_name": {"a"}, "role": {testRole}, "home_type": {"LOGICAL"}, "mappings": {"/ /bucket/a"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(html.UnescapeString(body), "UserName") {
		t.Errorf("a one-letter user name: %s; the page should name UserName", resp.Status)
	}
	resp, body = post(t, b, users, url.Values{"csrf": {csrf}, "user_name": {"alice"}, "role": {testRole}, "home_type": {"LOGICAL"}, "mappings": {"/ bucket/a"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(html.UnescapeString(body), "Target") {
		t.Errorf("a mapping target without its leading /: %s; the page should say what is wrong with the Target", resp.Status)
	}
	resp, body = post(t, b, users, url.Values{"csrf": {csrf}, "user_name": {"alice"}, "role": {testRole}, "home_type": {"LOGICAL"},
		"mappings": {"/home /bucket/alice\n/shared /bucket/shared"}, "key": {authorizedKey(t, "ed25519")}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create alice: %s\n%s", resp.Status, html.UnescapeString(body))
	}
	u, err := e.svc.DescribeUser(ctx, id, "alice")
	if err != nil || len(u.User.HomeDirectoryMappings) != 2 || len(u.User.SSHPublicKeys) != 1 {
		t.Fatalf("alice as created: %+v, %v", u, err)
	}

	// A key uploaded as a .pub file.
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	mw.WriteField("csrf", csrf)
	fw, _ := mw.CreateFormFile("key_file", "id_ecdsa.pub")
	fw.Write([]byte(authorizedKey(t, "ecdsa") + "\n"))
	mw.Close()
	req, _ := http.NewRequest("POST", users+"/alice/keys", &mp)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if resp, err := b.Do(req); err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("upload a key file: %v %v", resp, err)
	}
	if u, _ := e.svc.DescribeUser(ctx, id, "alice"); len(u.User.SSHPublicKeys) != 2 {
		t.Errorf("after uploading a .pub file alice has %d keys", len(u.User.SSHPublicKeys))
	}
	_, body = get(t, b, users+"/alice")
	if !strings.Contains(body, "Key added.") || !strings.Contains(body, "/shared /bucket/shared") {
		t.Errorf("alice's page after adding a key:\n%s", body)
	}

	// Home directory: a bad mapping is refused with the API's message, a good one stored.
	post(t, b, users+"/alice/home", url.Values{"csrf": {csrf}, "home_type": {"LOGICAL"}, "mappings": {"/ /bucket/alice /extra"}})
	if _, body := get(t, b, users+"/alice"); !strings.Contains(body, "ENTRY TARGET") {
		t.Error("a mapping line with three paths: the page does not say the line is not ENTRY TARGET")
	}
	post(t, b, users+"/alice/home", url.Values{"csrf": {csrf}, "home_type": {"PATH"}, "home_directory": {"/bucket/alice"}})
	if u, _ := e.svc.DescribeUser(ctx, id, "alice"); u.User.HomeDirectoryType != "PATH" || u.User.HomeDirectory != "/bucket/alice" {
		t.Errorf("after the change to PATH: %+v", u.User)
	}

	// Keys and the user are deleted from their pages.
	key := u.User.SSHPublicKeys[0].SSHPublicKeyID
	post(t, b, users+"/alice/keys/"+key+"/delete", url.Values{"csrf": {csrf}})
	if u, _ := e.svc.DescribeUser(ctx, id, "alice"); len(u.User.SSHPublicKeys) != 1 {
		t.Errorf("after deleting a key alice has %d", len(u.User.SSHPublicKeys))
	}
	post(t, b, users+"/alice/delete", url.Values{"csrf": {csrf}, "confirm": {"bob"}})
	if _, err := e.svc.DescribeUser(ctx, id, "alice"); err != nil {
		t.Fatal("deleted without the name typed")
	}
	post(t, b, users+"/alice/delete", url.Values{"csrf": {csrf}, "confirm": {"alice"}})
	if _, err := e.svc.DescribeUser(ctx, id, "alice"); err == nil {
		t.Error("alice is still there after a confirmed delete")
	}
}

// 120 users page 50 at a time, in name order; a search finds names that contain the text.
func TestUserPaging(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	e.signIn(t, b)
	id := addUsers(t, e.svc, 120)
	users := e.srv.URL + "/servers/" + id + "/users"
	nameRE := regexp.MustCompile(`/users/(user-\d+)"`)
	var seen []string
	next := users
	for pages := 0; next != ""; pages++ {
		if pages > 3 {
			t.Fatal("more than 3 pages for 120 users")
		}
		_, body := get(t, b, next)
		for _, m := range nameRE.FindAllStringSubmatch(body, -1) {
			seen = append(seen, m[1])
		}
		next = ""
		if m := regexp.MustCompile(`href="([^"]+)" rel="next"`).FindStringSubmatch(body); m != nil {
			next = e.srv.URL + html.UnescapeString(m[1])
		}
	}
	if len(seen) != 120 || !slices.IsSorted(seen) || seen[0] != "user-00000" || seen[119] != "user-00119" {
		t.Errorf("the pages listed %d users (sorted: %v), first %q", len(seen), slices.IsSorted(seen), seen[:1])
	}
	_, body := get(t, b, users+"?q=0011")
	if got := nameRE.FindAllStringSubmatch(body, -1); len(got) != 11 {
		t.Errorf("a search for 0011 found %d users, want 11 (user-00011, and user-00110 to user-00119)", len(got))
	}
}

// addUsers creates a server with n users, user-00000 on.
func addUsers(t testing.TB, svc *control.Service, n int) string {
	t.Helper()
	ctx := context.Background()
	id, err := svc.CreateServer(ctx, control.CreateServerInput{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := svc.CreateUser(ctx, transfer.User{ServerID: id, UserName: fmt.Sprintf("user-%05d", i), Role: testRole,
			HomeDirectory: "/bucket/home"}); err != nil {
			t.Fatal(err)
		}
	}
	return id
}

// BenchmarkUsersPage is a page of a server with 10,000 users: the first page, one in the
// middle, and a search that reads them all.
func BenchmarkUsersPage(b *testing.B) {
	e := newEnv(b)
	browser := e.browser(b)
	e.signIn(b, browser)
	id := addUsers(b, e.svc, 10_000)
	base := e.srv.URL + "/servers/" + id + "/users"
	for name, u := range map[string]string{
		"first":  base,
		"middle": base + "?after=" + url.QueryEscape(control.UsersAfter(id, "user-05000")),
		"search": base + "?q=" + url.QueryEscape("9999"),
	} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if resp, _ := get(b, browser, u); resp.StatusCode != http.StatusOK {
					b.Fatal(resp.Status)
				}
			}
		})
	}
}

// The activity page searches the log file, newest first, 50 records a page.
func TestActivityPage(t *testing.T) {
	log := filepath.Join(t.TempDir(), "activity.log")
	var b strings.Builder
	start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for i := range 130 {
		typ, user := "CONNECTED", "alice"
		if i%2 == 1 {
			typ, user = "CLOSE", "bob"
		}
		fmt.Fprintf(&b, `{"timestamp":%q,"activity-type":%q,"resource-arn":"arn:aws:transfer:us-east-1:000000000000:server/s-0123456789abcdef0","user":%q,"path":"/f%03d"}`+"\n",
			start.Add(time.Duration(i)*time.Minute).Format(time.RFC3339Nano), typ, user, i)
	}
	b.WriteString("not a record\n")
	if err := os.WriteFile(log, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	e := newEnvWith(t, func(o *console.Options) { o.ActivityLog = log })
	br := e.browser(t)
	e.signIn(t, br)
	paths := func(body string) []string {
		var out []string
		for _, m := range regexp.MustCompile(`/f(\d{3})`).FindAllStringSubmatch(body, -1) {
			out = append(out, m[1])
		}
		return out
	}
	_, body := get(t, br, e.srv.URL+"/activity")
	if got := paths(body); len(got) != 50 || got[0] != "129" || got[49] != "080" || !strings.Contains(body, "130 matching records") {
		t.Errorf("the first page: %d records from %v", len(got), got[:min(2, len(got))])
	}
	_, body = get(t, br, e.srv.URL+"/activity?page=3")
	if got := paths(body); len(got) != 30 || got[0] != "029" || strings.Contains(body, `rel="next"`) {
		t.Errorf("the last page: %d records from %v", len(got), got[:min(2, len(got))])
	}
	_, body = get(t, br, e.srv.URL+"/activity?type=CLOSE&user=bob&since=2026-12-01T01:00&until=2026-12-01T01:10")
	if got := paths(body); !slices.Equal(got, []string{"069", "067", "065", "063", "061"}) {
		t.Errorf("CLOSE records of bob from 01:00 until 01:10: %v", got)
	}
	if resp, body := get(t, br, e.srv.URL+"/activity?since=yesterday"); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "since") {
		t.Errorf("a bad time: %s", resp.Status)
	}
}

// Host keys are imported from the server's page; the oldest of each type is served.
func TestHostKeyPages(t *testing.T) {
	e := newEnv(t)
	b, csrf, id := e.withServer(t)
	ctx := context.Background()
	page := e.srv.URL + "/servers/" + id
	for _, desc := range []string{"first ed25519", "second ed25519"} {
		post(t, b, page+"/hostkeys", url.Values{"csrf": {csrf}, "host_key": {ed25519PEM(t)}, "description": {desc}})
	}
	post(t, b, page+"/hostkeys", url.Values{"csrf": {csrf}, "host_key": {"not a key"}})
	_, body := get(t, b, page)
	if !strings.Contains(body, "HostKeyBody") {
		t.Error("a pasted non-key: the page does not say what is wrong with HostKeyBody")
	}
	keys, _, err := e.svc.ListHostKeys(ctx, id, control.Page{})
	if err != nil || len(keys) != 3 {
		t.Fatalf("host keys: %d, %v", len(keys), err)
	}
	served := regexp.MustCompile(`(?s)<th scope="row" class="wrap">(hostkey-[0-9a-f]+).*?</td><td>(yes|no)</td>`)
	got := map[string]string{}
	for _, m := range served.FindAllStringSubmatch(body, -1) {
		got[m[1]] = m[2]
	}
	var first, second string
	for _, k := range keys {
		switch k.HostKey.Description {
		case "first ed25519":
			first = k.HostKey.HostKeyID
		case "second ed25519":
			second = k.HostKey.HostKeyID
		}
	}
	if got[first] != "yes" || got[second] != "no" {
		t.Errorf("served: %v; want the first ed25519 key (%s) yes and the second (%s) no", got, first, second)
	}
	post(t, b, page+"/hostkeys/"+first+"/delete", url.Values{"csrf": {csrf}})
	if _, err := e.svc.DescribeHostKey(ctx, id, first); err == nil {
		t.Error("the deleted host key is still there")
	}
}

// negotiationEnv is a console whose activity log is explain's test log, with its server
// s-0123456789abcdef0 renamed to a server of the control plane.
func negotiationEnv(t *testing.T) (*env, *http.Client, string, string) {
	t.Helper()
	data, err := os.ReadFile("../explain/testdata/activity.log")
	if err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(t.TempDir(), "activity.log")
	e := newEnvWith(t, func(o *console.Options) { o.ActivityLog = log })
	id, err := e.svc.CreateServer(context.Background(), control.CreateServerInput{SecurityPolicyName: "TransferSecurityPolicy-2018-11"})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(log, bytes.ReplaceAll(data, []byte("s-0123456789abcdef0"), []byte(id)), 0o600); err != nil {
		t.Fatal(err)
	}
	b := e.browser(t)
	csrf := e.signIn(t, b)
	return e, b, csrf, id
}

// The negotiation page charts what each client version of one server negotiated, in a time
// range, from the activity log.
func TestNegotiationCharts(t *testing.T) {
	e, b, _, id := negotiationEnv(t)
	base := e.srv.URL + "/servers/" + id + "/negotiation"
	resp, body := get(t, b, base+"?since=2026-11-01T00:00")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the page: %s\n%s", resp.Status, body)
	}
	body = html.UnescapeString(body)
	for _, want := range []string{
		"6 connections and 1 failed negotiation",
		// The client table: paramiko failed in one category; the other server's client is not counted.
		"<code>SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10</code></th><td>2</td><td>0</td>",
		"<code>SSH-2.0-paramiko_3.5.1</code></th><td>0</td><td>1</td><td>client to server cipher</td>",
		// Legends count every connection, most used first; the record's pair of directions is one name.
		`<rect class="s0" width="10" height="10"/></svg><code>curve25519-sha256</code> 5`,
		`<rect class="s1" width="10" height="10"/></svg><code>ecdh-sha2-nistp256</code> 1`,
		`<code>aes128-ctr</code> 4`, `<code>aes128-gcm@openssh.com</code> 1`, `<code>aes256-ctr</code> 1`,
		`<code>&lt;implicit&gt;</code> 1`,
		// A bar per client version, split by algorithm.
		`<span class="bar-words">curve25519-sha256 2</span>`, `<rect class="s0" x="0.0" y="0" width="1000.0" height="20"><title>curve25519-sha256: 2</title>`,
	} {
		if !strings.Contains(body, html.UnescapeString(want)) {
			t.Errorf("the charts lack %q", want)
		}
	}
	if strings.Contains(body, "s-1234567890abcdef0") || strings.Contains(body, "<title>rsa-sha2-512: 3") {
		t.Error("the charts count another server's records")
	}
	// A later start leaves out the first day; the default range (7 days before 2026-12-05 12:00)
	// leaves out all of them.
	_, body = get(t, b, base+"?since=2026-11-22T00:00")
	if !strings.Contains(body, "4 connections and 1 failed negotiation") {
		t.Errorf("from 2026-11-22: %s", regexp.MustCompile(`\d+ connections? and \d+ failed`).FindString(body))
	}
	_, body = get(t, b, base)
	if !strings.Contains(body, "0 connections and 0 failed negotiations from 2026-11-28 12:00 (UTC)") || strings.Contains(body, "<figure") {
		t.Errorf("the default range: %s", regexp.MustCompile(`\d+ connections? and \d+ failed[^<]*`).FindString(body))
	}
	if resp, body := get(t, b, base+"?until=soon"); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "until: &#34;soon&#34; is not a time") {
		t.Errorf("a bad time: %s", resp.Status)
	}
	if resp, _ := get(t, b, e.srv.URL+"/servers/s-00000000000000000/negotiation"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("an unknown server: %s", resp.Status)
	}
}

var choiceRE = regexp.MustCompile(`<tr(?: class="failed")?><th scope="row">([^<]+)</th><td class="wrap">(?:<code>([^<]+)</code>|none in common)</td><td>([^<]+)</td></tr>`)

// choicesOf reads the "both sides choose" table: category, chosen and rule.
func choicesOf(body string) [][3]string {
	var out [][3]string
	for _, m := range choiceRE.FindAllStringSubmatch(body, -1) {
		out = append(out, [3]string{html.UnescapeString(m[1]), html.UnescapeString(m[2]), html.UnescapeString(m[3])})
	}
	return out
}

// The explain page gives explain's answer, drawn as the exchange: for a profile, for a pasted
// record, and for a server's own policy and host keys.
func TestExplainPage(t *testing.T) {
	e, b, csrf, id := negotiationEnv(t)
	profiles, err := negotiate.NewProfiles()
	if err != nil {
		t.Fatal(err)
	}
	catalog, _ := policy.NewCatalog()
	want := func(profile, pol string, keys ...string) [][3]string {
		p, _ := profiles.Lookup(profile)
		pp, _ := catalog.Lookup(pol)
		var out [][3]string
		for _, c := range explain.Explain(explain.ProfileClient(p), explain.PolicyServer(pp, keys)).Choices {
			out = append(out, [3]string{c.Category, c.Chosen, c.Rule})
		}
		return out
	}
	resp, body := get(t, b, e.srv.URL+"/explain?policy=TransferSecurityPolicy-2024-01&client=openssh-9.2-debian12")
	if got := choicesOf(body); resp.StatusCode != http.StatusOK || len(got) != 8 || !slices.Equal(got, want("openssh-9.2-debian12", "TransferSecurityPolicy-2024-01", "ssh-rsa")) {
		t.Errorf("openssh-9.2 against 2024-01: %s\n%q", resp.Status, got)
	}
	for _, s := range []string{"Connects", "<code>SSH-2.0-transferd</code>", "SSH_MSG_KEXINIT", "<mark><code>curve25519-sha256</code></mark>",
		"kex-strict-c-v00@openssh.com</code> <span class=\"muted\">(marker)", "<code>CONNECTED</code> with kex <code>curve25519-sha256</code>"} {
		if !strings.Contains(body, s) {
			t.Errorf("the exchange lacks %q", s)
		}
	}
	// A server's host keys decide the host key algorithm: PuTTY prefers ed25519 when offered.
	if _, err := e.svc.ImportHostKey(context.Background(), id, ed25519PEM(t), "", nil); err != nil {
		t.Fatal(err)
	}
	_, body = get(t, b, e.srv.URL+"/explain?server="+id+"&client=putty-0.84")
	if got := choicesOf(body); !slices.Equal(got, want("putty-0.84", "TransferSecurityPolicy-2018-11", "ssh-rsa", "ssh-ed25519")) || got[1][1] != "ssh-ed25519" {
		t.Errorf("putty against the server with an ed25519 key: %q", got)
	}
	// A pasted KEX_FAILURE record: its offer and identification line; the failure as OpenSSH says it.
	var record string
	for _, l := range strings.Split(string(mustRead(t, "../explain/testdata/activity.log")), "\n") {
		if strings.Contains(l, "AcmeScanner") {
			record = l
		}
	}
	resp, body = post(t, b, e.srv.URL+"/explain", url.Values{"csrf": {csrf}, "policy": {"TransferSecurityPolicy-FIPS-2024-01"}, "host_keys": {"ssh-rsa"}, "offer": {record}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Fails: no common key exchange algorithm") ||
		!strings.Contains(body, "<code>SSH-2.0-AcmeScanner_2.1</code>") || !strings.Contains(body, "no matching key exchange method found") {
		t.Errorf("the pasted record: %s", resp.Status)
	}
	// Bad input names its field and keeps the form.
	for _, c := range []struct{ form url.Values }{
		{url.Values{"policy": {"TransferSecurityPolicy-Nope"}, "client": {"putty-0.84"}}},
		{url.Values{"policy": {"TransferSecurityPolicy-2024-01"}, "client": {"putty-0.1"}}},
		{url.Values{"policy": {"TransferSecurityPolicy-2024-01"}, "offer": {"{not json"}}},
		{url.Values{"policy": {"TransferSecurityPolicy-2024-01"}, "client": {"putty-0.84"}, "host_keys": {"ssh-dss"}}},
	} {
		c.form.Set("csrf", csrf)
		resp, body := post(t, b, e.srv.URL+"/explain", c.form)
		if resp.StatusCode != http.StatusBadRequest || !regexp.MustCompile(`role="alert">(Security policy|Client profile|Recorded offer|Host keys): `).MatchString(body) {
			t.Errorf("%v: %s, %s", c.form, resp.Status, regexp.MustCompile(`role="alert">[^<]*`).FindString(body))
		}
	}
}

// ed25519PEM is a new private host key, as ssh-keygen writes it.
func ed25519PEM(t *testing.T) string {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(k, "")
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(block))
}

func mustRead(t *testing.T, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The policy preview is policy-impact over the server's records in the range, worst first, and
// offers the change.
func TestPolicyImpactPage(t *testing.T) {
	e, b, _, id := negotiationEnv(t)
	base := e.srv.URL + "/servers/" + id + "/impact?since=2026-11-01T00:00&policy="
	resp, body := get(t, b, base+"TransferSecurityPolicy-FIPS-2024-01")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the preview: %s", resp.Status)
	}
	rows := regexp.MustCompile(`<tr class="change-([a-z ]+)"><th scope="row">[^<]+</th><td class="wrap"><code>([^<]+)</code>`).FindAllStringSubmatch(body, -1)
	var got []string
	for _, r := range rows {
		got = append(got, r[1]+" "+html.UnescapeString(r[2]))
	}
	wantRows := []string{"breaks SSH-2.0-AcmeScanner_2.1", "changes SSH-2.0-Go", "changes SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10",
		"changes SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3", "unknown SSH-2.0-libssh_0.10.6", "fixed SSH-2.0-paramiko_3.5.1"}
	if !slices.Equal(got, wantRows) {
		t.Errorf("rows:\n%s", strings.Join(got, "\n"))
	}
	if !strings.Contains(body, `<strong class="bad">1</strong> would break`) || !strings.Contains(body, "FAILS: no matching key exchange method found") ||
		!strings.Contains(body, `<button type="submit" class="danger">Change the server to TransferSecurityPolicy-FIPS-2024-01</button>`) {
		t.Error("the preview lacks its totals, a prediction or the change button")
	}
	// Only the records in the range count.
	_, body = get(t, b, strings.Replace(base, "2026-11-01", "2026-11-24", 1)+"TransferSecurityPolicy-FIPS-2024-01")
	if n := strings.Count(body, `<tr class="change-`); n != 1 {
		t.Errorf("from 2026-11-24: %d rows, want AcmeScanner's", n)
	}
	// The current policy is no change to make.
	_, body = get(t, b, base+"TransferSecurityPolicy-2018-11")
	if strings.Contains(body, "Change the server to") || !strings.Contains(body, "(current)") {
		t.Error("the current policy is offered as a change")
	}
	if resp, body := get(t, b, base+"TransferSecurityPolicy-Nope"); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "policy: ") {
		t.Errorf("an unknown policy: %s", resp.Status)
	}
}

// Console users sign in with the password console-password set; changing or removing it ends
// their sessions, and a password file that cannot be read lets no console user in.
func TestConsolePasswords(t *testing.T) {
	file := filepath.Join(t.TempDir(), "data", console.PasswordFileName)
	e := newEnvWith(t, func(o *console.Options) { o.PasswordFile = file })
	if err := console.SetPassword(file, "ops", "correct horse battery"); err == nil || !strings.Contains(err.Error(), "data directory") {
		t.Errorf("SetPassword without the data directory: %v", err)
	}
	if err := os.Mkdir(filepath.Dir(file), 0o700); err != nil {
		t.Fatal(err)
	}
	signIn := func(b *http.Client, name, password string) int {
		resp, _ := post(t, b, e.srv.URL+"/signin", url.Values{"access_key_id": {name}, "secret_access_key": {password}})
		return resp.StatusCode
	}
	b := e.browser(t)
	if got := signIn(b, "ops", "correct horse battery"); got != http.StatusUnauthorized {
		t.Fatalf("before any password is set: %d", got)
	}
	for _, c := range []struct{ name, password, want string }{
		{"ops", "short", "at least 12"},
		{"ops", strings.Repeat("x", 73), "at most 72"},
		{"ops:root", "correct horse battery", "console user name"},
		{"", "correct horse battery", "console user name"},
	} {
		if err := console.SetPassword(file, c.name, c.password); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("SetPassword(%q, %d bytes): %v, want %q", c.name, len(c.password), err, c.want)
		}
	}
	if err := console.SetPassword(file, "ops", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	if err := console.SetPassword(file, "audit", "another long password"); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the password file: %v, %v; want mode 0600", fi, err)
	}
	if data := mustRead(t, file); strings.Contains(string(data), "correct horse") || !regexp.MustCompile(`(?m)^audit:\$2a\$12\$.{53}\nops:\$2a\$12\$`).Match(data) {
		t.Errorf("the file holds:\n%s", data)
	}
	if got := signIn(b, "ops", "wrong password!!"); got != http.StatusUnauthorized {
		t.Errorf("a wrong password: %d", got)
	}
	if got := signIn(b, "audit", "correct horse battery"); got != http.StatusUnauthorized {
		t.Errorf("another user's password: %d", got)
	}
	if got := signIn(b, "ops", "correct horse battery"); got != http.StatusSeeOther {
		t.Fatalf("the right password: %d", got)
	}
	if resp, _ := get(t, b, e.srv.URL+"/servers"); resp.StatusCode != http.StatusOK {
		t.Fatalf("a page after signing in with a password: %s", resp.Status)
	}
	other := e.browser(t)
	if got := signIn(other, "audit", "another long password"); got != http.StatusSeeOther {
		t.Fatalf("the second user: %d", got)
	}
	// A new password for ops ends its sessions, not audit's.
	if err := console.SetPassword(file, "ops", "a new long password"); err != nil {
		t.Fatal(err)
	}
	if resp, _ := get(t, b, e.srv.URL+"/servers"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("ops's session after its password changed: %s, want a redirect to sign in", resp.Status)
	}
	if resp, _ := get(t, other, e.srv.URL+"/servers"); resp.StatusCode != http.StatusOK {
		t.Errorf("audit's session after ops's password changed: %s", resp.Status)
	}
	if got := signIn(b, "ops", "correct horse battery"); got != http.StatusUnauthorized {
		t.Errorf("the old password: %d", got)
	}
	// Removing audit's password ends its session.
	if found, err := console.DeletePassword(file, "audit"); !found || err != nil {
		t.Fatalf("DeletePassword: %v, %v", found, err)
	}
	if resp, _ := get(t, other, e.srv.URL+"/servers"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("audit's session after its password was removed: %s", resp.Status)
	}
	// A damaged file, or one with a cheaper hash (whose quick failures would tell which names
	// exist): nobody signs in with a password, the key pair still works.
	cheap, err := bcrypt.GenerateFromPassword([]byte("a new long password"), 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, content := range []string{"ops:not-a-hash\n", "ops:" + string(cheap) + "\n"} {
		if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if got := signIn(b, "ops", "a new long password"); got != http.StatusUnauthorized {
			t.Errorf("password file %q: sign-in %d", content, got)
		}
	}
	if got := signIn(b, creds.AccessKeyID, creds.SecretAccessKey); got != http.StatusSeeOther {
		t.Errorf("the key pair with a damaged password file: %d", got)
	}
}

// BenchmarkNegotiationPage charts a server's negotiations over an activity log of 100,000
// records (CONNECTED, CLOSE and DISCONNECTED of 33,334 sessions from four client versions, about
// 30 MB), all in the range: the page reads the whole file each time.
func BenchmarkNegotiationPage(b *testing.B) {
	log := filepath.Join(b.TempDir(), "activity.log")
	e := newEnvWith(b, func(o *console.Options) { o.ActivityLog = log })
	id, err := e.svc.CreateServer(context.Background(), control.CreateServerInput{})
	if err != nil {
		b.Fatal(err)
	}
	f, err := os.Create(log)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	clients := []string{"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10", "SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13", "SSH-2.0-PuTTY_Release_0.81", "SSH-2.0-paramiko_3.5.1"}
	at := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	arn := "arn:aws:transfer:us-east-1:000000000000:server/" + id
	for i := range 100_000 {
		ts := at.Add(time.Duration(i) * 100 * time.Millisecond).Format(time.RFC3339Nano)
		switch i % 3 {
		case 0:
			fmt.Fprintf(w, `{"timestamp":%q,"activity-type":"CONNECTED","session-id":"%020d","resource-arn":%q,"user":"user%d","client":%q,"source-ip":"10.0.%d.%d","kex":"curve25519-sha256","host-key-algorithm":"rsa-sha2-512","ciphers":"aes128-gcm@openssh.com,aes128-gcm@openssh.com","macs":"<implicit>,<implicit>","ssh-public-key-fingerprint":"SHA256:abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG","method":"publickey"}`+"\n",
				ts, i, arn, i%500, clients[i%4], i%200, i%250)
		case 1:
			fmt.Fprintf(w, `{"timestamp":%q,"activity-type":"CLOSE","session-id":"%020d","resource-arn":%q,"user":"user%d","operation":"WRITE","path":"/bucket/user%d/file-%d.csv","bytes-in":"123456"}`+"\n", ts, i-1, arn, i%500, i%500, i)
		default:
			fmt.Fprintf(w, `{"timestamp":%q,"activity-type":"DISCONNECTED","session-id":"%020d","resource-arn":%q,"user":"user%d"}`+"\n", ts, i-2, arn, i%500)
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	br := e.browser(b)
	e.signIn(b, br)
	u := e.srv.URL + "/servers/" + id + "/negotiation?since=2026-12-01T00:00"
	if _, body := get(b, br, u); !strings.Contains(body, "33334 connections") {
		b.Fatalf("the page counts %s", regexp.MustCompile(`\d+ connections`).FindString(body))
	}
	b.ResetTimer()
	for b.Loop() {
		get(b, br, u)
	}
}
