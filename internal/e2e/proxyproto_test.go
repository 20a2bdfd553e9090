package e2e

import (
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"
	"golang.org/x/crypto/ssh"

	"github.com/transferd/transferd/internal/activity"
)

// TestProxyProtocol checks serve --proxy-protocol-from: a trusted peer's PROXY v2 header names
// the client in the records; a trusted peer without one, and any other peer with one (v1 or v2),
// is closed before the handshake, with a log line or a CONNECTION_REJECTED record; other peers
// without one are served as before.
func TestProxyProtocol(t *testing.T) {
	t.Parallel()
	alice := keyFor(t, "ed25519")
	port := freePort(t)
	p := start(t, configYAML(t.TempDir(), serverConf{Port: port, Users: []userConf{chrootUser("alice", alice)}}),
		"--proxy-protocol-from", "127.0.0.4/32")
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cfg := &ssh.ClientConfig{User: "alice", Auth: []ssh.AuthMethod{ssh.PublicKeys(alice.Signer)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: connLimit}

	// From the trusted load balancer, with a header naming 192.0.2.9: served as 192.0.2.9.
	nc, err := dialFrom("127.0.0.4", addr)
	if err != nil {
		t.Fatal(err)
	}
	hdr := proxyproto.HeaderProxyFromAddrs(2, &net.TCPAddr{IP: net.ParseIP("192.0.2.9"), Port: 40000}, nc.RemoteAddr())
	if _, err := hdr.WriteTo(nc); err != nil {
		t.Fatal(err)
	}
	sc, chans, reqs, err := ssh.NewClientConn(nc, addr, cfg)
	if err != nil {
		t.Fatalf("login through a trusted PROXY v2 header: %v", err)
	}
	ssh.NewClient(sc, chans, reqs).Close()
	p.waitRecord(t, "CONNECTED as 192.0.2.9", func(r *activity.Record) bool {
		return r.ActivityType == activity.Connected && r.SourceIP == "192.0.2.9"
	})

	// From the trusted load balancer without a header: closed, and logged.
	if _, err := dialSSHAtWith("127.0.0.4", addr, cfg); err == nil {
		t.Error("a login from a --proxy-protocol-from peer without a PROXY header succeeded")
	}
	deadline := time.Now().Add(connLimit)
	for !strings.Contains(p.stderrText(), "sent no valid PROXY protocol header") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(p.stderrText(), "sent no valid PROXY protocol header") {
		t.Error("no log line for a --proxy-protocol-from peer without a PROXY header")
	}

	// From any other peer, a header (v1, then v2) closes the connection before the handshake.
	v2 := proxyproto.HeaderProxyFromAddrs(2, &net.TCPAddr{IP: net.ParseIP("192.0.2.10"), Port: 40000}, &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: port})
	v2bytes, err := v2.Format()
	if err != nil {
		t.Fatal(err)
	}
	for _, header := range [][]byte{[]byte("PROXY TCP4 192.0.2.10 127.0.0.1 40000 22\r\n"), v2bytes} {
		nc, err := dialFrom("127.0.0.2", addr)
		if err != nil {
			t.Fatal(err)
		}
		nc.SetDeadline(time.Now().Add(connLimit))
		nc.Write(append(header, "SSH-2.0-OpenSSH_9.2\r\n"...))
		got, _ := io.ReadAll(nc)
		nc.Close()
		if strings.Contains(string(got), "SSH-2.0-") && len(got) > 100 {
			t.Errorf("a PROXY header from an untrusted peer got the handshake going: %q", got)
		}
	}
	r := p.waitRecord(t, "CONNECTION_REJECTED for the PROXY header", func(r *activity.Record) bool {
		return r.ActivityType == activity.ConnectionRejected && r.SourceIP == "127.0.0.2"
	})
	if !strings.Contains(r.Message, "PROXY protocol header") || !strings.Contains(r.Message, "--proxy-protocol-from") {
		t.Errorf("CONNECTION_REJECTED message %q: want it to name the PROXY header and --proxy-protocol-from", r.Message)
	}
	for _, r := range p.records(t) {
		if r.SourceIP == "192.0.2.10" {
			t.Errorf("an untrusted peer's PROXY header was believed: %+v", r)
		}
	}

	// Any other peer without a header is served as itself.
	c, err := dialSSHAtWith("127.0.0.2", addr, cfg)
	if err != nil {
		t.Fatalf("a plain login from an untrusted peer: %v", err)
	}
	c.Close()
	p.waitRecord(t, "CONNECTED as 127.0.0.2", func(r *activity.Record) bool {
		return r.ActivityType == activity.Connected && r.SourceIP == "127.0.0.2"
	})
}

// dialSSHAtWith opens an SSH connection to addr from the local address from with cfg.
func dialSSHAtWith(from, addr string, cfg *ssh.ClientConfig) (*ssh.Client, error) {
	nc, err := dialFrom(from, addr)
	if err != nil {
		return nil, err
	}
	nc.SetDeadline(time.Now().Add(connLimit))
	sc, chans, reqs, err := ssh.NewClientConn(nc, addr, cfg)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return ssh.NewClient(sc, chans, reqs), nil
}
