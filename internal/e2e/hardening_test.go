package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/transfer"
	"github.com/aws/aws-sdk-go-v2/service/transfer/types"
	"golang.org/x/crypto/ssh"

	"github.com/transferd/transferd/internal/activity"
)

// TestKeysWithOptionsAreRefused: a key line with authorized_keys options (from=, command= ...) is
// refused by CreateUser, ImportSshPublicKey and the config file, naming the field and the
// options, since transferd would not enforce them.
func TestKeysWithOptionsAreRefused(t *testing.T) {
	t.Parallel()
	_, client := apiClient(t)
	ctx := context.Background()
	key := keyFor(t, "ed25519")
	withOptions := `from="10.0.0.0/8",command="/bin/false" ` + key.Authorized

	cs, err := client.CreateServer(ctx, &transfer.CreateServerInput{
		Tags: []types.Tag{{Key: aws.String("transferd:Endpoint"), Value: aws.String(fmt.Sprintf("127.0.0.1:%d", freePort(t)))}},
	})
	if err != nil {
		t.Fatalf("CreateServer: %v", err)
	}
	user := &transfer.CreateUserInput{ServerId: cs.ServerId, UserName: aws.String("alice"), Role: aws.String(testRole),
		SshPublicKeyBody: aws.String(withOptions)}
	_, err = client.CreateUser(ctx, user)
	if err == nil || !strings.Contains(err.Error(), "SshPublicKeyBody") || !strings.Contains(err.Error(), "authorized_keys options (from, command)") {
		t.Fatalf("CreateUser with a key with options: %v; want a refusal naming SshPublicKeyBody and the options", err)
	}
	user.SshPublicKeyBody = nil
	if _, err := client.CreateUser(ctx, user); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	_, err = client.ImportSshPublicKey(ctx, &transfer.ImportSshPublicKeyInput{ServerId: cs.ServerId, UserName: aws.String("alice"), SshPublicKeyBody: aws.String(withOptions)})
	if err == nil || !strings.Contains(err.Error(), "authorized_keys options (from, command)") {
		t.Fatalf("ImportSshPublicKey with options: %v; want a refusal", err)
	}
	du, err := client.DescribeUser(ctx, &transfer.DescribeUserInput{ServerId: cs.ServerId, UserName: aws.String("alice")})
	if err != nil || len(du.User.SshPublicKeys) != 0 {
		t.Fatalf("DescribeUser after the refusals: %+v, %v; want no keys", du, err)
	}

	dir := t.TempDir()
	cfg := filepath.Join(dir, "transferd.yaml")
	yaml := configYAML("", serverConf{Port: freePort(t), Users: []userConf{chrootUser("bob")}})
	yaml = strings.Replace(yaml, "        HomeDirectoryMappings:", "        SshPublicKeys:\n          - "+strconv.Quote(withOptions)+"\n        HomeDirectoryMappings:", 1)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	stderr, code := runServe(t, "--data-dir", filepath.Join(dir, "data"), "--config", cfg)
	if code == 0 || !strings.Contains(stderr, "Servers[0].Users[0].SshPublicKeys[0]") || !strings.Contains(stderr, "authorized_keys options") {
		t.Fatalf("serve with a key with options in the config file exited %d; stderr:\n%s\nwant a refusal naming the field", code, stderr)
	}
}

// paramikoAsync runs testdata/paramiko_client.py in the background; its output and exit status
// come on the channel (and what kept it from running, which also fails the test).
func paramikoAsync(t *testing.T, port int, user string, key *sshKey, ops ...string) <-chan string {
	t.Helper()
	out := make(chan string, 1)
	go func() {
		o, code, err := runPython("paramiko", "testdata/paramiko_client.py", port, user, key, "", false, ops...)
		if err != nil {
			t.Error(err)
		}
		out <- fmt.Sprintf("%s\nexit %d", o, code)
	}()
	return out
}

var openedRE = regexp.MustCompile(`hold-open opened (\d+)`)

