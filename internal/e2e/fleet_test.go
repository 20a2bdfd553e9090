package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/transfer"
	"github.com/aws/aws-sdk-go-v2/service/transfer/types"
	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/transferd/transferd/internal/activity"
)

// fleetCredentials is the management API's key pair that every node of a fleet test shares, as
// nodes behind one load balancer must.
var fleetCredentials = []string{"env", "TRANSFERD_ACCESS_KEY_ID=AKIAFLEETTESTKEY0001", "TRANSFERD_SECRET_ACCESS_KEY=fleet-test-secret"}

// fleetNode is one transferd process of a fleet on a shared PostgreSQL state store.
type fleetNode struct {
	*proc
	name string
	host string // its --listen-host
	api  *transfer.Client
}

// addr is where the node serves the fleet's server.
func (n *fleetNode) addr(port int) string { return net.JoinHostPort(n.host, strconv.Itoa(port)) }

// startFleet starts one node per host on the state store db with the config cfg, all at once,
// each with its management API and the shared key pair, believing PROXY headers from 127.0.0.1
// (HAProxy's source address).
func startFleet(t *testing.T, db, cfg string, hosts ...string) []*fleetNode {
	t.Helper()
	nodes := make([]*fleetNode, len(hosts))
	for i, h := range hosts {
		apiPort := freePort(t)
		name := "node-" + string(rune('a'+i))
		p := prepare(t, fleetCredentials, cfg, "--state", db, "--listen-host", h, "--proxy-protocol-from", "127.0.0.1",
			"--node-name", name, "--api-listen", "127.0.0.1:"+strconv.Itoa(apiPort), "--node-timeout", "4s")
		nodes[i] = &fleetNode{proc: p, name: name, host: h, api: transfer.New(transfer.Options{
			Region:       "us-east-1",
			BaseEndpoint: aws.String("http://127.0.0.1:" + strconv.Itoa(apiPort)),
			Credentials:  credentials.NewStaticCredentialsProvider(strings.TrimPrefix(fleetCredentials[1], "TRANSFERD_ACCESS_KEY_ID="), strings.TrimPrefix(fleetCredentials[2], "TRANSFERD_SECRET_ACCESS_KEY="), ""),
		})}
	}
	// All at once: each applies the config file, one after the other, and all but the first find
	// it applied.
	for _, n := range nodes {
		n.spawn(t)
	}
	for _, n := range nodes {
		n.await(t)
	}
	return nodes
}

// haproxyConfig is the HAProxy configuration docs/DEPLOY.md shows, on loopback: its bind line at
// front, its server lines replaced by the nodes at port, and HAProxy's connections to them from
// 127.0.0.1 (the nodes' --proxy-protocol-from); nothing else changed.
func haproxyConfig(t *testing.T, front string, port int, nodes []*fleetNode) string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join(suite.root, "docs", "DEPLOY.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(doc), "```haproxy\n")
	if ok {
		block, _, ok = strings.Cut(block, "```")
	}
	if !ok {
		t.Fatal("docs/DEPLOY.md has no ```haproxy block")
	}
	var b strings.Builder
	binds, servers := 0, 0
	for line := range strings.Lines(block) {
		field := strings.Fields(line)
		switch {
		case len(field) > 0 && field[0] == "bind":
			fmt.Fprintf(&b, "    bind %s\n", front)
			binds++
		case len(field) > 0 && field[0] == "server":
			if servers == 0 {
				b.WriteString("    source 127.0.0.1\n")
				for _, n := range nodes {
					fmt.Fprintf(&b, "    server %s %s\n", n.name, n.addr(port))
				}
			}
			servers++
		default:
			b.WriteString(line)
		}
	}
	if binds != 1 || servers == 0 {
		t.Fatalf("docs/DEPLOY.md's HAProxy configuration: %d bind lines and %d servers, want 1 and some", binds, servers)
	}
	return b.String()
}

// startHAProxy runs Debian's haproxy in the foreground with cfg until the test ends, and waits
// until it accepts connections at front.
func startHAProxy(t *testing.T, cfg, front string) {
	t.Helper()
	needTool(t, "haproxy")
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("haproxy", "-c", "-f", path).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c: %v\n%s", err, out)
	}
	var out syncBuffer
	cmd := exec.Command("haproxy", "-db", "-f", path)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("haproxy output:\n%s", out.String())
		}
	})
	for deadline := time.Now().Add(startLimit); ; time.Sleep(20 * time.Millisecond) {
		select {
		case <-exited:
			t.Fatalf("haproxy exited: %v\n%s", cmd.ProcessState, out.String())
		default:
		}
		if c, err := dialFrom("", front); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("haproxy does not accept connections on %s after %v\n%s", front, startLimit, out.String())
		}
	}
}

