//go:build !linux

package sshd

import "net"

// quickAcker is a no-op where TCP_QUICKACK does not exist.
type quickAcker struct{}

func newQuickAcker(net.Conn) *quickAcker { return nil }

func (*quickAcker) ack() {}
