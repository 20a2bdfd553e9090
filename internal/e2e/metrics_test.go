package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/transfer"

	"github.com/transferd/transferd/internal/activity"
	"github.com/transferd/transferd/internal/storage/s3store/s3test"
)

// scrape reads the Prometheus text format at url into sample -> value, the sample written as the
// exposition writes it: name{label="value",...} with the labels in name order.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("%s: sample %q: %v", url, line, err)
		}
		out[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// getJSON GETs url and decodes its JSON answer into v, returning the status code.
func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %s: not JSON: %v\n%s", url, resp.Status, err, body)
	}
	return resp.StatusCode
}

// readiness is /readyz's answer, as the tests read it.
type readiness struct {
	Ready  bool
	Checks map[string]struct {
		OK     bool
		Detail string
	}
}

// TestMetrics uploads and downloads files of known sizes with OpenSSH's sftp, fails a login and
// calls the API, then checks that /metrics says what the activity records say: bytes and files
// in and out as the CLOSE records count them, sessions and negotiated algorithms as the CONNECTED
// records, authentication failures as the AUTH_FAILURE records; and that /healthz and /readyz
// answer.
func TestMetrics(t *testing.T) {
	t.Parallel()
	needTool(t, "sftp")
	const server = "s-00000000000000d01"
	alice, stranger := keyFor(t, "ed25519"), keyFor(t, "ecdsa-256")
	port, mport := freePort(t), freePort(t)
	p, client, _ := apiClientFor(t, configYAML(t.TempDir(), serverConf{Port: port, ID: server, Users: []userConf{chrootUser("alice", alice)}}),
		"--metrics-listen", fmt.Sprintf("127.0.0.1:%d", mport), "--node-name", "metrics-node")
	base := fmt.Sprintf("http://127.0.0.1:%d", mport)

	dir := t.TempDir()
	var batch strings.Builder
	for i, size := range []int{1000, 20000, 300000} {
		path := filepath.Join(dir, fmt.Sprintf("f%d", i))
		if err := os.WriteFile(path, make([]byte, size), 0o600); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&batch, "put %s f%d\n", path, i)
	}
	fmt.Fprintf(&batch, "get f0 %s\nget f2 %s\n", filepath.Join(dir, "g0"), filepath.Join(dir, "g2"))
	mustSFTP(t, port, "alice", alice, batch.String())
	mustSFTP(t, port, "alice", alice, "ls\n", "-o", "Ciphers=aes256-ctr", "-o", "MACs=hmac-sha2-512-etm@openssh.com")
	if _, err := sftpBatch(t, port, "alice", stranger, "ls\n"); err == nil {
		t.Fatal("a login with a key alice does not have succeeded")
	}
	if _, err := client.ListServers(t.Context(), &transfer.ListServersInput{}); err != nil {
		t.Fatal(err)
	}
	p.waitRecord(t, "the AUTH_FAILURE of the stranger's key", func(r *activity.Record) bool { return r.ActivityType == activity.AuthFailure })
	for deadline := time.Now().Add(connLimit); ; time.Sleep(20 * time.Millisecond) {
		n := 0
		for _, r := range p.records(t) {
			if r.ActivityType == activity.Disconnected {
				n++
			}
		}
		if n >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d DISCONNECTED records after %v, want 2", n, connLimit)
		}
	}

	want := map[string]float64{}
	add := func(sample string, v float64) { want[sample] += v }
	srv := fmt.Sprintf("server_id=%q", server)
	for _, r := range p.records(t) {
		switch r.ActivityType {
		case activity.Close:
			if r.BytesIn != "" {
				n, _ := strconv.ParseFloat(r.BytesIn, 64)
				add("transferd_bytes_in_total{"+srv+"}", n)
				add("transferd_files_in_total{"+srv+"}", 1)
			} else {
				add("transferd_files_out_total{"+srv+"}", 1)
			}
			if r.BytesOut != "" {
				n, _ := strconv.ParseFloat(r.BytesOut, 64)
				add("transferd_bytes_out_total{"+srv+"}", n)
			}
		case activity.Connected:
			add("transferd_sessions_total{"+srv+"}", 1)
			add(fmt.Sprintf("transferd_negotiated_kex_total{algorithm=%q,%s}", r.Kex, srv), 1)
			add(fmt.Sprintf("transferd_negotiated_ciphers_total{algorithm=%q,%s}", r.Ciphers, srv), 1)
			add(fmt.Sprintf("transferd_negotiated_macs_total{algorithm=%q,%s}", r.Macs, srv), 1)
			add(fmt.Sprintf("transferd_negotiated_host_key_algorithms_total{algorithm=%q,%s}", r.HostKeyAlgorithm, srv), 1)
		case activity.AuthFailure:
			if r.Reason == "" {
				t.Errorf("AUTH_FAILURE without a reason: %+v", r)
			}
			add(fmt.Sprintf("transferd_auth_failures_total{method=%q,reason=%q,%s}", r.Method, r.Reason, srv), 1)
		}
	}
	if want["transferd_bytes_in_total{"+srv+"}"] != 321000 || want["transferd_bytes_out_total{"+srv+"}"] != 301000 {
		t.Fatalf("the records count %v bytes in and %v out, want the 321000 and 301000 moved",
			want["transferd_bytes_in_total{"+srv+"}"], want["transferd_bytes_out_total{"+srv+"}"])
	}
	add("transferd_sessions_active{"+srv+"}", 0)
	add(`transferd_api_requests_total{code="OK",operation="ListServers"}`, 1)
	add(`transferd_node_info{node="metrics-node"}`, 1)

	got := scrape(t, base+"/metrics")
	for sample, v := range want {
		if got[sample] != v {
			t.Errorf("%s = %v, want %v (from the records)", sample, got[sample], v)
		}
	}
	for sample, v := range got {
		for _, family := range []string{"transferd_bytes_", "transferd_files_", "transferd_negotiated_", "transferd_auth_failures_total"} {
			if strings.HasPrefix(sample, family) && want[sample] != v {
				t.Errorf("%s = %v, and the records say %v", sample, v, want[sample])
			}
		}
	}
	// The local store's operations are timed: the uploads opened files for writing.
	if got[`transferd_storage_request_duration_seconds_count{backend="local",operation="OpenWrite"}`] < 3 {
		t.Errorf("local storage OpenWrite requests counted: %v, want at least the 3 uploads",
			got[`transferd_storage_request_duration_seconds_count{backend="local",operation="OpenWrite"}`])
	}
	for _, m := range []string{"go_goroutines", "process_resident_memory_bytes"} {
		if _, ok := got[m]; !ok {
			t.Errorf("no %s in /metrics", m)
		}
	}
	if t.Failed() {
		t.Logf("records:\n%s", dumpRecords(p.records(t)))
	}

	var health map[string]any
	if code := getJSON(t, base+"/healthz", &health); code != http.StatusOK || health["status"] != "ok" {
		t.Errorf("/healthz: %d %v", code, health)
	}
	var ready readiness
	if code := getJSON(t, base+"/readyz", &ready); code != http.StatusOK || !ready.Ready ||
		!ready.Checks["state_store"].OK || !ready.Checks["servers"].OK || !ready.Checks["storage"].OK {
		t.Errorf("/readyz: %d %+v", code, ready)
	}
}

