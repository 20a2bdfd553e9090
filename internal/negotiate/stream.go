package negotiate

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Limits of what a Stream buffers.
const (
	// maxLine is the longest identification line RFC 4253 §4.2 allows, CR LF included.
	maxLine = 255
	// maxPreambleLines bounds the lines a server may send before its identification line.
	maxPreambleLines = 64
	// DefaultMaxPacket is the largest first packet a Stream reads unless told otherwise: the
	// packet size every implementation must accept (RFC 4253 §6.1). A KEXINIT is a few KiB.
	DefaultMaxPacket = 35000
)

// Stream follows one direction of an SSH connection from its first byte: the identification
// line ("SSH-2.0-..."), then the first binary packet, which RFC 4253 §7.1 makes the sender's
// KEXINIT and which is not encrypted. Feed it the bytes in order; it keeps at most one line or
// one packet. The zero Stream accepts packets of up to DefaultMaxPacket bytes.
type Stream struct {
	// MaxPacket bounds packet_length; 0 means DefaultMaxPacket.
	MaxPacket int

	buf     []byte
	lines   int
	first   string // the first line before the identification line
	version string
	offer   *Offer
	err     error
}

// Done reports whether the Stream has what it wants, or has given up.
func (s *Stream) Done() bool { return s.offer != nil || s.err != nil }

// Version returns the identification line without its line end, once read.
func (s *Stream) Version() string { return s.version }

// FirstLine returns the first line the sender wrote before its identification line (at most 40
// bytes of it), or "": what a server that is not an SSH server said.
func (s *Stream) FirstLine() string { return s.first }

// Offer returns the sender's KEXINIT once read; before that, or when the stream was not what SSH
// sends, an error that says why.
func (s *Stream) Offer() (*Offer, error) {
	switch {
	case s.offer != nil:
		return s.offer, nil
	case s.err != nil:
		return nil, s.err
	case s.version == "":
		return nil, errNoVersion
	}
	return nil, errNoKexInit
}

var (
	errNoVersion = errors.New("no SSH identification line yet")
	errNoKexInit = errors.New("no KEXINIT yet")
)

// Feed takes the next bytes of the stream and reports whether the Stream is done.
func (s *Stream) Feed(p []byte) bool {
	for len(p) > 0 && !s.Done() {
		if s.version == "" {
			p = s.feedLine(p)
		} else {
			p = s.feedPacket(p)
		}
	}
	return s.Done()
}

func (s *Stream) feedLine(p []byte) []byte {
	i := 0
	for ; i < len(p); i++ {
		c := p[i]
		if c != '\n' {
			if len(s.buf) >= maxLine {
				s.err = fmt.Errorf("not SSH: a line of more than %d bytes before the identification line (it starts %q)", maxLine, abbreviate(s.buf))
				return nil
			}
			s.buf = append(s.buf, c)
			continue
		}
		line := strings.TrimSuffix(string(s.buf), "\r")
		s.buf = s.buf[:0]
		if strings.HasPrefix(line, "SSH-") {
			s.version = line
			return p[i+1:]
		}
		s.lines++
		if s.lines == 1 {
			s.first = abbreviate([]byte(line))
		}
		if s.lines > maxPreambleLines {
			s.err = fmt.Errorf("not SSH: %d lines without an identification line (the last: %q)", maxPreambleLines, abbreviate([]byte(line)))
			return nil
		}
	}
	return nil
}

func (s *Stream) feedPacket(p []byte) []byte {
	if len(s.buf) < 4 {
		take := min(4-len(s.buf), len(p))
		s.buf = append(s.buf, p[:take]...)
		p = p[take:]
		if len(s.buf) < 4 {
			return p
		}
		limit := s.MaxPacket
		if limit <= 0 {
			limit = DefaultMaxPacket
		}
		if n := binary.BigEndian.Uint32(s.buf); n < 5 || uint64(n) > uint64(limit) {
			s.err = fmt.Errorf("the first packet after the identification line claims %d bytes; a KEXINIT has 5 to %d", n, limit)
			return nil
		}
	}
	need := 4 + int(binary.BigEndian.Uint32(s.buf))
	take := min(need-len(s.buf), len(p))
	s.buf = append(s.buf, p[:take]...)
	p = p[take:]
	if len(s.buf) < need {
		return p
	}
	pad := int(s.buf[4])
	if 5+pad > len(s.buf) {
		s.err = fmt.Errorf("the first packet's padding (%d bytes) is longer than the packet", pad)
		return nil
	}
	o, err := ParseKexInit(s.buf[5 : len(s.buf)-pad])
	if err != nil {
		s.err = err
	} else {
		s.offer = o
	}
	s.buf = nil
	return p
}

// abbreviate keeps error messages about foreign bytes short.
func abbreviate(b []byte) string {
	const keep = 40
	if len(b) > keep {
		return string(b[:keep]) + "..."
	}
	return string(b)
}