// waitListeningWithin waits until a TCP connection to addr from the local address from succeeds
// (want) or is refused (!want), for at most limit; it returns how long that took.
func waitListeningWithin(t *testing.T, from, addr string, want bool, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		c, err := dialFrom(from, addr)
		if err == nil {
			c.Close()
		}
		if (err == nil) == want {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			t.Fatalf("%s: listening %v after %v, want %v", addr, err == nil, limit, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sftpAt opens an SFTP session to addr from the local address from. It may be called from any
// goroutine; close closes the session and its connection.
func sftpAt(from, addr, user string, key *sshKey) (c *sftp.Client, close func(), err error) {
	sc, _, err := dialSSHAt(from, addr, user, key)
	if err != nil {
		return nil, nil, err
	}
	c, err = sftp.NewClient(sc)
	if err != nil {
		sc.Close()
		return nil, nil, err
	}
	return c, func() { c.Close(); sc.Close() }, nil
}

// hostKeyAt returns the SHA256 fingerprint of the host key the server at addr shows to a client
// connecting from from.
func hostKeyAt(t *testing.T, from, addr string) string {
	t.Helper()
	var fp string
	nc, err := dialFrom(from, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(connLimit))
	_, _, _, err = ssh.NewClientConn(nc, addr, &ssh.ClientConfig{User: "nobody",
		HostKeyCallback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
			fp = ssh.FingerprintSHA256(key)
			return fmt.Errorf("seen")
		}})
	if fp == "" {
		t.Fatalf("no host key from %s: %v", addr, err)
	}
	return fp
}

// TestFleet runs three transferd nodes on one PostgreSQL and one S3 behind HAProxy configured as
// docs/DEPLOY.md shows (TCP mode, PROXY protocol v2): they start together on one config file and
// apply it once; they show the same host key; a user created through node A's API logs in at
// once through the load balancer and on B and C directly; 100 sessions spread over the nodes,
// with the client's address, not HAProxy's, in every record; a server stopped through C stops on
// all three, and started through A starts on all three.
func TestFleet(t *testing.T) {
	t.Parallel()
	needTool(t, "sftp")
	db := needPostgres(t).NewDatabase(t)
	s3e := newS3Env(t)
	alice, bob := keyFor(t, "ed25519"), keyFor(t, "ecdsa-256")
	port := freePort(t)
	cfg := s3ConfigYAML(s3e.srv, serverConf{Port: port, ID: "s-000000000000f1ee7", Users: []userConf{s3User("alice", s3e.bucket, alice)}})
	nodes := startFleet(t, db, cfg, "127.0.0.11", "127.0.0.12", "127.0.0.13")
	front := fmt.Sprintf("127.0.0.1:%d", port)
	startHAProxy(t, haproxyConfig(t, front, port, nodes), front)
	ctx := t.Context()

	servers, err := nodes[1].api.ListServers(ctx, &transfer.ListServersInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(servers.Servers) != 1 {
		t.Fatalf("after three nodes applied one config file: %d servers, want 1", len(servers.Servers))
	}
	want := hostKeyAt(t, "127.0.0.3", nodes[0].addr(port))
	for _, n := range nodes[1:] {
		if got := hostKeyAt(t, "127.0.0.3", n.addr(port)); got != want {
			t.Errorf("%s shows host key %s, %s shows %s", n.name, got, nodes[0].name, want)
		}
	}

	// A user created through A logs in at once through the load balancer, and on B and C.
	_, err = nodes[0].api.CreateUser(ctx, &transfer.CreateUserInput{ServerId: aws.String("s-000000000000f1ee7"), UserName: aws.String("bob"),
		Role: aws.String(testRole), HomeDirectoryType: types.HomeDirectoryTypeLogical,
		HomeDirectoryMappings: []types.HomeDirectoryMapEntry{{Entry: aws.String("/"), Target: aws.String("/" + s3e.bucket + "/bob")}},
		SshPublicKeyBody:      aws.String(bob.Authorized)})
	if err != nil {
		t.Fatal(err)
	}
	mustSFTP(t, port, "bob", bob, "put /etc/hostname bob.txt\n", "-o", "BindAddress=127.0.0.2")
	for _, n := range nodes[1:] {
		c, closeC, err := sftpAt("127.0.0.3", n.addr(port), "bob", bob)
		if err != nil {
			t.Fatalf("bob on %s directly: %v", n.name, err)
		}
		if _, err := c.Stat("bob.txt"); err != nil {
			t.Errorf("bob on %s: stat bob.txt: %v", n.name, err)
		}
		closeC()
	}

	// 100 sessions at once through the load balancer from 127.0.0.2, spread over the three
	// nodes; they log in 8 at a time (each node admits 10 unauthenticated ones per address).
	const sessions = 100
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		closers []func()
		logins  = make(chan struct{}, 8)
	)
	errs := make(chan error, sessions)
	for i := range sessions {
		wg.Go(func() {
			logins <- struct{}{}
			c, closeC, err := sftpAt("127.0.0.2", front, "alice", alice)
			<-logins
			if err != nil {
				errs <- fmt.Errorf("session %d: %w", i, err)
				return
			}
			mu.Lock()
			closers = append(closers, closeC)
			mu.Unlock()
			f, err := c.Create(fmt.Sprintf("s%03d.txt", i))
			if err == nil {
				_, err = f.Write([]byte(strconv.Itoa(i)))
				err = errors.Join(err, f.Close())
			}
			if err != nil {
				errs <- fmt.Errorf("session %d: %w", i, err)
			}
		})
	}
	wg.Wait()
	for _, c := range closers {
		c()
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	total := 0
	for _, n := range nodes {
		var connected int
		for _, r := range n.records(t) {
			if r.ActivityType != activity.Connected || r.User != "alice" {
				continue
			}
			connected++
			if r.SourceIP != "127.0.0.2" {
				t.Errorf("%s: CONNECTED from source-ip %q, want the client's 127.0.0.2", n.name, r.SourceIP)
			}
			if r.Node != n.name {
				t.Errorf("%s: record names node %q", n.name, r.Node)
			}
		}
		if connected == 0 {
			t.Errorf("%s served none of the %d sessions", n.name, sessions)
		}
		t.Logf("%s served %d sessions", n.name, connected)
		total += connected
	}
	if total != sessions {
		t.Errorf("the nodes logged %d CONNECTED records for alice, want %d", total, sessions)
	}

	// A server created through B starts on every node; stopped through C, no node listens within
	// 2 s; started through A, every node listens again.
	port2 := freePort(t)
	created, err := nodes[1].api.CreateServer(ctx, &transfer.CreateServerInput{
		Tags: []types.Tag{{Key: aws.String("transferd:Endpoint"), Value: aws.String(fmt.Sprintf("127.0.0.1:%d", port2))}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		took := waitListeningWithin(t, "127.0.0.3", n.addr(port2), true, 2*time.Second)
		t.Logf("%s listened %v after CreateServer through %s returned", n.name, took.Round(time.Millisecond), nodes[1].name)
	}
	if _, err := nodes[2].api.StopServer(ctx, &transfer.StopServerInput{ServerId: created.ServerId}); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		took := waitListeningWithin(t, "127.0.0.3", n.addr(port2), false, 2*time.Second)
		t.Logf("%s stopped listening %v after StopServer through %s returned", n.name, took.Round(time.Millisecond), nodes[2].name)
	}
	if _, err := nodes[0].api.StartServer(ctx, &transfer.StartServerInput{ServerId: created.ServerId}); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		waitListeningWithin(t, "127.0.0.3", n.addr(port2), true, 2*time.Second)
	}
	desc, err := nodes[2].api.DescribeServer(ctx, &transfer.DescribeServerInput{ServerId: created.ServerId})
	if err != nil || desc.Server.State != types.StateOnline {
		t.Errorf("DescribeServer through %s after StartServer: %v, %v; want ONLINE", nodes[2].name, desc, err)
	}
}

// TestFleetNodeDies kills one of three nodes (kill -9) while 20 clients upload files of 12 MiB
// (S3 multipart uploads) through HAProxy: every client that retries through the balancer succeeds
// on the nodes left, each file is whole in S3, and the multipart uploads the dead node left are
// aborted by the others once it has gone unheard of for --node-timeout: none is left.
func TestFleetNodeDies(t *testing.T) {
	t.Parallel()
	db := needPostgres(t).NewDatabase(t)
	s3e := newS3Env(t)
	alice := keyFor(t, "ed25519")
	port := freePort(t)
	cfg := s3ConfigYAML(s3e.srv, serverConf{Port: port, Users: []userConf{s3User("alice", s3e.bucket, alice)}})
	nodes := startFleet(t, db, cfg, "127.0.0.21", "127.0.0.22", "127.0.0.23")
	front := fmt.Sprintf("127.0.0.1:%d", port)
	startHAProxy(t, haproxyConfig(t, front, port, nodes), front)
	ctx := t.Context()

	const files, size, chunk = 20, 12 << 20, 512 << 10
	content := func(i int) []byte {
		b := make([]byte, size)
		for j := range b {
			b[j] = byte(i*7 + j/4096)
		}
		return b
	}
	upload := func(i int) error {
		c, closeC, err := sftpAt("127.0.0.2", front, "alice", alice)
		if err != nil {
			return err
		}
		defer closeC()
		f, err := c.Create(fmt.Sprintf("f%02d.dat", i))
		if err != nil {
			return err
		}
		data := content(i)
		for off := 0; off < size; off += chunk {
			if _, err := f.Write(data[off : off+chunk]); err != nil {
				f.Close()
				return err
			}
			time.Sleep(50 * time.Millisecond) // about 1.2 s a file: the kill finds them in flight
		}
		return f.Close()
	}
	var wg sync.WaitGroup
	attempts := make([]int, files)
	failed := make([]error, files)
	logins := make(chan struct{}, 8)
	for i := range files {
		wg.Go(func() {
			for attempts[i] = 1; ; attempts[i]++ {
				logins <- struct{}{}
				err := func() error { defer func() { <-logins }(); return upload(i) }()
				if err == nil {
					failed[i] = nil
					return
				}
				failed[i] = err
				if attempts[i] == 10 {
					return
				}
				time.Sleep(300 * time.Millisecond)
			}
		})
	}
	// Kill node A once multipart uploads are in flight.
	deadline := time.Now().Add(connLimit)
	for {
		ups, err := s3e.c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &s3e.bucket})
		if err != nil {
			t.Fatal(err)
		}
		if len(ups.Uploads) >= 6 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no multipart uploads in flight after %v", connLimit)
		}
		time.Sleep(20 * time.Millisecond)
	}
	nodes[0].signal(syscall.SIGKILL)
	wg.Wait()
	retried := 0
	for i := range files {
		if failed[i] != nil {
			t.Errorf("file %d: failed %d times, last: %v", i, attempts[i], failed[i])
		}
		if attempts[i] > 1 {
			retried++
		}
	}
	if retried == 0 {
		t.Error("no upload had to be retried: the killed node had none in flight")
	}
	t.Logf("%d of %d uploads were retried after %s was killed", retried, files, nodes[0].name)

	// Every file is whole; nothing else is in the bucket.
	keys, err := s3e.keys(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != files {
		t.Errorf("objects in the bucket: %d (%v), want %d", len(keys), keys, files)
	}
	for i := range files {
		key := fmt.Sprintf("home/f%02d.dat", i)
		out, err := s3e.c.GetObject(ctx, &s3.GetObjectInput{Bucket: &s3e.bucket, Key: &key})
		if err != nil {
			t.Errorf("%s: %v", key, err)
			continue
		}
		got, err := io.ReadAll(out.Body)
		out.Body.Close()
		if err != nil || !bytes.Equal(got, content(i)) {
			t.Errorf("%s: %d bytes (%v), not the %d uploaded", key, len(got), err, size)
		}
	}
	// The dead node's multipart uploads are aborted by the others.
	deadline = time.Now().Add(30 * time.Second)
	for {
		ups, err := s3e.c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &s3e.bucket})
		if err != nil {
			t.Fatal(err)
		}
		if len(ups.Uploads) == 0 {
			break
		}
		if time.Now().After(deadline) {
			for _, u := range ups.Uploads {
				t.Errorf("left: %s upload %s initiated %v", aws.ToString(u.Key), aws.ToString(u.UploadId), aws.ToTime(u.Initiated))
				for _, n := range nodes {
					for line := range strings.Lines(n.stderrText()) {
						if strings.Contains(line, aws.ToString(u.UploadId)) || strings.Contains(line, aws.ToString(u.Key)) {
							t.Logf("%s: %s", n.name, line)
						}
					}
				}
			}
			t.Fatalf("%d multipart uploads left 30 s after %s was killed", len(ups.Uploads), nodes[0].name)
		}
		time.Sleep(200 * time.Millisecond)
	}
	aborted := 0
	for _, n := range nodes[1:] {
		aborted += strings.Count(n.stderrText(), "aborted a multipart upload a dead node left")
	}
	if aborted == 0 {
		t.Error("no surviving node logged aborting the dead node's uploads")
	}
}
