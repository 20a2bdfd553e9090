package e2e

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/transfer"
	"github.com/chromedp/chromedp"

	"github.com/transferd/transferd/internal/activity"
)

// chromium is Debian's, which scripts/test installs.
const chromium = "/usr/bin/chromium"

// newBrowser starts a headless Chromium of the test's own (flags as the machine's notes say:
// without the background networking, a closed network refuses Chromium's many connections)
// and returns a context for chromedp, at a laptop's window size.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("%s is not installed: run scripts/test, which installs Debian's chromium (%v)", chromium, err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox, // the tests run as root here
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.WindowSize(1280, 800),
	)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	// Start the browser on this context: the first run's context owns it, and the steps run on
	// contexts of their own, with deadlines.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", chromium, err)
	}
	return ctx
}

// browserStep bounds each step in the browser (the whole suite shares two cores with Chromium).
const browserStep = time.Minute

// leaving marks the page shown, so that arrived can tell when the next one has replaced it: a
// wait for an element could otherwise find it on the page being left.
func leaving() chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Evaluate[bool](`window.__leaving = true`)(ctx, tg)
		return chromedp.Void{}, err
	}
}

// arrived waits until a new page has replaced the one leaving marked, and has loaded.
func arrived() chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		for {
			// While the page changes, evaluating may fail: the old document is gone.
			if done, err := chromedp.Evaluate[bool](`window.__leaving !== true && document.readyState === "complete"`)(ctx, tg); err == nil && done {
				return chromedp.Void{}, nil
			}
			select {
			case <-ctx.Done():
				return chromedp.Void{}, ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
}

// screenshot saves the page as PNG (quality 100 is PNG) in the test's artifact directory (go test -artifacts keeps it).
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, browserStep)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(t.ArtifactDir(), name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// browse runs steps in the browser, and on failure shows where it was and what the page said.
func browse(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	step, cancel := context.WithTimeout(ctx, browserStep)
	defer cancel()
	if err := chromedp.Do(step, steps...); err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		body, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("body")))
		t.Fatalf("%s: %v\nat %s:\n%s", what, err, loc, body)
	}
}

// read returns what action reads in the browser.
func read[T any](t *testing.T, ctx context.Context, action chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, browserStep)
	defer cancel()
	v, err := chromedp.Run(ctx, action)
	if err != nil {
		t.Fatalf("reading the page: %v", err)
	}
	return v
}

