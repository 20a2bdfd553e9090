package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/transferd/transferd/internal/activity"
)

// TestActivityQuery generates an activity log of 200,000 records and checks `transferd activity`
// against an independent Python count over the same file: connections by kex and ciphers since a
// time, bytes by user from CLOSE records, and a --where filter; and that it reads the log in
// bounded memory (about the same peak RSS over the log and over a tenth of it).
func TestActivityQuery(t *testing.T) {
	t.Parallel()
	log := filepath.Join(t.TempDir(), "activity.log")
	f, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	rng := rand.New(rand.NewPCG(1, 2))
	kexes := []string{"curve25519-sha256", "mlkem768x25519-sha256", "ecdh-sha2-nistp256", "diffie-hellman-group14-sha256"}
	ciphers := []string{"aes128-gcm@openssh.com,aes128-gcm@openssh.com", "aes256-gcm@openssh.com,aes256-gcm@openssh.com", "chacha20-poly1305@openssh.com,chacha20-poly1305@openssh.com", "aes256-ctr,aes256-ctr"}
	start := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	enc := json.NewEncoder(w)
	for i := range 200000 {
		r := activity.Record{
			Timestamp:   start.Add(time.Duration(i) * 6 * time.Second),
			ResourceARN: fmt.Sprintf("arn:aws:transfer:us-east-1:000000000000:server/s-0000000000000000%d", rng.IntN(3)),
			User:        fmt.Sprintf("user%02d", rng.IntN(40)),
			SessionID:   fmt.Sprintf("%020x", rng.Uint64()),
			SourceIP:    "192.0.2.1",
		}
		switch rng.IntN(3) {
		case 0:
			r.ActivityType, r.Kex, r.Ciphers, r.Client = activity.Connected, kexes[rng.IntN(len(kexes))], ciphers[rng.IntN(len(ciphers))], "SSH-2.0-OpenSSH_9.2"
		case 1:
			r.ActivityType, r.Path = activity.Close, "/bucket/"+r.User+"/f"+strconv.Itoa(i)
			if rng.IntN(2) == 0 {
				r.BytesIn = strconv.Itoa(rng.IntN(1 << 24))
			} else {
				r.BytesOut = strconv.Itoa(rng.IntN(1 << 24))
			}
		default:
			r.ActivityType, r.Method, r.Message, r.Reason = activity.AuthFailure, "publickey", "Invalid user name or public key: unknown user", "UnknownUser"
		}
		if err := enc.Encode(&r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	fi, _ := os.Stat(log)
	// A tenth of it, for the memory check: streaming reads both in about the same memory.
	small := filepath.Join(t.TempDir(), "small.log")
	whole, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	cut := 0
	for range 20000 {
		cut += bytes.IndexByte(whole[cut:], '\n') + 1
	}
	if err := os.WriteFile(small, whole[:cut], 0o600); err != nil {
		t.Fatal(err)
	}
	// peakRSS runs transferd and returns the last VmHWM read from /proc while it ran (a child's
	// ru_maxrss is no use here: it starts from the parent's resident size at fork).
	peakRSS := func(args ...string) int64 {
		t.Helper()
		cmd := exec.Command(suite.bin, args...)
		cmd.Stdout = io.Discard
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		var peak int64
		for {
			if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)); err == nil {
				for line := range strings.Lines(string(b)) {
					if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
						kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
						peak = max(peak, kb<<10)
					}
				}
			}
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("transferd %q: %v", args, err)
				}
				return peak
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
	query := []string{"activity", "--type", "CONNECTED", "--by", "kex,ciphers,user"}
	big, little := peakRSS(append(query, log)...), peakRSS(append(query, small)...)
	t.Logf("peak RSS %d MiB over the %d MiB log, %d MiB over a tenth of it", big>>20, fi.Size()>>20, little>>20)
	if big-little > 8<<20 {
		t.Errorf("peak RSS grew by %d MiB for 9 times more log: the log is not streamed", (big-little)>>20)
	}

	since := "2026-12-01T00:00:00Z"
	for _, tc := range []struct {
		name string
		args []string // of transferd activity, before the log
		py   []string // of activity_count.py, after the log
	}{
		{"connections by kex and ciphers since a time", []string{"--type", "CONNECTED", "--since", since, "--by", "kex,ciphers"}, []string{"CONNECTED", since, "kex,ciphers"}},
		{"bytes by user", []string{"--type", "CLOSE", "--by", "user", "--sum-bytes"}, []string{"CLOSE", "", "user", "sum"}},
		{"a where filter", []string{"--type", "CONNECTED", "--where", "ciphers~gcm", "--by", "client"}, []string{"CONNECTED", "", "client", "where:ciphers~gcm"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := exec.Command(suite.bin, append(append([]string{"activity", "--json"}, tc.args...), log)...).Output()
			if err != nil {
				t.Fatalf("transferd activity %q: %v", tc.args, err)
			}
			var got struct {
				Matched int64
				Groups  []map[string]any
			}
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			ref, err := exec.Command("/usr/bin/python3", append([]string{filepath.Join("testdata", "activity_count.py"), log}, tc.py...)...).Output()
			if err != nil {
				t.Fatalf("the Python count: %v", err)
			}
			var want struct {
				Matched int64
				Groups  map[string][3]int64
			}
			if err := json.Unmarshal(ref, &want); err != nil {
				t.Fatal(err)
			}
			if got.Matched != want.Matched || len(got.Groups) != len(want.Groups) {
				t.Errorf("matched %d in %d groups, Python counts %d in %d", got.Matched, len(got.Groups), want.Matched, len(want.Groups))
			}
			by := strings.Split(tc.py[2], ",")
			for _, g := range got.Groups {
				var key []string
				for _, b := range by {
					key = append(key, g[b].(string))
				}
				w := want.Groups[strings.Join(key, "\x00")]
				count := int64(g["count"].(float64))
				if count != w[0] {
					t.Errorf("group %q: count %d, Python %d", key, count, w[0])
				}
				if len(tc.py) > 3 && tc.py[3] == "sum" && (int64(g["bytes-in"].(float64)) != w[1] || int64(g["bytes-out"].(float64)) != w[2]) {
					t.Errorf("group %q: bytes %v/%v, Python %d/%d", key, g["bytes-in"], g["bytes-out"], w[1], w[2])
				}
			}
		})
	}
}
