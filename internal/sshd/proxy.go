package sshd

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"net/netip"
	"syscall"
	"time"

	"github.com/pires/go-proxyproto"
)

// The PROXY protocol (HAProxy's, versions 1 and 2): a TCP load balancer in front of several
// transferd nodes starts each connection it relays with a header naming the client's address.
// Headers are believed only from the networks of Config.ProxyProtocolFrom, and required from them;
// a header from any other peer closes the connection, as does a peer of those networks without
// one. A LOCAL header (the balancer's own health check) keeps the peer's address.

// proxyHeaderTimeout is how long a trusted peer has to send its PROXY header.
const proxyHeaderTimeout = 10 * time.Second

// errProxyHeader ends the handshake of a connection that began with a PROXY header it may not send.
var errProxyHeader = errors.New("PROXY protocol header from a peer whose headers are not trusted")

// proxySignatures start a PROXY header: version 1's text and version 2's binary signature.
var proxySignatures = [][]byte{[]byte("PROXY "), []byte("\r\n\r\n\x00\r\nQUIT\n")}

// proxyHeaderStart reports whether the first bytes of a connection start a PROXY header (match),
// and whether they are enough to tell (decided).
func proxyHeaderStart(first []byte) (match, decided bool) {
	decided = true
	for _, sig := range proxySignatures {
		n := min(len(first), len(sig))
		if !bytes.Equal(first[:n], sig[:n]) {
			continue
		}
		if n == len(sig) {
			return true, true
		}
		decided = false // a prefix of the signature so far
	}
	return false, decided
}

// trustsProxy reports whether the peer at addr may send PROXY headers.
func trustsProxy(nets []netip.Prefix, addr net.Addr) bool {
	if len(nets) == 0 {
		return false
	}
	ip := addrOf(addr)
	for _, n := range nets {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// acceptProxied reads a trusted peer's PROXY header, then admits and serves the connection as from
// the client it names. Run on a goroutine of its own, so that a slow peer does not hold up others.
func (s *Server) acceptProxied(b *built, nc net.Conn) {
	nc.SetReadDeadline(time.Now().Add(proxyHeaderTimeout))
	br := bufio.NewReaderSize(nc, 256)
	hdr, err := proxyproto.Read(br)
	nc.SetReadDeadline(time.Time{})
	if err != nil {
		b.cfg.Logger.Warn("connection closed: a peer of --proxy-protocol-from sent no valid PROXY protocol header",
			"server-id", b.cfg.Server.ServerID, "peer", nc.RemoteAddr().String(), "err", err)
		nc.Close()
		return
	}
	pc := &proxiedConn{Conn: nc, r: br, remote: nc.RemoteAddr()}
	if hdr.Command.IsProxy() && hdr.SourceAddr != nil {
		pc.remote = hdr.SourceAddr
	}
	if c := s.start(b, pc); c != nil {
		c.serve()
	}
}

// proxiedConn is a connection whose PROXY header was read: it reads what came after the header
// first, and its RemoteAddr is the client's.
type proxiedConn struct {
	net.Conn
	r      *bufio.Reader // bytes read past the header; nil once drained
	remote net.Addr
}

func (p *proxiedConn) Read(b []byte) (int, error) {
	if p.r != nil {
		if p.r.Buffered() > 0 {
			return p.r.Read(b)
		}
		p.r = nil
	}
	return p.Conn.Read(b)
}

func (p *proxiedConn) RemoteAddr() net.Addr { return p.remote }

// SyscallConn reaches the socket (for quick ACKs).
func (p *proxiedConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := p.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errors.New("not a socket")
}
