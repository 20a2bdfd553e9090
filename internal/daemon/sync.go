package daemon

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/transferd/transferd/internal/transfer"
)

// ServerChanged makes the running server match the state store after a change made through
// this process, and tells the other nodes sharing the store (see syncChanged).
func (d *Daemon) ServerChanged(ctx context.Context, serverID string) {
	d.publish(ctx, serverID)
	d.syncChanged(ctx, serverID)
}

// syncChanged makes the running server match the state store after a change: a server that
// should be online is started or takes its new settings for new connections (a new Endpoint
// moves its listener); one that should be offline, or is gone, stops and lets its transfers
// finish. STARTING and STOPPING become ONLINE (or START_FAILED) and OFFLINE.
func (d *Daemon) syncChanged(ctx context.Context, serverID string) {
	if !d.started.Load() || d.applying.Load() {
		return // Start and Reload sync every server once the config is applied
	}
	d.syncMu.Lock()
	defer d.syncMu.Unlock()
	s, err := d.store.GetServer(ctx, serverID)
	if transfer.KindOf(err) == transfer.KindNotFound {
		d.workflows.Forget(serverID)
		d.stopServer(serverID)
		return
	}
	if err != nil {
		d.log.Error("reading a changed server failed", "server-id", serverID, "err", err)
		return
	}
	if err := d.syncServer(ctx, s); err != nil {
		d.log.Warn("server could not start; it is START_FAILED until StartServer or SIGHUP starts it", "server-id", serverID, "endpoint", s.Endpoint, "err", err)
	}
}

// syncServer starts, reconfigures or stops one server to match s, and records the resulting
// state. The caller holds syncMu.
func (d *Daemon) syncServer(ctx context.Context, s *transfer.Server) error {
	if err := ctx.Err(); err != nil {
		return err // shutting down (a resync's context): change nothing, record nothing
	}
	d.workflows.Know(s)
	d.mu.Lock()
	r := d.servers[s.ServerID]
	d.mu.Unlock()
	switch s.State {
	case transfer.StateOnline, transfer.StateStarting:
		var err error
		switch {
		case r == nil:
			err = d.startServer(ctx, s)
		case r.endpoint != s.Endpoint:
			d.stopServer(s.ServerID)
			err = d.startServer(ctx, s)
		default:
			err = d.update(ctx, r, s)
		}
		if ctx.Err() != nil {
			return err // it failed because the context ended, not the server: record nothing
		}
		state, reason := transfer.StateOnline, ""
		if err != nil {
			state, reason = transfer.StateStartFailed, err.Error()
		}
		if s.State != state || s.StateReason != reason {
			if serr := d.store.SetServerStateReason(ctx, s.ServerID, state, reason); serr != nil {
				d.log.Error("recording a server's state failed", "server-id", s.ServerID, "state", state, "err", serr)
			}
		}
		return err
	case transfer.StateStartFailed:
		// It could not start here, or on another node: one running here keeps running and takes
		// the new settings; StartServer, or SIGHUP, tries again where it is not running.
		if r == nil || r.endpoint != s.Endpoint {
			d.stopServer(s.ServerID)
			return nil
		}
		return d.update(ctx, r, s)
	default:
		d.stopServer(s.ServerID)
		if s.State == transfer.StateStopping {
			if err := d.store.SetServerState(ctx, s.ServerID, transfer.StateOffline); err != nil {
				d.log.Error("recording a server's state failed", "server-id", s.ServerID, "err", err)
			}
		}
		return nil
	}
}

// update gives a running server s's settings, for new connections.
func (d *Daemon) update(ctx context.Context, r *running, s *transfer.Server) error {
	cfg, err := d.sshConfig(ctx, s)
	if err != nil {
		return err
	}
	return r.srv.Update(cfg)
}

// portRange hands out listen addresses HOST:PORT for servers created without an Endpoint.
type portRange struct {
	host   string
	lo, hi int
}

// parsePortRange reads "LO-HI" (or a single port) for host.
func parsePortRange(host, spec string) (portRange, error) {
	lo, hi, found := strings.Cut(spec, "-")
	if !found {
		hi = lo
	}
	l, err1 := strconv.Atoi(strings.TrimSpace(lo))
	h, err2 := strconv.Atoi(strings.TrimSpace(hi))
	if err1 != nil || err2 != nil || l < 1 || h > 65535 || l > h {
		return portRange{}, fmt.Errorf("port range %q: want LOW-HIGH with 1 <= LOW <= HIGH <= 65535", spec)
	}
	return portRange{host: host, lo: l, hi: h}, nil
}

// Allocate returns the first address of the range that no server uses and that can be bound now.
func (p portRange) Allocate(inUse []string) (string, error) {
	used := make(map[string]bool, len(inUse))
	for _, e := range inUse {
		used[e] = true
	}
	for port := p.lo; port <= p.hi; port++ {
		addr := net.JoinHostPort(p.host, strconv.Itoa(port))
		if used[addr] {
			continue
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		ln.Close()
		return addr, nil
	}
	return "", fmt.Errorf("no free port left in %s:%d-%d for a new server; name one with the tag transferd:Endpoint", p.host, p.lo, p.hi)
}
