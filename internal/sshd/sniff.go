package sshd

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/transferd/transferd/internal/negotiate"
)

// sniffConn reads the client's cleartext start as it passes (the identification line, which
// x/crypto reports without it on a failed negotiation, and the first KEXINIT, from which the
// connection's records are computed), enforces an idle timeout once authenticated, and sends
// TCP acknowledgements at once while the client logs in (see quickAcker). It buffers at most one
// KEXINIT (negotiate.DefaultMaxPacket bytes); past the first packet the sniffing costs a read one
// atomic load.
type sniffConn struct {
	net.Conn
	mu      sync.Mutex
	stream  negotiate.Stream
	sniffed atomic.Bool // stream done, readable without the lock
	// idle is the idle timeout in nanoseconds, 0 until authentication ends.
	idle atomic.Int64
	// deadline is the read deadline last set, in Unix nanoseconds.
	deadline atomic.Int64

	// proxyHeader is set when the connection began with a PROXY header it may not send.
	proxyHeader atomic.Bool
	// bytesIn and bytesOut count what crossed the connection (the console's live sessions).
	bytesIn, bytesOut atomic.Int64

	// Only the connection's one reading goroutine uses these.
	first    []byte      // the connection's first bytes until they tell whether it starts a PROXY header
	checked  bool        // they have told
	quickAck *quickAcker // nil where the connection cannot skip delayed ACKs
	read     int64       // bytes read so far
	lastAck  time.Time   // when quickAck was last used
}

// Acknowledging at once matters while the client waits for answers to small packets: always during
// the handshake, login and session set-up (quickAckStart bytes), then at most once per
// quickAckEvery, which costs nothing measurable during a transfer (a system call per
// millisecond) and still answers an interactive client's pairs of small packets, which come
// further apart.
const (
	quickAckStart = 256 << 10
	quickAckEvery = time.Millisecond
)

func newSniffConn(nc net.Conn) *sniffConn { return &sniffConn{Conn: nc, quickAck: newQuickAcker(nc)} }

func (s *sniffConn) setIdleTimeout(d time.Duration) {
	s.idle.Store(int64(d))
	s.touch()
}

// touch pushes the idle deadline back. Reads come thousands of times a second during a transfer,
// so the deadline is moved only when it has come nearer than 15/16 of the idle timeout: a
// connection is still dropped after between 15/16 and all of the timeout without traffic.
func (s *sniffConn) touch() {
	d := time.Duration(s.idle.Load())
	if d <= 0 {
		return
	}
	now := time.Now()
	if time.Unix(0, s.deadline.Load()).Sub(now) > d-d/16 {
		return
	}
	next := now.Add(d)
	s.deadline.Store(next.UnixNano())
	s.Conn.SetReadDeadline(next)
}

func (s *sniffConn) Read(p []byte) (int, error) {
	n, err := s.Conn.Read(p)
	if n > 0 && !s.checked {
		s.first = append(s.first, p[:min(n, 12-len(s.first))]...)
		match, decided := proxyHeaderStart(s.first)
		if match {
			s.proxyHeader.Store(true)
			return 0, errProxyHeader
		}
		if decided {
			s.checked, s.first = true, nil
		}
	}
	if n > 0 {
		s.bytesIn.Add(int64(n))
		s.touch()
		if !s.sniffed.Load() {
			s.sniff(p[:n])
		}
		if s.quickAck != nil {
			s.read += int64(n)
			if now := time.Now(); s.read < quickAckStart || now.Sub(s.lastAck) >= quickAckEvery {
				s.lastAck = now
				s.quickAck.ack()
			}
		}
	}
	return n, err
}

// Write counts what it sends.
func (s *sniffConn) Write(p []byte) (int, error) {
	n, err := s.Conn.Write(p)
	s.bytesOut.Add(int64(n))
	return n, err
}

func (s *sniffConn) sniff(p []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stream.Feed(p) {
		s.sniffed.Store(true)
	}
}

// ClientVersion returns the client's identification line, if it has been read.
func (s *sniffConn) ClientVersion() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stream.Version()
}

// ClientOffer returns the client's first KEXINIT, or why it has none.
func (s *sniffConn) ClientOffer() (*negotiate.Offer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stream.Offer()
}
