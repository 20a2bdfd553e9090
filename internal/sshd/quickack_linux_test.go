package sshd

import (
	"net"
	"syscall"
	"testing"
)

// TestQuickAck checks that a connection's reads leave the socket acknowledging at once, and that
// connections other than TCP get no quickAcker.
func TestQuickAck(t *testing.T) {
	if q := newQuickAcker(nil); q != nil {
		t.Error("a quickAcker for a nil connection")
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if q := newQuickAcker(a); q != nil {
		t.Error("a quickAcker for a pipe")
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	s := newSniffConn(server)
	if s.quickAck == nil {
		t.Fatal("no quickAcker for a TCP connection")
	}
	rc, _ := server.(*net.TCPConn).SyscallConn()
	quick := func() int {
		var v int
		var gerr error
		rc.Control(func(fd uintptr) { v, gerr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK) })
		if gerr != nil {
			t.Fatal(gerr)
		}
		return v
	}
	// Ping-pong traffic puts Linux into delayed-ACK mode; a read through sniffConn leaves it.
	buf := make([]byte, 16)
	for i := range 5 {
		client.Write([]byte("ping"))
		if _, err := s.Read(buf); err != nil {
			t.Fatal(err)
		}
		if got := quick(); got != 1 {
			t.Fatalf("after read %d: TCP_QUICKACK is %d, want 1", i, got)
		}
		server.Write([]byte("pong"))
		client.Read(buf)
	}
}
