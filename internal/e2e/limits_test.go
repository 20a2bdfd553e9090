package e2e

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestLimitsExtension checks that the OpenSSH client learns transferd's limits through
// limits@openssh.com and then moves files in 255 KiB requests (32 KiB without the extension),
// and that files of many such requests arrive intact both ways, on local storage and through
// pkg/sftp's shorter reads.
func TestLimitsExtension(t *testing.T) {
	t.Parallel()
	const user = "limits_user"
	key := keyFor(t, "ed25519")
	port := freePort(t)
	p := start(t, configYAML("", serverConf{Port: port, Users: []userConf{chrootUser(user, key)}}))
	local := t.TempDir()
	src, dst := filepath.Join(local, "src"), filepath.Join(local, "dst")
	size := 3*261120 + 12345
	sum := writeRandom(t, src, size)

	out := mustSFTP(t, port, user, key, fmt.Sprintf("put %s f\nget f %s\n", src, dst), "-vvv")
	if !strings.Contains(out, `Server supports extension "limits@openssh.com" revision 1`) {
		t.Errorf("the client did not see limits@openssh.com advertised; output:\n%s", out)
	}
	if !strings.Contains(out, "server upload/download buffer sizes 261120 / 261120; using 261120 / 261120") {
		t.Errorf("the client did not take 261120-byte requests from the limits reply; output:\n%s", out)
	}
	writes := regexp.MustCompile(`Sent message SSH2_FXP_WRITE I:\d+ O:\d+ S:(\d+)`).FindAllStringSubmatch(out, -1)
	if len(writes) != 4 || writes[0][1] != "261120" {
		t.Errorf("upload of %d bytes: %d WRITE requests (first %v), want 4 of at most 261120 bytes", size, len(writes), writes)
	}
	if got := fileSHA256(t, dst); got != sum {
		t.Errorf("downloaded sha256 %s, want %s", got, sum)
	}
	if got := fileSHA256(t, filepath.Join(p.userDir(user), "f")); got != sum {
		t.Errorf("stored sha256 %s, want %s", got, sum)
	}

	// A client that asks for less keeps working: -B sets the request size.
	out = mustSFTP(t, port, user, key, fmt.Sprintf("get f %s.2\n", dst), "-B", "32768")
	if got := fileSHA256(t, dst+".2"); got != sum {
		t.Errorf("with 32 KiB requests: downloaded sha256 %s, want %s; output:\n%s", got, sum, out)
	}
}