// TestReadyWithoutS3 stops the S3 server under transferd: /readyz turns 503 naming the storage,
// and 200 again once S3 is back; /healthz stays 200.
func TestReadyWithoutS3(t *testing.T) {
	t.Parallel()
	srv, stop, err := s3test.Start() // a server of its own: this test stops it
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	port, mport := freePort(t), freePort(t)
	start(t, s3ConfigYAML(srv, serverConf{Port: port}), "--metrics-listen", fmt.Sprintf("127.0.0.1:%d", mport))
	base := fmt.Sprintf("http://127.0.0.1:%d", mport)
	waitReady := func(want bool) readiness {
		t.Helper()
		var r readiness
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			code := getJSON(t, base+"/readyz", &r)
			if r.Ready == want && (code == http.StatusOK) == want {
				return r
			}
			if time.Now().After(deadline) {
				t.Fatalf("/readyz after 30 s: %d %+v, want ready %v", code, r, want)
			}
		}
	}
	waitReady(true)
	if err := srv.Pause(); err != nil {
		t.Fatal(err)
	}
	r := waitReady(false)
	if c := r.Checks["storage"]; c.OK || !strings.Contains(c.Detail, "does not answer") || !r.Checks["state_store"].OK {
		t.Errorf("/readyz with S3 stopped: %+v; want the storage check failing, the state store's passing", r)
	}
	var health map[string]any
	if code := getJSON(t, base+"/healthz", &health); code != http.StatusOK {
		t.Errorf("/healthz with S3 stopped: %d", code)
	}
	if err := srv.Resume(); err != nil {
		t.Fatal(err)
	}
	waitReady(true)
}
