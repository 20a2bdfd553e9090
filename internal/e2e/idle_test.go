package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestOpenSSHIdlePauses drives one OpenSSH sftp session with pauses longer than the time after
// which an idle session parks its request server (1 s), between commands and with a file open
// nowhere, and checks that every command still works: each starts a new request server.
func TestOpenSSHIdlePauses(t *testing.T) {
	t.Parallel()
	needTool(t, "sftp")
	const user = "sftp_user"
	key := keyFor(t, "ed25519")
	port := freePort(t)
	p := start(t, configYAML("", serverConf{Port: port, Users: []userConf{chrootUser(user, key)}}))
	local := t.TempDir()
	src, back := filepath.Join(local, "src"), filepath.Join(local, "back")
	sum := writeRandom(t, src, 3<<20+5)

	ctx, cancel := context.WithTimeout(t.Context(), clientLimit)
	defer cancel()
	cmd := sftpCommand(ctx, port, user, key)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"pwd", "put " + src + " a", "ls -l a", "get a " + back, "mkdir d", "rename a d/a", "ls d"} {
		time.Sleep(1300 * time.Millisecond)
		fmt.Fprintln(stdin, c)
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("sftp with pauses: %v; output:\n%s", err, out.String())
	}
	if got := fileSHA256(t, back); got != sum {
		t.Errorf("downloaded after pauses: sha256 %s, want %s", got, sum)
	}
	if got := fileSHA256(t, filepath.Join(p.userDir(user), "d", "a")); got != sum {
		t.Errorf("the file renamed after pauses: sha256 %s, want %s", got, sum)
	}
	if !strings.Contains(out.String(), "3145733") {
		t.Errorf("ls -l after a pause does not show the file's size; output:\n%s", out.String())
	}
	if _, err := os.Stat(filepath.Join(p.userDir(user), "a")); err == nil {
		t.Errorf("a is still there after rename")
	}
}
