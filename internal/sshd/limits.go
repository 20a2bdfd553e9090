package sshd

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/transferd/transferd/internal/activity"
	"github.com/transferd/transferd/internal/limits"
)

// Client-chosen strings in records and logs are cut to these lengths (runes), ending in "...":
// a user name to Transfer Family's longest (100), a client's identification to the 255 bytes
// RFC 4253 allows.
const (
	maxRecordUser   = 100
	maxRecordClient = 255
)

// cut shortens a client-chosen string for a record. It is on the path of every failed login, so
// a string short enough in bytes is returned as it is.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-3]) + "..."
}

// addrOf is the IP address of a connection's remote end.
func addrOf(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(ta.IP); ok {
			return ip.Unmap()
		}
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// admit decides, before any work on it, whether a new connection is served: its source address
// is not penalised, and the server's connection limits and MaxStartups let it in. It takes what
// the connection holds (conn.release gives it back) and returns its source address.
func (s *Server) admit(b *built, nc net.Conn) (string, bool) {
	cfg := &b.cfg
	addr := addrOf(nc.RemoteAddr())
	ip := addr.String()
	now := time.Now()
	if p := cfg.Penalties; p != nil {
		if refuse, report, n, left := p.Refuse(addr, now); refuse {
			cfg.Metrics.Refused(cfg.Server.ServerID, "Penalty")
			if report {
				s.logRejected(cfg, "Penalty", ip, n, fmt.Sprintf("source address penalised for failed or abandoned logins: its connections are refused for %s more", left.Round(time.Second)))
			}
			return "", false
		}
	}
	lim := &cfg.Limits
	switch s.perIP.AcquireBoth(ip, lim.MaxConnectionsPerSourceIP, lim.MaxConnections) {
	case "total":
		s.reject(cfg, "MaxConnections", ip, now, fmt.Sprintf("the server has %d connections, its MaxConnections", lim.MaxConnections))
		return "", false
	case "key":
		s.reject(cfg, "MaxConnectionsPerSourceIp", ip, now, fmt.Sprintf("the source address has %d connections, the server's MaxConnectionsPerSourceIp", lim.MaxConnectionsPerSourceIP))
		return "", false
	}
	if n := s.starting.Total(); !limits.Startups(lim.MaxStartups).Admit(n, limits.Roll) {
		s.perIP.Release(ip)
		s.reject(cfg, "MaxStartups", ip, now, fmt.Sprintf("%d connections have not logged in yet; past the server's MaxStartups %s new ones are refused", n, lim.MaxStartups))
		return "", false
	}
	if !s.starting.Acquire(ip, lim.MaxStartupsPerSourceIP) {
		s.perIP.Release(ip)
		s.reject(cfg, "MaxStartupsPerSourceIp", ip, now, fmt.Sprintf("the source address has %d connections that have not logged in yet, the server's MaxStartupsPerSourceIp", lim.MaxStartupsPerSourceIP))
		return "", false
	}
	return ip, true
}

// reject reports a connection refused for reason (a limit's name, or ProxyProtocol): in the
// metrics at once, in a record once per reason and address a minute, with the count of those
// refused meanwhile.
func (s *Server) reject(cfg *Config, reason, ip string, now time.Time, msg string) {
	cfg.Metrics.Refused(cfg.Server.ServerID, reason)
	if ok, n := s.rejected.Report(reason+" "+ip, now); ok {
		s.logRejected(cfg, reason, ip, n, msg)
	}
}

// logRejected writes a CONNECTION_REJECTED record standing for count refusals.
func (s *Server) logRejected(cfg *Config, reason, ip string, count int, msg string) {
	cfg.Activity.Log(&activity.Record{
		ActivityType: activity.ConnectionRejected,
		ResourceARN:  cfg.ResourceARN,
		SourceIP:     ip,
		Message:      msg,
		Reason:       reason,
		Count:        count,
	})
	cfg.Logger.Info("connection refused before its handshake", "server-id", cfg.Server.ServerID, "source-ip", ip, "reason", msg, "count", count)
}

// loggedIn moves a connection from the starting ones to the logged-in ones.
func (c *conn) loggedIn() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.starting {
		c.starting = false
		c.srv.starting.Release(c.ip)
	}
}

