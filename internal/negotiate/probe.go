package negotiate

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"
)

// ProbeVersion is the identification line a probe sends.
const ProbeVersion = "SSH-2.0-transferd_probe"

// probeMaxPacket bounds the server KEXINIT a probe reads: the largest packet OpenSSH accepts.
const probeMaxPacket = 256 << 10

// Hello is what an SSH server says before any key is exchanged.
type Hello struct {
	// Address is the address probed, as given.
	Address string `json:"address"`
	// Version is the server's identification line.
	Version string `json:"version"`
	// Offer is the server's first KEXINIT.
	Offer *Offer `json:"offer"`
}

// Probe connects to an SSH server at addr (HOST:PORT), sends its identification line, reads the
// server's identification line and KEXINIT, which servers send without waiting for the
// client's, then sends SSH_MSG_DISCONNECT ("by application") and closes. It authenticates
// nothing and sends no KEXINIT. ctx bounds the whole exchange; errors say what the server did
// instead (refused the connection, sent something that is not SSH, or said nothing in time).
func Probe(ctx context.Context, addr string) (*Hello, error) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("probe %s: not HOST:PORT: %w", addr, err)
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("probe %s: no TCP connection before the time limit: %w", addr, ctx.Err())
		}
		return nil, fmt.Errorf("probe %s: %w", addr, err)
	}
	defer nc.Close()
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Now()) })
	defer stop()

	if _, err := nc.Write([]byte(ProbeVersion + "\r\n")); err != nil {
		return nil, fmt.Errorf("probe %s: sending the identification line: %w", addr, err)
	}
	s := Stream{MaxPacket: probeMaxPacket}
	buf := make([]byte, 4096)
	for !s.Done() {
		n, err := nc.Read(buf)
		s.Feed(buf[:n])
		if s.Done() {
			break
		}
		if err != nil {
			return nil, probeReadError(ctx, addr, &s, err)
		}
	}
	o, err := s.Offer()
	if err != nil {
		if s.Version() == "" {
			return nil, fmt.Errorf("probe %s: not an SSH server: %w", addr, err)
		}
		return nil, fmt.Errorf("probe %s: the server (%s) sent no readable KEXINIT: %w", addr, s.Version(), err)
	}
	nc.Write(disconnectPacket("transferd probe: done"))
	return &Hello{Address: addr, Version: s.Version(), Offer: o}, nil
}

func probeReadError(ctx context.Context, addr string, s *Stream, err error) error {
	waiting := "an SSH identification line"
	if s.Version() != "" {
		waiting = "the KEXINIT after " + s.Version()
	}
	switch {
	case ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("probe %s: no answer in time: waiting for %s", addr, waiting)
	case s.Version() == "" && s.FirstLine() != "":
		return fmt.Errorf("probe %s: not an SSH server: it answered %q and no SSH identification line", addr, s.FirstLine())
	case errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET):
		return fmt.Errorf("probe %s: the server closed the connection while transferd waited for %s", addr, waiting)
	}
	return fmt.Errorf("probe %s: waiting for %s: %w", addr, waiting, err)
}

// disconnectPacket is an unencrypted SSH_MSG_DISCONNECT packet with reason
// SSH_DISCONNECT_BY_APPLICATION (11).
func disconnectPacket(why string) []byte {
	payload := []byte{1} // SSH_MSG_DISCONNECT
	payload = binary.BigEndian.AppendUint32(payload, 11)
	payload = binary.BigEndian.AppendUint32(payload, uint32(len(why)))
	payload = append(payload, why...)
	payload = binary.BigEndian.AppendUint32(payload, 0) // language tag
	return frame(payload)
}

// frame wraps a payload as an unencrypted binary packet (RFC 4253 §6): the total length a
// multiple of 8, with 4 to 11 bytes of padding.
func frame(payload []byte) []byte {
	pad := 8 - (5+len(payload))%8
	if pad < 4 {
		pad += 8
	}
	b := binary.BigEndian.AppendUint32(nil, uint32(1+len(payload)+pad))
	b = append(b, byte(pad))
	b = append(b, payload...)
	return append(b, make([]byte, pad)...)
}
