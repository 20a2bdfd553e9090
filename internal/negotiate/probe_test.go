package negotiate

import (
	"bufio"
	"context"
	"io"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// listen serves each connection of a loopback listener with handle until the test ends.
func listen(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				handle(c)
			}()
		}
	}()
	return ln.Addr().String()
}

func TestProbeXCryptoServer(t *testing.T) {
	t.Parallel()
	algs := ServerAlgorithms{KeyExchanges: l("ecdh-sha2-nistp384,curve25519-sha256"), Ciphers: l("aes256-ctr"), MACs: l("hmac-sha2-512"), HostKeyAlgorithms: l("ssh-ed25519,rsa-sha2-512")}
	keys := hostKeys.get(t)
	sc := &ssh.ServerConfig{Config: ssh.Config{KeyExchanges: algs.KeyExchanges, Ciphers: algs.Ciphers, MACs: algs.MACs}, NoClientAuth: true, ServerVersion: "SSH-2.0-probed"}
	for _, kt := range []string{"ssh-ed25519", "ssh-rsa"} {
		ms, err := ssh.NewSignerWithAlgorithms(keys[kt], HostKeyAlgorithms(kt, algs.HostKeyAlgorithms))
		if err != nil {
			t.Fatal(err)
		}
		sc.AddHostKey(ms)
	}
	ended := make(chan error, 1)
	addr := listen(t, func(c net.Conn) {
		_, _, _, err := ssh.NewServerConn(c, sc)
		ended <- err
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h, err := Probe(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	if h.Version != "SSH-2.0-probed" || h.Address != addr {
		t.Errorf("hello %q from %q, want SSH-2.0-probed from %s", h.Version, h.Address, addr)
	}
	if want := ServerOffer(algs, l("ssh-ed25519,ssh-rsa")); !reflect.DeepEqual(h.Offer, want) {
		t.Errorf("probed offer\n%+v\nwant\n%+v", h.Offer, want)
	}
	// The server hears a polite disconnect, not a broken connection.
	select {
	case err := <-ended:
		if err == nil || !strings.Contains(err.Error(), "disconnect, reason 11") || !strings.Contains(err.Error(), "transferd probe") {
			t.Errorf("the server's handshake ended with %v, want the probe's disconnect (reason 11)", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("the server's handshake did not end after the probe")
	}
}

func TestProbeErrors(t *testing.T) {
	t.Parallel()
	refused := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		return addr
	}()
	for _, tc := range []struct {
		name  string
		addr  string
		limit time.Duration
		want  string
	}{
		{"not host:port", "localhost", time.Second, "not HOST:PORT"},
		{"refused", refused, 5 * time.Second, "connection refused"},
		{"HTTP server", listen(t, func(c net.Conn) {
			bufio.NewReader(c).ReadString('\n')
			io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
		}), 5 * time.Second, `not an SSH server: it answered "HTTP/1.1 400 Bad Request" and no SSH identification line`},
		{"closes at once", listen(t, func(c net.Conn) {}), 5 * time.Second, "the server closed the connection while transferd waited for an SSH identification line"},
		{"silent", listen(t, func(c net.Conn) { io.Copy(io.Discard, c) }), 300 * time.Millisecond, "no answer in time: waiting for an SSH identification line"},
		{"version only", listen(t, func(c net.Conn) {
			io.WriteString(c, "SSH-2.0-slow\r\n")
			io.Copy(io.Discard, c)
		}), 300 * time.Millisecond, "no answer in time: waiting for the KEXINIT after SSH-2.0-slow"},
		{"garbage packet", listen(t, func(c net.Conn) {
			io.WriteString(c, "SSH-2.0-odd\r\n\xff\xff\xff\xff")
			io.Copy(io.Discard, c)
		}), 5 * time.Second, "the server (SSH-2.0-odd) sent no readable KEXINIT: the first packet after the identification line claims 4294967295 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), tc.limit)
			defer cancel()
			h, err := Probe(ctx, tc.addr)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Probe(%s) = %+v, %v; want an error containing %q", tc.addr, h, err, tc.want)
			}
		})
	}
}
