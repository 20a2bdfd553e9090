package sshd

import (
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/transferd/transferd/internal/activity"
	"github.com/transferd/transferd/internal/transfer"
)

// TestStoredKeyWithOptionsCannotLogIn: a key stored with authorized_keys options (before they were
// refused) is not accepted with its options ignored: the login fails and says why.
func TestStoredKeyWithOptionsCannotLogIn(t *testing.T) {
	k := keys.get()
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k.client.PublicKey())))
	ts := startServerWith(t, "TransferSecurityPolicy-2024-01", []string{ssh.KeyAlgoED25519}, func(c *Config) {
		c.Auth = oneUser{&transfer.User{UserName: "alice", HomeDirectoryType: transfer.HomeLogical,
			SSHPublicKeys: []transfer.SSHPublicKey{{Body: `from="192.0.2.0/24" ` + line, Fingerprint: ssh.FingerprintSHA256(k.client.PublicKey())}}}}
	})
	if _, err := dial(t, ts.addr, ssh.Config{}, nil); err == nil {
		t.Fatal("a key stored with a from= option logged in from an address it does not name")
	}
	r := ts.recs.wait(t, activity.AuthFailure)
	if !strings.Contains(r.Message, "stored with authorized_keys options") {
		t.Errorf("AUTH_FAILURE message %q does not say the key's options are why", r.Message)
	}
}

// TestMaxStartupsRefusesAtFull: past MaxStartups' full, a new connection is closed before the
// server says anything, and the refusal is recorded.
func TestMaxStartupsRefusesAtFull(t *testing.T) {
	ts := startServerWith(t, "TransferSecurityPolicy-2024-01", []string{ssh.KeyAlgoED25519}, func(c *Config) {
		c.Limits.MaxStartups = transfer.Startups{Start: 3, Rate: 100, Full: 3}
	})
	var open []net.Conn
	defer func() {
		for _, c := range open {
			c.Close()
		}
	}()
	for range 3 {
		c, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, c)
	}
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 64)); err == nil || n > 0 {
		t.Fatalf("a fourth connection past MaxStartups 3:100:3 read %d bytes, %v; want it closed at once", n, err)
	}
	r := ts.recs.wait(t, activity.ConnectionRejected)
	if !strings.Contains(r.Message, "MaxStartups 3:100:3") || r.SourceIP != "127.0.0.1" || r.Count != 1 {
		t.Errorf("CONNECTION_REJECTED %+v", r)
	}
}
