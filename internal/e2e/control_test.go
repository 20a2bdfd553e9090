package e2e

import (
	"testing"
	"time"

	"github.com/pkg/sftp"
)

// TestControlRequests checks that a connection answers global requests and the requests of a
// session whose SFTP subsystem runs (more than x/crypto buffers, so they must be drained), and
// that SFTP keeps working meanwhile.
func TestControlRequests(t *testing.T) {
	t.Parallel()
	const user = "control_user"
	key := keyFor(t, "ed25519")
	port := freePort(t)
	start(t, configYAML("", serverConf{Port: port, Users: []userConf{chrootUser(user, key)}}))
	c, _, err := dialSSH(t, port, user, key)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	w, err := s.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RequestSubsystem("sftp"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		for i := range 40 {
			ok, _, err := c.SendRequest("keepalive@openssh.com", true, nil)
			if err != nil || ok {
				t.Errorf("global request %d: ok %v, err %v; want a refusal", i, ok, err)
			}
			ok, err = s.SendRequest("env", true, []byte("\x00\x00\x00\x01A\x00\x00\x00\x01B"))
			if err != nil || ok {
				t.Errorf("session request %d after the subsystem started: ok %v, err %v; want a refusal", i, ok, err)
			}
		}
		done <- nil
	}()
	select {
	case <-done:
	case <-time.After(clientLimit):
		t.Fatal("requests were not answered")
	}
	sc, err := sftp.NewClientPipe(r, w)
	if err != nil {
		t.Fatalf("sftp on the session that got the requests: %v", err)
	}
	defer sc.Close()
	if wd, err := sc.Getwd(); err != nil || wd != "/" {
		t.Errorf("sftp on the session that got the requests: working directory %q, %v", wd, err)
	}
}
