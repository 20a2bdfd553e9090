package console_test

import (
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

	"golang.org/x/crypto/ssh"

	"github.com/transferd/transferd/internal/console"
	"github.com/transferd/transferd/internal/control"
	"github.com/transferd/transferd/internal/metastore"
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
		"/servers/" + id + "/users", "/servers/" + id + "/users/alice", "/sessions"}
	changes := []string{"/servers", "/servers/" + id + "/start", "/servers/" + id + "/stop", "/servers/" + id + "/policy", "/servers/" + id + "/delete", "/signout",
		"/servers/" + id + "/users", "/servers/" + id + "/users/alice/home", "/servers/" + id + "/users/alice/keys",
		"/servers/" + id + "/users/alice/keys/key-0/delete", "/servers/" + id + "/users/alice/delete", "/sessions/abc/disconnect",
		"/servers/" + id + "/hostkeys", "/servers/" + id + "/hostkeys/hostkey-0/delete"}
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
	pemKey := func() string {
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
	for _, desc := range []string{"first ed25519", "second ed25519"} {
		post(t, b, page+"/hostkeys", url.Values{"csrf": {csrf}, "host_key": {pemKey()}, "description": {desc}})
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
