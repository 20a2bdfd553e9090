package e2e

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/transferd/transferd/internal/metrics"
)

// TestSystemdUnit checks contrib/systemd/transferd.service: every flag of its ExecStart is one
// serve has, it reloads with SIGHUP, and (where the machine has systemd-analyze) systemd
// accepts it.
func TestSystemdUnit(t *testing.T) {
	t.Parallel()
	path := filepath.Join(suite.root, "contrib", "systemd", "transferd.service")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	unit := strings.ReplaceAll(string(b), "\\\n", " ")
	var exec_, reload string
	for line := range strings.Lines(unit) {
		if v, ok := strings.CutPrefix(line, "ExecStart="); ok {
			exec_ = v
		}
		if v, ok := strings.CutPrefix(line, "ExecReload="); ok {
			reload = v
		}
	}
	if !strings.Contains(exec_, " serve ") || !strings.Contains(reload, "-HUP $MAINPID") {
		t.Fatalf("ExecStart %q, ExecReload %q: want transferd serve, reloaded with SIGHUP", exec_, reload)
	}
	help, _ := exec.Command(suite.bin, "serve", "--help").CombinedOutput()
	for _, f := range regexp.MustCompile(`--([a-z-]+)`).FindAllStringSubmatch(exec_, -1) {
		if !strings.Contains(string(help), "  -"+f[1]+" ") {
			t.Errorf("ExecStart uses --%s, which transferd serve does not have", f[1])
		}
	}
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Log("no systemd-analyze on this machine: systemd's own check skipped")
		return
	}
	local := filepath.Join(t.TempDir(), "transferd.service")
	if err := os.WriteFile(local, []byte(strings.ReplaceAll(string(b), "/usr/local/bin/transferd", suite.bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("systemd-analyze", "verify", local).CombinedOutput(); err != nil {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestAlertRules checks contrib/prometheus/transferd-alerts.yml: every metric its expressions name
// is one a running transferd serves (Go's and the process's) or the metrics package defines (those
// with no sample yet are not in a scrape), and (where the machine has promtool) Prometheus accepts
// the file.
func TestAlertRules(t *testing.T) {
	t.Parallel()
	path := filepath.Join(suite.root, "contrib", "prometheus", "transferd-alerts.yml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert, Expr string
			}
		}
	}
	if err := yaml.Unmarshal(b, &rules); err != nil {
		t.Fatal(err)
	}
	port, mport := freePort(t), freePort(t)
	start(t, configYAML(t.TempDir(), serverConf{Port: port}), "--metrics-listen", fmt.Sprintf("127.0.0.1:%d", mport))
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", mport))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	families := map[string]bool{}
	for _, n := range metrics.New("").Names() { // defined, with samples or not yet
		families[n] = true
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 4 && f[0] == "#" && f[1] == "TYPE" {
			families[f[2]] = true
		}
	}
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			n++
			for _, m := range regexp.MustCompile(`\b(transferd_[a-z_]+|process_[a-z_]+)`).FindAllString(r.Expr, -1) {
				if !families[strings.TrimSuffix(m, "_bucket")] {
					t.Errorf("alert %s: %s is not a metric transferd serves", r.Alert, m)
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no rules in the file")
	}
	if _, err := exec.LookPath("promtool"); err != nil {
		t.Log("no promtool on this machine: Prometheus's own check skipped")
		return
	}
	if out, err := exec.Command("promtool", "check", "rules", path).CombinedOutput(); err != nil {
		t.Errorf("promtool check rules: %v\n%s", err, out)
	}
}
