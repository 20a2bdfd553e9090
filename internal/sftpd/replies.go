package sftpd

import (
	"encoding/binary"
	"fmt"
	"io"
	"sync"
)

// SFTP packet types and limits this layer needs (draft-ietf-secsh-filexfer-02, OpenSSH PROTOCOL).
const (
	fxpVersion       = 2
	fxpExtended      = 200
	fxpExtendedReply = 201

	extLimits = "limits@openssh.com"

	// maxPacket is the largest SFTP packet pkg/sftp accepts (its maxMsgLength); maxData is what
	// READ and WRITE may carry, leaving room for the headers, as OpenSSH's sftp-server does.
	maxPacket = 256 << 10
	maxData   = maxPacket - 1024
)

// stream sits between the session's channel and pkg/sftp. It
//   - adds limits@openssh.com to the extensions of the server's VERSION and answers the client's
//     limits request itself (pkg/sftp knows neither): the OpenSSH client then moves data in
//     255 KiB requests instead of 32 KiB ones, an eighth of the packets per byte;
//   - counts the packets read (requests) and written (responses), so that work can wait until the
//     client has been answered. A graceful shutdown closes a connection as soon as it has no open
//     file; a handle must therefore count as open until the status of its CLOSE is written, or the
//     shutdown could cut the connection between the two and the client would see its finished
//     upload fail.
//
// Packet bodies pass through without a copy: only headers and the packets it answers are read
// into its own buffers.
type stream struct {
	ch io.ReadWriteCloser

	// Read side, used by pkg/sftp's one reader goroutine.
	rbuf  []byte // bytes read from ch but not yet returned: a packet header, or a packet passed on
	rleft uint32 // body bytes of the current packet still to pass through straight from ch

	// Write side and counters.
	mu        sync.Mutex
	out       framer
	versioned bool   // the VERSION packet has been written
	vbuf      []byte // VERSION packet collected until complete
	inject    []byte // our own replies, written at the next packet boundary
	requests  int64  // packets read and passed to pkg/sftp
	responses int64  // packets written by pkg/sftp
	waiting   []afterReply
	done      bool
}

type afterReply struct {
	requests int64
	fn       func()
}

func newStream(ch io.ReadWriteCloser) *stream { return &stream{ch: ch} }

func (s *stream) Close() error { return s.ch.Close() }

