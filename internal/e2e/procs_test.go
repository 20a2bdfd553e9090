package e2e

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestSchedulerFollowsBusyConnections holds more SFTP sessions busy (a file open in each) than
// half the cores, and checks in transferd's debug log that the Go scheduler gets a P for each,
// then goes back to half the cores once the files are closed and the sessions have parked.
func TestSchedulerFollowsBusyConnections(t *testing.T) {
	if os.Getenv("GOMAXPROCS") != "" {
		t.Skip("GOMAXPROCS is set: transferd keeps that number of Ps")
	}
	// transferd runs on this machine, under the same limits, so it starts with the same number.
	most := runtime.GOMAXPROCS(0)
	if most < 2 {
		t.Skip("a single P: nothing to govern")
	}
	least := (most + 1) / 2
	n := least + 1
	if n > 16 {
		t.Skipf("%d cores: the test would hold %d sessions", most, n)
	}
	t.Parallel()
	const user = "busy_user"
	key := keyFor(t, "ed25519")
	port := freePort(t)
	p := start(t, configYAML("", serverConf{Port: port, Users: []userConf{chrootUser(user, key)}}))

	// waitLog waits for line in what transferd logs after the first from bytes.
	waitLog := func(what string, from int, line string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for !strings.Contains(p.stderrText()[from:], line) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: no %q in transferd's log:\n%s", what, line, p.stderrText())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitLog("at start", 0, fmt.Sprintf(`msg="Go scheduler: Ps follow busy connections" min=%d max=%d`, least, most))

	var closers []func() error
	for i := range n {
		c := dialSFTP(t, port, user, key)
		f, err := c.Create(fmt.Sprintf("f%d", i))
		if err != nil {
			t.Fatalf("session %d: create: %v", i, err)
		}
		if _, err := f.Write([]byte("busy")); err != nil {
			t.Fatalf("session %d: write: %v", i, err)
		}
		closers = append(closers, f.Close)
	}
	waitLog(fmt.Sprintf("%d sessions with a file open", n), 0, fmt.Sprintf(`msg="Go scheduler resized" procs=%d busy=%d`, n, n))
	from := len(p.stderrText())
	for i, c := range closers {
		if err := c(); err != nil {
			t.Fatalf("session %d: close: %v", i, err)
		}
	}
	// Each session parks after a second with nothing open; a second later the Ps go back.
	// (busy may still count a session that parks later than the others: it cannot hold more Ps.)
	waitLog("files closed, sessions parked", from, fmt.Sprintf(`msg="Go scheduler resized" procs=%d busy=`, least))
}
