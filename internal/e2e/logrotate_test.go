package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/transferd/transferd/internal/activity"
)

// TestLogRotation renames the activity, audit and operational logs under 4 uploading clients and
// sends SIGHUP, as logrotate does: every record is whole, in the old file or the new one, and
// none is lost or written twice.
func TestLogRotation(t *testing.T) {
	t.Parallel()
	alice := keyFor(t, "ed25519")
	port := freePort(t)
	dir := t.TempDir()
	audit, ops := filepath.Join(dir, "audit.log"), filepath.Join(dir, "transferd.log")
	p := start(t, configYAML(t.TempDir(), serverConf{Port: port, Users: []userConf{chrootUser("alice", alice)}}),
		"--audit-log", audit, "--log-file", ops)

	var (
		uploaded atomic.Int64
		stop     atomic.Bool
		wg       sync.WaitGroup
	)
	for w := range 4 {
		c := dialSFTP(t, port, "alice", alice)
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				f, err := c.Create(fmt.Sprintf("w%d-%04d", w, i))
				if err == nil {
					_, err = f.Write([]byte("rotated"))
					if cerr := f.Close(); err == nil {
						err = cerr
					}
				}
				if err != nil {
					t.Errorf("client %d, file %d: %v", w, i, err)
					return
				}
				uploaded.Add(1)
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	for _, path := range []string{p.actLog, audit, ops} {
		if err := os.Rename(path, path+".1"); err != nil {
			t.Fatal(err)
		}
	}
	p.reload(t) // waits for "SIGHUP: config applied" in the new operational log
	time.Sleep(300 * time.Millisecond)
	stop.Store(true)
	wg.Wait()

	closes := map[string]int{}
	perFile := map[string]int{}
	for _, path := range []string{p.actLog + ".1", p.actLog} {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var r activity.Record
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				t.Errorf("%s: a record cut or mixed: %q: %v", path, sc.Text(), err)
				continue
			}
			if r.ActivityType == activity.Close {
				closes[r.SessionID+" "+r.Path]++
				perFile[filepath.Base(path)]++
			}
		}
		f.Close()
	}
	if int64(len(closes)) != uploaded.Load() {
		t.Errorf("%d CLOSE records over both files for %d uploads", len(closes), uploaded.Load())
	}
	for k, n := range closes {
		if n != 1 {
			t.Errorf("CLOSE of %s written %d times", k, n)
		}
	}
	if perFile[filepath.Base(p.actLog)+".1"] == 0 || perFile[filepath.Base(p.actLog)] == 0 {
		t.Errorf("CLOSE records per file %v: want some before and some after the rotation", perFile)
	}
	t.Logf("%d uploads; CLOSE records per file: %v", uploaded.Load(), perFile)
	if _, err := os.Stat(audit); err != nil {
		t.Errorf("no new audit log after SIGHUP: %v", err)
	}
	if b, _ := os.ReadFile(audit + ".1"); !strings.Contains(string(b), `"eventName":"CreateServer"`) {
		t.Errorf("the rotated audit log lacks the config file's CreateServer:\n%s", b)
	}
	for _, path := range []string{ops, ops + ".1"} {
		b, err := os.ReadFile(path)
		if err != nil || len(b) == 0 {
			t.Errorf("%s: %d bytes, %v; want the operational log in both files", path, len(b), err)
		}
	}
	if b, _ := os.ReadFile(ops); !strings.Contains(string(b), "SIGHUP: log files reopened") {
		t.Errorf("the new operational log lacks the reopening line:\n%s", b)
	}
}