// opened is how many files a paramiko hold-open step opened.
func opened(t *testing.T, out string) int {
	t.Helper()
	m := openedRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no hold-open result in the paramiko output:\n%s", out)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestHandleLimits: a session may hold MaxHandlesPerSession handles (and says so in
// limits@openssh.com), a user MaxHandlesPerUser across sessions; a user at its limits does not
// stop another user's login and upload, and handles freed by a session's end are free again.
func TestHandleLimits(t *testing.T) {
	t.Parallel()
	alice, bob := keyFor(t, "ed25519"), keyFor(t, "ecdsa-256")
	port := freePort(t)
	p := start(t, configYAML("", serverConf{Port: port, Users: []userConf{chrootUser("alice", alice), chrootUser("bob", bob)},
		Extra: "Limits:\n  MaxHandlesPerSession: 40\n  MaxHandlesPerUser: 60\n"}))
	release := filepath.Join(t.TempDir(), "release")
	first := paramikoAsync(t, port, "alice", alice, "limits", "hold-open 1000 .", "wait "+release)
	p.waitRecord(t, "ERROR of alice's refused open", func(r *activity.Record) bool {
		return r.ActivityType == activity.Error && r.User == "alice" && strings.Contains(r.Message, "MaxHandlesPerSession")
	})
	second := <-paramikoAsync(t, port, "alice", alice, "mkdir two", "hold-open 1000 two")
	if n := opened(t, second); n != 20 || !strings.Contains(second, "MaxHandlesPerUser") {
		t.Errorf("alice's second session opened %d files while the first held 40, want 20 (MaxHandlesPerUser 60) and then a failure; output:\n%s", n, second)
	}
	out := mustSFTP(t, port, "bob", bob, "put /etc/hostname up\nls -l up\n")
	if !strings.Contains(out, "up") {
		t.Errorf("bob's upload while alice holds her handles:\n%s", out)
	}
	if err := os.WriteFile(release, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	out = <-first
	if n := opened(t, out); n != 40 {
		t.Errorf("alice's first session opened %d files, want 40 (MaxHandlesPerSession); output:\n%s", n, out)
	}
	if !strings.Contains(out, "ok limits 262144 261120 261120 40") {
		t.Errorf("limits@openssh.com does not advertise 40 open handles; output:\n%s", out)
	}
	third := <-paramikoAsync(t, port, "alice", alice, "hold-open 40 .")
	if n := opened(t, third); n != 40 {
		t.Errorf("after her sessions ended alice opened %d files, want 40: handles were not given back; output:\n%s", n, third)
	}
	var refusals []string
	for _, r := range p.records(t) {
		if r.ActivityType == activity.Error && r.Operation == activity.Open && strings.Contains(r.Message, "MaxHandles") {
			refusals = append(refusals, r.Message)
		}
	}
	if len(refusals) != 2 || !strings.Contains(refusals[1], "MaxHandlesPerUser") {
		t.Errorf("ERROR records of refused opens: %q; want one per session that was refused, the second naming MaxHandlesPerUser", refusals)
	}
}

// TestFileDescriptorReserve: with a low file descriptor limit and per-user handle limits above
// it, one user opening files until refused takes only the handles' share of the descriptors:
// another user still logs in and uploads.
func TestFileDescriptorReserve(t *testing.T) {
	t.Parallel()
	needTool(t, "prlimit")
	alice, bob := keyFor(t, "ed25519"), keyFor(t, "ecdsa-256")
	port := freePort(t)
	p := startWrapped(t, []string{"prlimit", "--nofile=300:300", "--"}, configYAML("", serverConf{Port: port,
		Users: []userConf{chrootUser("alice", alice), chrootUser("bob", bob)},
		Extra: "Limits:\n  MaxHandlesPerSession: 5000\n  MaxHandlesPerUser: 5000\n"}))
	release := filepath.Join(t.TempDir(), "release")
	held := paramikoAsync(t, port, "alice", alice, "hold-open 5000 .", "wait "+release)
	p.waitRecord(t, "ERROR of alice's refused open", func(r *activity.Record) bool {
		return r.ActivityType == activity.Error && r.User == "alice" && r.Operation == activity.Open
	})
	out := mustSFTP(t, port, "bob", bob, "put /etc/hostname up\nls -l up\n")
	if !strings.Contains(out, "up") {
		t.Errorf("bob's upload while alice holds every handle:\n%s", out)
	}
	os.WriteFile(release, nil, 0o600)
	out = <-held
	if n := opened(t, out); n != 37 || !strings.Contains(p.stderrText(), "handles=150 reserved=150") || !strings.Contains(out, "a quarter of the 150") {
		t.Errorf("alice opened %d files under a limit of 300 descriptors, want 37 (a quarter of the 150 left when 150 are reserved); output:\n%s", n, out)
	}
}

// TestPenaltiesAndStartups: from 127.0.0.2, 300 connections that never speak and 200 failed
// logins; meanwhile a user from 127.0.0.3 logs in and uploads. 127.0.0.2 holds at most
// MaxStartupsPerSourceIp connections that have not logged in, is penalised after a few failed
// logins (its connections are then refused before the handshake), and its refusals are a handful
// of records, not hundreds; a user name of 5000 characters is cut to 100 in the record.
func TestPenaltiesAndStartups(t *testing.T) {
	t.Parallel()
	alice, wrong := keyFor(t, "ed25519"), keyFor(t, "ed25519#other")
	port := freePort(t)
	p := start(t, configYAML("", serverConf{Port: port, Users: []userConf{chrootUser("alice", alice)}}))
	addr := fmt.Sprintf("127.0.0.1:%d", port)

	// A failed login with a long user name (from another address, to leave 127.0.0.2's penalty
	// to the floods).
	if c, _, err := dialSSHFrom(t, "127.0.0.6", port, strings.Repeat("u", 5000), wrong); err == nil {
		c.Close()
		t.Fatal("a login with the wrong key worked")
	}
	long := p.waitRecord(t, "AUTH_FAILURE of the long user name", func(r *activity.Record) bool {
		return r.ActivityType == activity.AuthFailure && strings.HasPrefix(r.User, "uuu")
	})
	if len(long.User) != 100 || !strings.HasSuffix(long.User, "...") {
		t.Errorf("AUTH_FAILURE user is %d characters (%q...), want 100 ending in ...", len(long.User), long.User[:min(len(long.User), 20)])
	}

	// While the floods run, a user from 127.0.0.3 uploads.
	upload := func(name string) <-chan string {
		done := make(chan string, 1)
		go func() {
			out, err := runSFTP(port, "alice", alice, "put /etc/hostname "+name+"\nls -l "+name+"\n", "-o", "BindAddress=127.0.0.3")
			if err != nil || !strings.Contains(out, name) {
				done <- fmt.Sprintf("the upload from 127.0.0.3 during the flood failed (%v):\n%s", err, out)
			}
			close(done)
		}()
		return done
	}

	// 300 connections that never speak: all but MaxStartupsPerSourceIp (10) are closed at once.
	during := upload("during-silent")
	var silent []net.Conn
	t.Cleanup(func() {
		for _, nc := range silent {
			nc.Close()
		}
	})
	for range 300 {
		nc, err := dialFrom("127.0.0.2", addr)
		if err != nil {
			t.Fatalf("connecting from 127.0.0.2: %v", err)
		}
		silent = append(silent, nc)
	}
	var (
		wg          sync.WaitGroup
		mu          sync.Mutex
		closedEarly int
	)
	for _, nc := range silent {
		wg.Go(func() {
			nc.SetReadDeadline(time.Now().Add(3 * time.Second))
			buf := make([]byte, 256)
			for {
				_, err := nc.Read(buf)
				if err == nil {
					continue // the server's identification line
				}
				if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
					mu.Lock()
					closedEarly++
					mu.Unlock()
				}
				return
			}
		})
	}
	wg.Wait()
	if closedEarly != 290 {
		t.Errorf("the server closed %d of 300 silent connections from 127.0.0.2 at once, want all but 10 (MaxStartupsPerSourceIp)", closedEarly)
	}
	if msg, failed := <-during; failed {
		t.Error(msg)
	}
	for _, nc := range silent {
		nc.Close() // each earns a second of penalty: 10 s, not enough to refuse anything yet
	}

	// 200 failed logins, 8 at a time: a few earn the address a penalty, and the rest are
	// refused before the handshake.
	during = upload("during-logins")
	authFailures := make(chan error, 200)
	var logins sync.WaitGroup
	sem := make(chan struct{}, 8)
	for range 200 {
		logins.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			c, _, err := dialSSHFrom(t, "127.0.0.2", port, "alice", wrong)
			if err == nil {
				c.Close()
			}
			authFailures <- err
		})
	}
	logins.Wait()
	close(authFailures)
	for err := range authFailures {
		if err == nil {
			t.Fatal("a login with the wrong key worked")
		}
	}
	if msg, failed := <-during; failed {
		t.Error(msg)
	}

	recs := p.records(t)
	var fails, rejected int
	var reasons []string
	for _, r := range recs {
		switch {
		case r.ActivityType == activity.AuthFailure && r.SourceIP == "127.0.0.2":
			fails++
		case r.ActivityType == activity.ConnectionRejected && r.SourceIP == "127.0.0.2":
			rejected++
			reasons = append(reasons, fmt.Sprintf("%s (count %d)", r.Message, r.Count))
		case r.ActivityType == activity.ConnectionRejected || r.ActivityType == activity.AuthFailure && r.SourceIP != "127.0.0.6":
			t.Errorf("record from another address: %+v", r)
		}
	}
	joined := strings.Join(reasons, "\n")
	t.Logf("from 127.0.0.2: %d AUTH_FAILURE records, %d CONNECTION_REJECTED:\n%s", fails, rejected, joined)
	if fails > 40 {
		t.Errorf("%d AUTH_FAILURE records from 127.0.0.2 for 200 failed logins: the penalty did not cut them short", fails)
	}
	if rejected == 0 || rejected > 10 || !strings.Contains(joined, "MaxStartupsPerSourceIp") || !strings.Contains(joined, "penalised") {
		t.Errorf("%d CONNECTION_REJECTED records from 127.0.0.2, want a handful naming MaxStartupsPerSourceIp and the penalty:\n%s", rejected, joined)
	}
	// 127.0.0.3 was not penalised: it logs in again at once.
	mustSFTP(t, port, "alice", alice, "ls\n", "-o", "BindAddress=127.0.0.3")
	// 127.0.0.2 is: even the right key is refused before the handshake.
	if c, _, err := dialSSHFrom(t, "127.0.0.2", port, "alice", alice); err == nil {
		c.Close()
		t.Error("a penalised address logged in")
	}
}

