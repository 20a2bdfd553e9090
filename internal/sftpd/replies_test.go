package sftpd

import (
	"bytes"
	"encoding/binary"
	"io"
	"sync"
	"testing"
)

// fakeChannel is a channel whose client side is a fixed byte stream; what the server writes is
// kept.
type fakeChannel struct {
	in  io.Reader
	mu  sync.Mutex
	out bytes.Buffer
}

func (f *fakeChannel) Read(p []byte) (int, error) { return f.in.Read(p) }
func (f *fakeChannel) Close() error               { return nil }

func (f *fakeChannel) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.out.Write(p)
}

// written returns what the server wrote so far and forgets it.
func (f *fakeChannel) written() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	b := bytes.Clone(f.out.Bytes())
	f.out.Reset()
	return b
}

func packet(typ byte, body ...[]byte) []byte {
	b := []byte{0, 0, 0, 0, typ}
	for _, p := range body {
		b = append(b, p...)
	}
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
func str(s string) []byte { return appendString(nil, s) }

// runStream runs s's session side with the test as its one request server (reading packets with
// s.Read), once the first packet has come; end ends that request server.
func runStream(s *stream) (end func()) {
	result := make(chan error, 1)
	started := make(chan struct{})
	go s.run(func(bool) <-chan error { close(started); return result })
	<-started
	return func() { result <- io.EOF }
}

// readPacket reads one SFTP packet as pkg/sftp does: the length, then the rest.
func readPacket(t *testing.T, r io.Reader) []byte {
	t.Helper()
	var l [4]byte
	if _, err := io.ReadFull(r, l[:]); err != nil {
		t.Fatalf("reading a packet length: %v", err)
	}
	body := make([]byte, binary.BigEndian.Uint32(l[:]))
	if _, err := io.ReadFull(r, body); err != nil {
		t.Fatalf("reading a packet body: %v", err)
	}
	return append(l[:], body...)
}

func TestStreamLimits(t *testing.T) {
	initPkt := packet(1, u32(3))
	limitsReq := packet(fxpExtended, u32(7), str(extLimits))
	otherExt := packet(fxpExtended, u32(8), str("posix-rename@openssh.com"), str("/a"), str("/b"))
	write := packet(6, u32(9), str("h1"), make([]byte, 8), str(string(bytes.Repeat([]byte{'x'}, 100000))))
	ch := &fakeChannel{in: bytes.NewReader(bytes.Join([][]byte{initPkt, limitsReq, otherExt, write}, nil))}
	s := newStream(ch)
	defer runStream(s)()

	if got := readPacket(t, s); !bytes.Equal(got, initPkt) {
		t.Fatalf("first packet passed on: %x, want INIT %x", got, initPkt)
	}
	version := packet(fxpVersion, u32(3), str("posix-rename@openssh.com"), str("1"))
	// pkg/sftp may write a packet in pieces.
	s.Write(version[:3])
	s.Write(version[3:])
	wantVersion := packet(fxpVersion, u32(3), str("posix-rename@openssh.com"), str("1"), str(extLimits), str("1"))

	// The limits request is answered here, after VERSION however the two goroutines meet; the
	// other extension and the WRITE reach pkg/sftp whole.
	if got := readPacket(t, s); !bytes.Equal(got, otherExt) {
		t.Fatalf("packet after the limits request: %x, want %x", got, otherExt)
	}
	wantReply := packet(fxpExtendedReply, u32(7), binary.BigEndian.AppendUint64(nil, 256<<10),
		binary.BigEndian.AppendUint64(nil, 261120), binary.BigEndian.AppendUint64(nil, 261120), make([]byte, 8))
	if got, want := ch.written(), append(wantVersion, wantReply...); !bytes.Equal(got, want) {
		t.Fatalf("written: %x, want VERSION %x then the limits reply %x", got, wantVersion, wantReply)
	}
	if got := readPacket(t, s); !bytes.Equal(got, write) {
		t.Fatalf("WRITE passed on: %d bytes, want %d", len(got), len(write))
	}
	if !s.bigPackets {
		t.Error("bigPackets not set after the limits request: OPENs will not get the allocator")
	}
	if _, err := s.Read(make([]byte, 10)); err != io.EOF {
		t.Fatalf("read at the end: %v, want io.EOF", err)
	}
	// INIT, the other extension and the WRITE were requests; VERSION was answered.
	if s.requests != 3 || s.responses != 1 {
		t.Errorf("counted %d requests and %d responses, want 3 and 1", s.requests, s.responses)
	}
}

// TestStreamInjectBetweenPackets checks that a reply of the stream's own never lands inside a
// packet pkg/sftp is writing in pieces.
func TestStreamInjectBetweenPackets(t *testing.T) {
	ch := &fakeChannel{in: bytes.NewReader(nil)}
	s := newStream(ch)
	s.Write(packet(fxpVersion, u32(3)))
	ch.written()
	data := packet(103, u32(5), str("payload"))
	s.Write(data[:9]) // header written, payload pending
	s.writeOwn([]byte("OWN"))
	s.Write(data[9:])
	if got, want := string(ch.written()), string(data)+"OWN"; got != want {
		t.Errorf("written %q, want %q", got, want)
	}
}

func TestAfterReply(t *testing.T) {
	ch := &fakeChannel{in: bytes.NewReader(bytes.Join([][]byte{packet(1, u32(3)), packet(16, u32(1), str("."))}, nil))}
	s := newStream(ch)
	defer runStream(s)()
	readPacket(t, s)
	readPacket(t, s)
	ran := 0
	s.afterReply(func() { ran++ })
	s.Write(packet(fxpVersion, u32(3)))
	if ran != 0 {
		t.Fatalf("ran after 1 of 2 replies")
	}
	status := packet(101, u32(1), u32(0), str(""), str(""))
	s.Write(status[:5])
	if ran != 0 {
		t.Fatalf("ran before the reply was complete")
	}
	s.Write(status[5:])
	if ran != 1 {
		t.Fatalf("did not run once both requests were answered")
	}
	s.afterReply(func() { ran++ })
	if ran != 2 {
		t.Fatalf("did not run at once with nothing outstanding")
	}
}

// TestStreamHandleBudget: an OPEN takes a unit of the budget until its handle's CLOSE; an OPEN
// past the session's cap is answered FAILURE here and never reaches pkg/sftp; and a client that
// reuses an unanswered OPEN's id for another request, whose STATUS comes first, still has its
// handle counted.
func TestStreamHandleBudget(t *testing.T) {
	in := bytes.Join([][]byte{
		packet(1, u32(3)),
		packet(fxpOpen, u32(7), str("/a"), u32(2), u32(0)),
		packet(17, u32(7), str("/a")), // STAT with the OPEN's id
		packet(fxpOpen, u32(8), str("/b"), u32(2), u32(0)),
		packet(fxpClose, u32(9), str("1")),
	}, nil)
	ch := &fakeChannel{in: bytes.NewReader(in)}
	s := newStream(ch)
	budget := &countingBudget{}
	s.maxHandles, s.budget = 1, budget
	s.noPark = true // the test is the one request server throughout
	defer runStream(s)()
	readPacket(t, s)
	s.Write(packet(fxpVersion, u32(3)))
	ch.written()
	if got := readPacket(t, s); got[4] != fxpOpen {
		t.Fatalf("packet %x, want the OPEN", got)
	}
	if budget.held() != 1 {
		t.Fatalf("an OPEN holds %d units, want 1", budget.held())
	}
	readPacket(t, s)                                             // the STAT
	s.Write(packet(fxpStatus, u32(7), u32(2), str(""), str(""))) // its STATUS, before the HANDLE
	s.Write(packet(fxpHandle, u32(7), str("1")))
	if budget.held() != 1 {
		t.Fatalf("with the handle open %d units are held, want 1", budget.held())
	}
	if got := readPacket(t, s); got[4] != fxpClose {
		t.Fatalf("packet %x, want the CLOSE: the second OPEN reached pkg/sftp", got)
	}
	if budget.held() != 0 {
		t.Errorf("after the CLOSE %d units are held", budget.held())
	}
	refused := statusPacket(8, sshFxFailure, "too many open files and directories: a session may hold 1 (the server's MaxHandlesPerSession); close some first")
	if got := ch.written(); !bytes.Contains(got, refused) {
		t.Errorf("written %q, want the refusal of OPEN 8", got)
	}
}
