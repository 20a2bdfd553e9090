package daemon

import (
	"log/slog"
	"syscall"
	"time"

	"github.com/transferd/transferd/internal/config"
	"github.com/transferd/transferd/internal/limits"
)

// penaltyConfig maps the config file's penalties onto the table's configuration.
func penaltyConfig(s config.PenaltySettings) limits.PenaltyConfig {
	return limits.PenaltyConfig{
		AuthFailure: s.AuthFailure, InvalidUser: s.InvalidUser, NoAuth: s.NoAuth, GraceExceeded: s.GraceExceeded,
		Min: s.Min, Max: s.Max, MaxSources: s.MaxSources, Exempt: s.Exempt,
	}
}

// sweepPenalties forgets served penalties every minute until the daemon stops.
func (d *Daemon) sweepPenalties() {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-d.background.Done():
				return
			case now := <-t.C:
				d.penalties.Sweep(now)
			}
		}
	}()
}

// handleReserve is how many file descriptors are kept from handles for everything else:
// connections (one each), the state store, logs, listeners and identity provider calls.
func handleReserve(limit int) int {
	return max(limit/4, min(1024, limit/2))
}

// fileHandlePool returns the pool that every session's open files and directories take from:
// the file descriptor soft limit (which the Go runtime raised to the hard limit when the process
// started) minus a reserve, so that users who exhaust their handles never stop another user's
// login or upload.
func fileHandlePool(log *slog.Logger) *limits.Pool {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		log.Warn("reading the file descriptor limit failed; open handles are capped by the servers' limits only", "err", err)
		return nil
	}
	limit := int(min(rl.Cur, 1<<30))
	size := limit - handleReserve(limit)
	log.Info("file descriptors", "limit", limit, "hard-limit", rl.Max, "handles", size, "reserved", limit-size)
	return limits.NewPool(size)
}