// TestConnectionLimitsByTag: limits set with tags through the API apply to the running server at
// once: MaxConnectionsPerUser refuses a user's next login with a message saying so,
// MaxConnectionsPerSourceIp closes an address's next connection before the handshake; untagging
// returns them to their defaults; bad values and unknown transferd: keys are refused.
func TestConnectionLimitsByTag(t *testing.T) {
	t.Parallel()
	p, client := apiClient(t)
	ctx := context.Background()
	key := keyFor(t, "ed25519")
	port := freePort(t)
	cs, err := client.CreateServer(ctx, &transfer.CreateServerInput{Tags: []types.Tag{
		{Key: aws.String("transferd:Endpoint"), Value: aws.String(fmt.Sprintf("127.0.0.1:%d", port))},
		{Key: aws.String("transferd:MaxConnectionsPerUser"), Value: aws.String("2")},
	}})
	if err != nil {
		t.Fatalf("CreateServer: %v", err)
	}
	if _, err := client.CreateUser(ctx, &transfer.CreateUserInput{ServerId: cs.ServerId, UserName: aws.String("alice"), Role: aws.String(testRole),
		HomeDirectoryType:     types.HomeDirectoryTypeLogical,
		HomeDirectoryMappings: []types.HomeDirectoryMapEntry{{Entry: aws.String("/"), Target: aws.String("/bucket1/alice")}},
		SshPublicKeyBody:      aws.String(key.Authorized)}); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	arn := aws.String(fmt.Sprintf("arn:aws:transfer:us-east-1:000000000000:server/%s", aws.ToString(cs.ServerId)))
	for _, bad := range []types.Tag{
		{Key: aws.String("transferd:MaxConnectionsPerUser"), Value: aws.String("none")},
		{Key: aws.String("transferd:MaxStartups"), Value: aws.String("10:30:5")},
		{Key: aws.String("transferd:MaxConections"), Value: aws.String("5")},
	} {
		if _, err := client.TagResource(ctx, &transfer.TagResourceInput{Arn: arn, Tags: []types.Tag{bad}}); err == nil || !strings.Contains(err.Error(), aws.ToString(bad.Key)) {
			t.Errorf("TagResource %s=%s: %v; want a refusal naming the key", aws.ToString(bad.Key), aws.ToString(bad.Value), err)
		}
	}

	var held []*ssh.Client
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for i := range 2 {
		c, _, err := dialSSH(t, port, "alice", key)
		if err != nil {
			t.Fatalf("alice's connection %d of 2: %v", i+1, err)
		}
		held = append(held, c)
	}
	out, err := sftpBatch(t, port, "alice", key, "ls\n")
	if err == nil {
		t.Fatalf("a third connection of alice under MaxConnectionsPerUser 2 logged in:\n%s", out)
	}
	p.waitRecord(t, "AUTH_FAILURE for too many connections", func(r *activity.Record) bool {
		return r.ActivityType == activity.AuthFailure && r.User == "alice" && strings.Contains(r.Message, "Too many connections") && strings.Contains(r.Message, "MaxConnectionsPerUser")
	})
	if _, err := client.UntagResource(ctx, &transfer.UntagResourceInput{Arn: arn, TagKeys: []string{"transferd:MaxConnectionsPerUser"}}); err != nil {
		t.Fatalf("UntagResource: %v", err)
	}
	mustSFTP(t, port, "alice", key, "ls\n")

	if _, err := client.TagResource(ctx, &transfer.TagResourceInput{Arn: arn, Tags: []types.Tag{{Key: aws.String("transferd:MaxConnectionsPerSourceIp"), Value: aws.String("3")}}}); err != nil {
		t.Fatalf("TagResource: %v", err)
	}
	var conns []net.Conn
	defer func() {
		for _, nc := range conns {
			nc.Close()
		}
	}()
	for range 3 {
		nc, err := dialFrom("127.0.0.4", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, nc)
	}
	nc, err := dialFrom("127.0.0.4", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if b, err := io.ReadAll(nc); err != nil || len(b) != 0 {
		t.Errorf("a fourth connection from 127.0.0.4 under MaxConnectionsPerSourceIp 3 read %q, %v; want it closed before the server says anything", b, err)
	}
	p.waitRecord(t, "CONNECTION_REJECTED for MaxConnectionsPerSourceIp", func(r *activity.Record) bool {
		return r.ActivityType == activity.ConnectionRejected && r.SourceIP == "127.0.0.4" && strings.Contains(r.Message, "MaxConnectionsPerSourceIp")
	})
}

// TestAPIDropsSlowClients: the management API closes a connection whose headers or body come too
// slowly, and while hundreds of such connections are open a real client's call still succeeds.
func TestAPIDropsSlowClients(t *testing.T) {
	t.Parallel()
	_, client, apiPort := apiClientFor(t, "Servers: []\n")
	addr := fmt.Sprintf("127.0.0.1:%d", apiPort)
	var conns []net.Conn
	defer func() {
		for _, nc := range conns {
			nc.Close()
		}
	}()
	// 300 connections that send half a request line; then one that sends headers and a trickle
	// of its body.
	for range 300 {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(nc, "POST / HTTP/1.1\r\nHost: x\r\n")
		conns = append(conns, nc)
	}
	slow, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	began := time.Now()
	fmt.Fprintf(slow, "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: 100000\r\n\r\n")
	trickled := make(chan time.Duration, 1)
	go func() {
		for {
			if _, err := slow.Write([]byte("{")); err != nil {
				trickled <- time.Since(began)
				return
			}
			time.Sleep(500 * time.Millisecond)
			if time.Since(began) > 2*time.Minute {
				trickled <- 0
				return
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := client.ListServers(ctx, &transfer.ListServersInput{}); err != nil {
		t.Errorf("ListServers while 300 slow clients hold connections: %v", err)
	}
	t.Logf("ListServers answered %v after the slow clients connected", time.Since(began).Round(time.Millisecond))
	d := <-trickled
	t.Logf("the trickling client was disconnected after %v", d.Round(time.Millisecond))
	if d == 0 || d > 45*time.Second {
		t.Errorf("a client trickling its body was still connected after %v; want it closed within the read timeout (30s)", d)
	}
}