// TestConsole drives the web console in a real browser: sign in with the API's key pair, create
// a server through the form, stop and start it, change its policy and delete it; the page works
// from the keyboard and fits a phone's width; a cookie from before a restart is refused.
func TestConsole(t *testing.T) {
	t.Parallel()
	consolePort := freePort(t)
	base := "http://127.0.0.1:" + strconv.Itoa(consolePort)
	p, client, _ := apiClientFor(t, "Servers: []\n", "--console-listen", "127.0.0.1:"+strconv.Itoa(consolePort))
	creds := readCredentials(t, p)
	ctx := newBrowser(t)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	location := func() string { return read(t, ctx, chromedp.Location()) }

	// Signed out, every page leads to the sign-in form; the first Tab reaches the skip link.
	browse(t, ctx, "open the console", chromedp.Navigate(base+"/servers"), chromedp.WaitVisible(css("#access_key_id")))
	if loc := location(); !strings.Contains(loc, "/signin") {
		t.Errorf("signed out, /servers led to %s", loc)
	}
	screenshot(t, ctx, "signin")
	checkPage(t, ctx, "signin")
	browse(t, ctx, "sign in with a wrong secret",
		chromedp.SendKeys(css("#access_key_id"), creds.AccessKeyId),
		chromedp.SendKeys(css("#secret_access_key"), "wrong"),
		leaving(), chromedp.Submit(css("#secret_access_key")), arrived(),
		chromedp.WaitVisible(css(`[role="alert"]`)))
	browse(t, ctx, "sign in",
		chromedp.SetValue(css("#secret_access_key"), creds.SecretAccessKey),
		leaving(), chromedp.Submit(css("#secret_access_key")), arrived(),
		chromedp.WaitVisible(css("#endpoint")))
	if loc := location(); !strings.HasSuffix(loc, "/servers") {
		t.Errorf("after sign-in: %s, want the page asked for, /servers", loc)
	}
	browse(t, ctx, "Tab to the skip link", chromedp.KeyEvent("\t"))
	if focused := read(t, ctx, chromedp.Evaluate[string](`document.activeElement.textContent`)); focused != "Skip to the content" {
		t.Errorf("the first Tab focuses %q, want the skip link", focused)
	}

	// Create a server through the form.
	sftpPort := freePort(t)
	browse(t, ctx, "create a server",
		chromedp.SetValue(css("#endpoint"), "127.0.0.1:"+strconv.Itoa(sftpPort)),
		chromedp.SetValue(css("#policy"), "TransferSecurityPolicy-2018-11"),
		leaving(), chromedp.Submit(css("#endpoint")), arrived(),
		chromedp.WaitVisible(css(".flash")))
	loc := location()
	id := loc[strings.LastIndex(loc, "/")+1:]
	if flash := read(t, ctx, chromedp.Text(css(".flash"))); !strings.HasPrefix(id, "s-") || !strings.Contains(flash, "created") {
		t.Fatalf("after Create: at %s, message %q", loc, flash)
	}
	d := describeServer(t, client, id)
	if d.State != "ONLINE" || d.Policy != "TransferSecurityPolicy-2018-11" || d.Endpoint != fmt.Sprintf("127.0.0.1:%d", sftpPort) {
		t.Errorf("the server the form created: %+v", d)
	}
	screenshot(t, ctx, "server")
	page := read(t, ctx, chromedp.Text(css("main")))
	for _, want := range []string{"ONLINE", "TransferSecurityPolicy-2018-11", "ssh-rsa", "SHA256:"} {
		if !strings.Contains(page, want) {
			t.Errorf("the server's page lacks %q:\n%s", want, page)
		}
	}
	waitListening(t, sftpPort, true)

	// A user with a key uploaded as its .pub file, through the forms; OpenSSH's sftp logs in.
	key := keyFor(t, "ed25519")
	if err := os.MkdirAll(filepath.Join(p.root, "bucket1", "webuser"), 0o755); err != nil {
		t.Fatal(err)
	}
	browse(t, ctx, "add a user",
		leaving(), chromedp.Click(css(`a[href$="/users"]`)), arrived(),
		chromedp.WaitVisible(css("#user_name")),
		chromedp.SendKeys(css("#user_name"), "webuser"),
		chromedp.SendKeys(css("#role"), testRole),
		chromedp.SetValue(css("#home_type"), "LOGICAL"),
		chromedp.SendKeys(css("#mappings"), "/ /bucket1/webuser"),
		chromedp.SetUploadFiles(css("#key_file"), []string{key.Path + ".pub"}),
		leaving(), chromedp.Submit(css("#user_name")), arrived(),
		chromedp.WaitVisible(css(".flash")))
	if flash := read(t, ctx, chromedp.Text(css(".flash"))); flash != "User webuser created." {
		t.Fatalf("after adding the user: %q", flash)
	}
	screenshot(t, ctx, "user")
	if page := read(t, ctx, chromedp.Text(css("main"))); !strings.Contains(page, key.Fingerprint) {
		t.Errorf("the user's page does not show the uploaded key's fingerprint %s:\n%s", key.Fingerprint, page)
	}
	mustSFTP(t, sftpPort, "webuser", key, "put "+key.Path+".pub uploaded.pub\n")
	if _, err := os.Stat(filepath.Join(p.root, "bucket1", "webuser", "uploaded.pub")); err != nil {
		t.Errorf("the user's upload: %v", err)
	}

	// While OpenSSH's sftp holds a session open, the live sessions page shows it with what it
	// negotiated; Disconnect ends it, and its DISCONNECTED record says who did.
	earlier := map[string]bool{}
	for _, r := range p.records(t) {
		earlier[r.SessionID] = true
	}
	held := sftpCommand(t.Context(), sftpPort, "webuser", key)
	stdin, err := held.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	if err := held.Start(); err != nil {
		t.Fatal(err)
	}
	connected := p.waitRecord(t, "CONNECTED of webuser's held session", func(r *activity.Record) bool {
		return r.ActivityType == activity.Connected && r.User == "webuser" && !earlier[r.SessionID]
	})
	browse(t, ctx, "live sessions", leaving(), chromedp.Click(css(`a[href="/sessions"]`)), arrived(), chromedp.WaitVisible(css(`form[action$="/disconnect"]`)))
	page = read(t, ctx, chromedp.Text(css("main")))
	for _, want := range []string{"webuser", "127.0.0.1", connected.Kex, connected.Ciphers, "OpenSSH"} {
		if !strings.Contains(page, want) {
			t.Errorf("the live sessions page lacks %q:\n%s", want, page)
		}
	}
	screenshot(t, ctx, "sessions")
	browse(t, ctx, "disconnect it", leaving(), chromedp.Click(css(`form[action="/sessions/`+connected.SessionID+`/disconnect"] button`)), arrived(),
		chromedp.WaitVisible(css(".flash")))
	// sftp notices at its next command: it waits on its batch input, not on the connection.
	stdin.Write([]byte("ls\n"))
	stdin.Close()
	done := make(chan error, 1)
	go func() { done <- held.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			t.Error("sftp's ls after Disconnect succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Error("sftp still runs 10 s after Disconnect and a command")
	}
	disc := p.waitRecord(t, "DISCONNECTED of the held session", func(r *activity.Record) bool {
		return r.ActivityType == activity.Disconnected && r.SessionID == connected.SessionID
	})
	if !strings.Contains(disc.Message, "disconnected from the web console by "+creds.AccessKeyId) {
		t.Errorf("the DISCONNECTED record's message is %q", disc.Message)
	}
	// The activity page finds the session's records, with the algorithms it negotiated.
	browse(t, ctx, "activity of webuser", leaving(), chromedp.Click(css(`a[href="/activity"]`)), arrived(), chromedp.WaitVisible(css("#user")),
		chromedp.SendKeys(css("#user"), "webuser"), leaving(), chromedp.Submit(css("#user")), arrived(), chromedp.WaitVisible(css("caption")))
	page = read(t, ctx, chromedp.Text(css("main")))
	for _, want := range []string{"CONNECTED", "DISCONNECTED", connected.Kex, connected.Ciphers, "disconnected from the web console by", "uploaded.pub"} {
		if !strings.Contains(page, want) {
			t.Errorf("the activity page, user webuser, lacks %q:\n%s", want, page)
		}
	}
	screenshot(t, ctx, "activity")
	checkPage(t, ctx, "activity")

	// The server's negotiation charts show what the session negotiated, under its client version.
	browse(t, ctx, "negotiation", chromedp.Navigate(base+"/servers/"+id), chromedp.WaitVisible(css("#policy")),
		leaving(), chromedp.Click(css(`a[href$="/negotiation"]`)), arrived(), chromedp.WaitVisible(css("#chart-kex")))
	for chart, want := range map[string]string{"#clients": connected.Client, "#chart-kex": connected.Kex,
		"#chart-host-key-algorithm": connected.HostKeyAlgorithm, "#chart-ciphers": oneWay(t, connected.Ciphers), "#chart-macs": oneWay(t, connected.Macs)} {
		if text := read(t, ctx, chromedp.Text(css(chart))); !strings.Contains(text, want) || !strings.Contains(text, "OpenSSH") {
			t.Errorf("%s lacks %q or the client's version:\n%s", chart, want, text)
		}
	}
	screenshot(t, ctx, "negotiation")
	checkPage(t, ctx, "negotiation")

	// Explain, from the server's page (its policy and host keys): the answer is transferd
	// explain's, and what the real client negotiated.
	browse(t, ctx, "explain", chromedp.Navigate(base+"/servers/"+id), chromedp.WaitVisible(css("#policy")),
		leaving(), chromedp.Click(css(`a[href^="/explain?server="]`)), arrived(), chromedp.WaitVisible(css("#client")),
		chromedp.SetValue(css("#client"), "openssh-9.2-debian12"),
		leaving(), chromedp.Submit(css("#client")), arrived(), chromedp.WaitVisible(css("#choices")))
	shown := read(t, ctx, chromedp.Evaluate[[][]string](`[...document.querySelectorAll("#choices tbody tr")].map(tr => [...tr.cells].map(c => c.textContent))`))
	var cli struct {
		Choices []struct{ Category, Chosen, Rule string }
		Record  struct {
			Kex              string `json:"kex"`
			HostKeyAlgorithm string `json:"host-key-algorithm"`
			Ciphers          string `json:"ciphers"`
			Macs             string `json:"macs"`
		} `json:"record"`
	}
	out, err := exec.Command(suite.bin, "explain", "--policy", "TransferSecurityPolicy-2018-11", "--host-keys", "ssh-rsa",
		"--client", "openssh-9.2-debian12", "--json").Output()
	if err != nil || json.Unmarshal(out, &cli) != nil {
		t.Fatalf("transferd explain: %v\n%s", err, out)
	}
	var want [][]string
	for _, c := range cli.Choices {
		want = append(want, []string{c.Category, cmp.Or(c.Chosen, "none in common"), c.Rule})
	}
	if !slices.EqualFunc(shown, want, slices.Equal) {
		t.Errorf("the explain page chose\n%q\ntransferd explain chose\n%q", shown, want)
	}
	if r := cli.Record; r.Kex != connected.Kex || r.HostKeyAlgorithm != connected.HostKeyAlgorithm || r.Ciphers != connected.Ciphers || r.Macs != connected.Macs {
		t.Errorf("explain predicts %+v; the session negotiated kex %s, host key %s, ciphers %s, macs %s",
			r, connected.Kex, connected.HostKeyAlgorithm, connected.Ciphers, connected.Macs)
	}
	screenshot(t, ctx, "explain")
	checkPage(t, ctx, "explain")

	// A policy change previewed over the server's records: the session's client, and what it
	// would negotiate under FIPS-2024-01.
	browse(t, ctx, "preview a policy change", chromedp.Navigate(base+"/servers/"+id), chromedp.WaitVisible(css("#policy")),
		leaving(), chromedp.Click(css(`a[href$="/impact"]`)), arrived(), chromedp.WaitVisible(css("#policy")),
		chromedp.SetValue(css("#policy"), "TransferSecurityPolicy-FIPS-2024-01"),
		leaving(), chromedp.Submit(css("#policy")), arrived(), chromedp.WaitVisible(css("#impact")))
	if text := read(t, ctx, chromedp.Text(css("#impact"))); !strings.Contains(text, connected.Client) || !strings.Contains(text, "webuser") ||
		!strings.Contains(text, "connects: kex ") {
		t.Errorf("the preview lacks the session's client, user or prediction:\n%s", text)
	}
	screenshot(t, ctx, "impact")
	checkPage(t, ctx, "impact")
	browse(t, ctx, "back to the server", chromedp.Navigate(base+"/servers/"+id), chromedp.WaitVisible(css("#policy")))

	browse(t, ctx, "stop it", leaving(), chromedp.Click(css(`form[action$="/stop"] button`)), arrived(),
		chromedp.WaitVisible(css(`form[action$="/start"] button`)))
	waitListening(t, sftpPort, false)
	browse(t, ctx, "start it", leaving(), chromedp.Click(css(`form[action$="/start"] button`)), arrived(),
		chromedp.WaitVisible(css(`form[action$="/stop"] button`)))
	waitListening(t, sftpPort, true)
	browse(t, ctx, "change its policy",
		chromedp.SetValue(css("#policy"), "TransferSecurityPolicy-2024-01"),
		leaving(), chromedp.Submit(css("#policy")), arrived(),
		chromedp.WaitVisible(css(".flash")))
	if d := describeServer(t, client, id); d.Policy != "TransferSecurityPolicy-2024-01" {
		t.Errorf("after changing the policy: %+v", d)
	}

	// Every page, at 1280x800 and on a phone, with a user whose name is as long as a name can
	// be: nothing wider than the screen, and nothing axe-core finds against WCAG 2.1 A and AA.
	long := strings.Repeat("long.user-name_", 6) + "0123456789"
	if _, err := client.CreateUser(t.Context(), &transfer.CreateUserInput{ServerId: &id, UserName: &long, Role: aws.String(testRole),
		HomeDirectory: aws.String("/bucket1/" + long)}); err != nil {
		t.Fatal(err)
	}
	for _, pg := range []string{"/servers", "/servers/" + id, "/servers/" + id + "/users", "/servers/" + id + "/users/" + long,
		"/sessions", "/activity?user=webuser", "/servers/" + id + "/negotiation", "/servers/" + id + "/impact?policy=TransferSecurityPolicy-FIPS-2024-01",
		"/explain?server=" + id + "&client=putty-0.84"} {
		name := strings.NewReplacer("/", "-", "?", "-", "=", "-", "&", "-", id, "s", long, "long").Replace(strings.Trim(pg, "/"))
		browse(t, ctx, pg, chromedp.Navigate(base+pg), chromedp.WaitVisible(css("h1")))
		if pg == "/servers" {
			screenshot(t, ctx, "servers")
		}
		checkPage(t, ctx, pg)
		browse(t, ctx, "a phone-sized window", chromedp.EmulateViewport(390, 844), chromedp.Reload(), chromedp.WaitVisible(css("h1")))
		if wide := read(t, ctx, chromedp.Evaluate[[]string](tooWide)); len(wide) > 0 {
			t.Errorf("%s: on a 390-pixel-wide screen the page is wider than the screen, from %q", pg, wide)
		}
		screenshot(t, ctx, name+"-phone")
		browse(t, ctx, "back to a laptop's window", chromedp.EmulateViewport(1280, 800))
	}

	// Delete, with the ID typed to confirm.
	browse(t, ctx, "delete it",
		chromedp.Navigate(base+"/servers/"+id+"/delete"), chromedp.WaitVisible(css("#confirm")),
		chromedp.SendKeys(css("#confirm"), id),
		leaving(), chromedp.Submit(css("#confirm")), arrived(),
		chromedp.WaitVisible(css(".flash")))
	if loc := location(); !strings.HasSuffix(loc, "/servers") {
		t.Errorf("after Delete: %s", loc)
	}
	waitListening(t, sftpPort, false)

	// A restart starts with no sessions: the browser's cookie no longer signs it in.
	p.restart(t)
	browse(t, ctx, "after a restart", chromedp.Navigate(base+"/servers"), chromedp.WaitVisible(css("#access_key_id")))
	if loc := location(); !strings.Contains(loc, "/signin") {
		t.Errorf("after a restart the old session still works: %s", loc)
	}

	// A console user made with transferd console-password signs in, no restart needed.
	cmd := exec.Command(suite.bin, "console-password", "--data-dir", p.dataDir, "ops")
	cmd.Stdin = strings.NewReader("a console password\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("transferd console-password: %v\n%s", err, out)
	}
	// From the keyboard alone: the name field has the focus, Tab goes to the password, Enter
	// submits.
	browse(t, ctx, "sign in as a console user, from the keyboard",
		chromedp.KeyEvent("ops"), chromedp.KeyEvent("\t"), chromedp.KeyEvent("a console password"),
		leaving(), chromedp.KeyEvent("\r"), arrived(),
		chromedp.WaitVisible(css("#endpoint")))
	if loc := location(); !strings.HasSuffix(loc, "/servers") {
		t.Errorf("after signing in as console user ops: %s", loc)
	}
}

// tooWide names the innermost elements that reach beyond the window's right edge, when the page
// is wider than the window.
const tooWide = `document.documentElement.scrollWidth <= window.innerWidth ? [] :
	[...document.querySelectorAll("body *")]
		.filter(e => e.getBoundingClientRect().right > window.innerWidth + 1 && ![...e.children].some(c => c.getBoundingClientRect().right > window.innerWidth + 1))
		.filter(e => !e.closest(".scroll"))
		.slice(0, 5).map(e => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + (e.className ? "." + e.className : "") + " " + e.textContent.slice(0, 40))`

// oneWay is the name a record's "client to server,server to client" pair shows as when both
// directions agree, as they do for OpenSSH.
func oneWay(t *testing.T, pair string) string {
	a, b, ok := strings.Cut(pair, ",")
	if !ok || a != b {
		t.Fatalf("the pair %q does not name one algorithm for both directions", pair)
	}
	return a
}

// axeCore is the accessibility checker scripts/install-clients puts in the cache.
func axeCore(t *testing.T) string {
	src, err := os.ReadFile(filepath.Join(cacheHome(), "transferd-test", "npm", "node_modules", "axe-core", "axe.min.js"))
	if err != nil {
		t.Fatalf("axe-core is not installed: run scripts/install-clients (%v)", err)
	}
	return string(src)
}

// axeResult is what checkPage reads of axe-core's results.
type axeResult struct {
	Passes     int
	Violations []struct {
		ID, Impact, Help string
		Nodes            []string
	}
}

// checkPage runs axe-core in the page shown and reports what it finds against WCAG 2.0 and 2.1,
// levels A and AA, and its best practices.
func checkPage(t *testing.T, ctx context.Context, page string) {
	t.Helper()
	res := read(t, ctx, chromedp.Evaluate[axeResult](axeCore(t)+`;
		axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]}})
			.then(r => ({Passes: r.passes.length,
				Violations: r.violations.map(v => ({ID: v.id, Impact: v.impact, Help: v.help, Nodes: v.nodes.map(n => n.target.join(" "))}))}))`,
		chromedp.EvalAwaitPromise))
	if res.Passes < 10 {
		t.Errorf("%s: axe-core passed only %d rules: did it run?", page, res.Passes)
	}
	for _, v := range res.Violations {
		t.Errorf("%s: axe-core: %s (%s): %s, at %q", page, v.ID, v.Impact, v.Help, v.Nodes)
	}
}

type serverFacts struct{ State, Policy, Endpoint string }

// describeServer asks the management API about a server.
func describeServer(t *testing.T, c *transfer.Client, id string) serverFacts {
	t.Helper()
	out, err := c.DescribeServer(t.Context(), &transfer.DescribeServerInput{ServerId: &id})
	if err != nil {
		t.Fatalf("DescribeServer %s: %v", id, err)
	}
	f := serverFacts{State: string(out.Server.State), Policy: aws.ToString(out.Server.SecurityPolicyName)}
	for _, tag := range out.Server.Tags {
		if aws.ToString(tag.Key) == "transferd:Endpoint" {
			f.Endpoint = aws.ToString(tag.Value)
		}
	}
	return f
}

// waitListening waits until port accepts connections (or, with !up, refuses them).
func waitListening(t *testing.T, port int, up bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, derr := dialFrom("", fmt.Sprintf("127.0.0.1:%d", port))
		if derr == nil {
			c.Close()
		}
		if (derr == nil) == up {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("port %d: listening %v, want %v", port, derr == nil, up)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Over TLS (--console-tls-cert/--console-tls-key) the console answers HTTPS only and its session
// cookie is Secure.
func TestConsoleTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := newCA(t, dir, "console")
	cert := ca.leaf(t, dir, "console")
	port := freePort(t)
	p, _, _ := apiClientFor(t, "Servers: []\n", "--console-listen", "127.0.0.1:"+strconv.Itoa(port),
		"--console-tls-cert", cert, "--console-tls-key", filepath.Join(dir, "console-key.pem"))
	creds := readCredentials(t, p)
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	base := "https://127.0.0.1:" + strconv.Itoa(port)
	resp, err := c.PostForm(base+"/signin", url.Values{"access_key_id": {creds.AccessKeyId}, "secret_access_key": {creds.SecretAccessKey}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var secure bool
	for _, ck := range resp.Cookies() {
		secure = ck.Name == "transferd_console" && ck.Secure && ck.HttpOnly
	}
	if resp.StatusCode != http.StatusSeeOther || !secure {
		t.Errorf("sign-in over TLS: %s, cookies %v; want a Secure, HttpOnly session cookie", resp.Status, resp.Cookies())
	}
	if resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/signin"); err == nil {
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Errorf("plain HTTP to the TLS console: %s", resp.Status)
		}
	}

	// The flags go together, and need --console-listen.
	for _, flags := range [][]string{
		{"--console-listen", "127.0.0.1:" + strconv.Itoa(freePort(t)), "--console-tls-cert", cert},
		{"--console-tls-cert", cert, "--console-tls-key", filepath.Join(dir, "console-key.pem")},
	} {
		q := prepare(t, nil, "Servers: []\n", flags...)
		q.spawn(t)
		if !q.wait(startLimit) || q.exitCode() == 0 || !strings.Contains(q.stderrText(), "--console-tls") {
			t.Errorf("serve %q: exit %d, stderr:\n%s", flags, q.exitCode(), q.stderrText())
		}
	}
}