// release gives back what the connection holds of the server's limits.
func (c *conn) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.starting {
		c.starting = false
		c.srv.starting.Release(c.ip)
	}
	if c.user != "" {
		c.srv.perUser.Release(c.user)
		c.user = ""
	}
	if c.ip != "" {
		c.srv.perIP.Release(c.ip)
		c.ip = ""
	}
}

// errUserConnections refuses a login past the server's MaxConnectionsPerUser. It earns no penalty.
type errUserConnections struct{ max int }

func (e errUserConnections) Error() string {
	return fmt.Sprintf("the user has %d connections, the server's MaxConnectionsPerUser; close one first", e.max)
}

// admitUser takes a logged-in connection for a user about to be let in.
func (l *login) admitUser(name string) error {
	max := l.b.cfg.Limits.MaxConnectionsPerUser
	if !l.conn.srv.perUser.Acquire(name, max) {
		return errUserConnections{max}
	}
	l.conn.mu.Lock()
	l.conn.user = name
	l.conn.mu.Unlock()
	return nil
}

// errUnknownUser is a login naming a user that does not exist (or may not log in).
var errUnknownUser = errors.New("unknown user")

// noteOffence keeps the worst thing a connection's failed authentication attempts did.
func (l *login) noteOffence(err error) {
	switch {
	case errors.As(err, new(errUserConnections)):
		l.limited = true
	case errors.Is(err, errUnknownUser):
		l.offence = limits.InvalidUser
	case l.offence != limits.InvalidUser:
		l.offence = limits.AuthFailure
	}
}

// penalise adds the penalty a connection that did not log in earned: the login grace time ran
// out, else its worst authentication failure, else it ended without trying to authenticate.
func (c *conn) penalise(l *login, err error) {
	cfg := &c.b.cfg
	if cfg.Penalties == nil || c.isClosed() {
		return // no penalties, or the server closed it
	}
	o := l.offence
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		o = limits.GraceExceeded
	case o == limits.NoOffence && l.limited:
		return
	case o == limits.NoOffence:
		o = limits.NoAuth
	}
	addr := addrOf(c.nc.RemoteAddr())
	total, blocked, full := cfg.Penalties.Penalise(addr, o, time.Now())
	switch {
	case full:
		cfg.Logger.Warn("the penalty table is full: a source address goes unpenalised", "source-ip", addr.String(), "offence", o.String())
	case blocked:
		cfg.Logger.Debug("source address penalised", "source-ip", addr.String(), "offence", o.String(), "penalty", total)
	}
}

func (c *conn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// handleBudget is what one user's sessions on a server may hold open: MaxHandlesPerUser, but at
// most a quarter of the process's handles (Config.HandlePool), which are all the file descriptors
// but a reserve for connections.
type handleBudget struct {
	srv  *Server
	user string
	max  int
	pool *limits.Pool
}

func (h *handleBudget) Take() error {
	max, why := h.max, "the server's MaxHandlesPerUser"
	if share := h.pool.Size() / userShare; share > 0 && share < max {
		// So that one user cannot take what the others need.
		max, why = share, fmt.Sprintf("a %s of the %d that the process's file descriptor limit leaves for them", shareName, h.pool.Size())
	}
	if !h.pool.Acquire() {
		return fmt.Errorf("the service holds %d open files and directories, all that its file descriptor limit leaves for them; try again later", h.pool.Size())
	}
	if !h.srv.handles.Acquire(h.user, max) {
		h.pool.Release()
		return fmt.Errorf("the user holds %d open files and directories across its sessions, %s; close some first", max, why)
	}
	return nil
}

// A user may hold at most a userShare-th of the process's handles, whatever its
// MaxHandlesPerUser.
const (
	userShare = 4
	shareName = "quarter"
)

func (h *handleBudget) Claim() {
	h.pool.Claim()
	h.srv.handles.Acquire(h.user, 0)
}

func (h *handleBudget) Give() {
	h.srv.handles.Release(h.user)
	h.pool.Release()
}
