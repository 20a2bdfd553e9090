package sshd

import (
	"github.com/transferd/transferd/internal/transfer"
)

// Sessions lists the server's logged-in connections (the daemon sorts all servers' together).
func (s *Server) Sessions() []transfer.LiveSession {
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	var out []transfer.LiveSession
	for _, c := range conns {
		if l, ok := c.live(); ok {
			out = append(out, l)
		}
	}
	return out
}

// Disconnect closes the connection of session id, whose DISCONNECTED record then gives reason
// as its message. It reports whether this server had that session.
func (s *Server) Disconnect(id, reason string) bool {
	s.mu.Lock()
	var found *conn
	for c := range s.conns {
		c.mu.Lock()
		if c.session != nil && c.session.ID == id {
			found = c
			c.endedBy = reason
		}
		c.mu.Unlock()
	}
	s.mu.Unlock()
	if found == nil {
		return false
	}
	found.close()
	return true
}

// live describes the connection once it has logged in.
func (c *conn) live() (transfer.LiveSession, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.session == nil || c.connected == nil || c.closed {
		return transfer.LiveSession{}, false
	}
	r := c.connected
	return transfer.LiveSession{
		SessionID: c.session.ID, ServerID: c.session.Server.ServerID, User: c.session.User.UserName,
		SourceIP: c.session.RemoteIP, Client: c.session.ClientVersion, Since: c.since,
		Kex: r.Kex, HostKeyAlgorithm: r.HostKeyAlgorithm, Ciphers: r.Ciphers, Macs: r.Macs,
		BytesIn: c.nc.bytesIn.Load(), BytesOut: c.nc.bytesOut.Load(), OpenFiles: c.session.OpenFiles(),
	}, true
}