// Read returns the client's packets to pkg/sftp, minus those this layer answers.
func (s *stream) Read(p []byte) (int, error) {
	if len(s.rbuf) == 0 && s.rleft == 0 {
		if err := s.nextPacket(); err != nil {
			return 0, err
		}
	}
	if len(s.rbuf) > 0 {
		n := copy(p, s.rbuf)
		s.rbuf = s.rbuf[n:]
		return n, nil
	}
	n, err := s.ch.Read(p[:min(uint32(len(p)), s.rleft)])
	s.rleft -= uint32(n)
	if err == io.EOF && s.rleft > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// nextPacket reads the next packet's header (length and type) into rbuf, answering and dropping
// the packets this layer serves. It counts the packet as a request once passed on.
func (s *stream) nextPacket() error {
	var hdr [5]byte
	for {
		if _, err := io.ReadFull(s.ch, hdr[:]); err != nil {
			return err // io.EOF between packets: the client is done
		}
		length := binary.BigEndian.Uint32(hdr[:4])
		if length == 0 || length > maxPacket {
			// pkg/sftp would refuse it too; let it see the header and end the session.
			s.rbuf = append(s.rbuf[:0], hdr[:]...)
			s.count()
			return nil
		}
		if hdr[4] != fxpExtended {
			s.rbuf = append(s.rbuf[:0], hdr[:]...)
			s.rleft = length - 1
			s.count()
			return nil
		}
		body := make([]byte, length-1)
		if _, err := io.ReadFull(s.ch, body); err != nil {
			return io.ErrUnexpectedEOF
		}
		if reply := answer(body); reply != nil {
			if err := s.writeOwn(reply); err != nil {
				return err
			}
			continue
		}
		s.rbuf = append(append(s.rbuf[:0], hdr[:]...), body...)
		s.count()
		return nil
	}
}

func (s *stream) count() {
	s.mu.Lock()
	s.requests++
	s.mu.Unlock()
}

// answer returns the reply to an SSH_FXP_EXTENDED request this layer serves (body is the packet
// after its type byte: id, name, data), or nil to pass the request on.
func answer(body []byte) []byte {
	if len(body) < 8 {
		return nil
	}
	id := binary.BigEndian.Uint32(body)
	nameLen := binary.BigEndian.Uint32(body[4:])
	if uint64(nameLen) > uint64(len(body)-8) || string(body[8:8+nameLen]) != extLimits {
		return nil
	}
	// uint64 max-packet-length, max-read-length, max-write-length, max-open-handles (0: no limit).
	reply := make([]byte, 0, 4+1+4+4*8)
	reply = binary.BigEndian.AppendUint32(reply, 1+4+4*8)
	reply = append(reply, fxpExtendedReply)
	reply = binary.BigEndian.AppendUint32(reply, id)
	for _, v := range []uint64{maxPacket, maxData, maxData, 0} {
		reply = binary.BigEndian.AppendUint64(reply, v)
	}
	return reply
}

// writeOwn writes a packet of this layer's own, between pkg/sftp's packets.
func (s *stream) writeOwn(pkt []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.out.atBoundary() || !s.versioned {
		s.inject = append(s.inject, pkt...)
		return nil
	}
	_, err := s.ch.Write(pkt)
	return err
}

// Write passes pkg/sftp's packets to the client, extending the VERSION packet.
func (s *stream) Write(p []byte) (int, error) {
	s.mu.Lock()
	if !s.versioned {
		defer s.mu.Unlock()
		return s.writeVersion(p)
	}
	_, err := s.ch.Write(p)
	s.responses += s.out.feed(p)
	if err == nil && len(s.inject) > 0 && s.out.atBoundary() {
		_, err = s.ch.Write(s.inject)
		s.inject = nil
	}
	ready := s.readyLocked()
	s.mu.Unlock()
	for _, fn := range ready {
		fn()
	}
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// writeVersion collects the first packet (the VERSION reply to INIT) and writes it with
// limits@openssh.com added to its extension pairs.
func (s *stream) writeVersion(p []byte) (int, error) {
	s.vbuf = append(s.vbuf, p...)
	if len(s.vbuf) < 4 {
		return len(p), nil
	}
	length := binary.BigEndian.Uint32(s.vbuf)
	if length > maxPacket {
		return 0, fmt.Errorf("sftp: first reply of %d bytes is not a VERSION packet", length)
	}
	total := 4 + int(length)
	if len(s.vbuf) < total {
		return len(p), nil
	}
	if s.vbuf[4] != fxpVersion {
		return 0, fmt.Errorf("sftp: first reply is packet type %d, not VERSION", s.vbuf[4])
	}
	pkt := s.vbuf[:total]
	pkt = appendString(pkt, extLimits)
	pkt = appendString(pkt, "1")
	binary.BigEndian.PutUint32(pkt, uint32(len(pkt)-4))
	rest := s.vbuf[total:]
	s.versioned = true
	s.responses++
	if _, err := s.ch.Write(pkt); err != nil {
		return 0, err
	}
	if len(rest) > 0 {
		if _, err := s.ch.Write(rest); err != nil {
			return 0, err
		}
		s.responses += s.out.feed(rest)
	}
	if len(s.inject) > 0 && s.out.atBoundary() {
		if _, err := s.ch.Write(s.inject); err != nil {
			return 0, err
		}
		s.inject = nil
	}
	s.vbuf = nil
	return len(p), nil
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// readyLocked takes the waiting functions whose requests have all been answered.
func (s *stream) readyLocked() []func() {
	var ready []func()
	kept := s.waiting[:0]
	for _, w := range s.waiting {
		if s.responses >= w.requests {
			ready = append(ready, w.fn)
		} else {
			kept = append(kept, w)
		}
	}
	s.waiting = kept
	return ready
}

// afterReply runs fn once every request read so far has been answered: pkg/sftp answers each
// request with one packet, in request order. fn runs at once when the session has ended.
func (s *stream) afterReply(fn func()) {
	s.mu.Lock()
	if s.done || s.responses >= s.requests {
		s.mu.Unlock()
		fn()
		return
	}
	s.waiting = append(s.waiting, afterReply{requests: s.requests, fn: fn})
	s.mu.Unlock()
}

// end runs what still waits: the session is over and nothing more will be written.
func (s *stream) end() {
	s.mu.Lock()
	s.done = true
	waiting := s.waiting
	s.waiting = nil
	s.mu.Unlock()
	for _, w := range waiting {
		w.fn()
	}
}

// framer counts the complete packets of an SFTP stream: a uint32 length, then that many bytes.
type framer struct {
	hdr  [4]byte
	nhdr int
	left uint32
}

func (f *framer) atBoundary() bool { return f.nhdr == 0 }

func (f *framer) feed(p []byte) int64 {
	var packets int64
	for len(p) > 0 {
		if f.nhdr < len(f.hdr) {
			c := copy(f.hdr[f.nhdr:], p)
			f.nhdr += c
			p = p[c:]
			if f.nhdr < len(f.hdr) {
				break
			}
			f.left = binary.BigEndian.Uint32(f.hdr[:])
		} else {
			c := min(uint32(len(p)), f.left)
			f.left -= c
			p = p[c:]
		}
		if f.nhdr == len(f.hdr) && f.left == 0 {
			packets++
			f.nhdr = 0
		}
	}
	return packets
}
