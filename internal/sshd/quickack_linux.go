package sshd

import (
	"net"
	"syscall"
)

// quickAcker sends a TCP connection's pending ACK at once instead of after the kernel's delayed-ACK
// timer (40 ms on Linux). The OpenSSH client does not set TCP_NODELAY on non-interactive sessions,
// so when it writes two small packets in a row (NEWKEYS then SERVICE_REQUEST, its KEXINIT then
// KEXDH_INIT) Nagle's algorithm holds the second until the first is acknowledged, and a server
// with nothing to say yet acknowledges only when the timer fires: two such stalls made up 80 of
// the ~100 ms an sftp login took.
type quickAcker struct{ rc syscall.RawConn }

func newQuickAcker(nc net.Conn) *quickAcker {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return &quickAcker{rc}
}

// ack sends the pending ACK, if any, and leaves delayed-ACK mode until the kernel enters it again.
func (q *quickAcker) ack() {
	q.rc.Control(func(fd uintptr) {
		syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
	})
}
