// Package procs sizes the Go scheduler to the connections at work.
//
// One SSH connection is a pipeline of goroutines that hand every 32 KiB packet on: x/crypto's
// reader decrypts it and passes it to its mux, the mux to the channel's buffer, pkg/sftp's reader
// takes it from there and gives each request to a worker. When the scheduler has an idle P, every
// hand-over wakes another thread on another core, which spins looking for work and sleeps again.
// On a machine with few cores and no idle one (the client on the same machine, or other work)
// that costs more than the overlap gains: on 2 cores one upload cost transferd 3.4–3.6 CPU seconds
// per GiB with 2 Ps and 2.6–2.9 with 1, and the spinning ran on the core the client needed.
// Connections side by side are work that does use more cores (8 clients logging in at once made
// fewer sessions per second with 1 P).
//
// A Governor therefore keeps as many Ps as connections are busy (logging in, or running SFTP
// requests; a parked session is not busy), never fewer than half the cores and never more than the
// GOMAXPROCS the process started with. It adds Ps at once and takes them away only after the lower
// demand has lasted a second, so connections that come and go do not resize the scheduler each time.
// (Once set, GOMAXPROCS no longer follows changes of a container's CPU limit made after start.)
package procs

import (
	"log/slog"
	"os"
	"runtime"
	"sync"
	"time"
)

// lowerAfter is how long demand must stay lower before the Governor gives Ps back.
const lowerAfter = time.Second

// Governor counts busy connections and sets GOMAXPROCS from them. A nil *Governor does nothing.
type Governor struct {
	min, max int
	set      func(procs, busy int)
	after    time.Duration

	mu    sync.Mutex
	busy  int
	cur   int
	timer *time.Timer // pending decrease, nil when none
	gen   int         // counts timers, so that a stopped one that already fired does nothing
}

// FromEnv returns the Governor for this process, logging what it does, or nil when there is
// nothing to govern: the GOMAXPROCS environment variable is set (the operator's number is kept as
// it is) or the process has a single P.
func FromEnv(log *slog.Logger) *Governor {
	if env := os.Getenv("GOMAXPROCS"); env != "" {
		log.Info("Go scheduler: GOMAXPROCS is set, the number of Ps is fixed", "procs", runtime.GOMAXPROCS(0))
		return nil
	}
	g := New(runtime.GOMAXPROCS(0), func(procs, busy int) {
		runtime.GOMAXPROCS(procs)
		log.Debug("Go scheduler resized", "procs", procs, "busy", busy)
	})
	if g != nil {
		log.Info("Go scheduler: Ps follow busy connections", "min", g.min, "max", g.max)
	}
	return g
}

// New returns a Governor between half of most (rounded up) and most Ps that calls set to change
// them, starting at the minimum; nil when most is below 2.
func New(most int, set func(procs, busy int)) *Governor {
	if most < 2 {
		return nil
	}
	g := &Governor{min: (most + 1) / 2, max: most, set: set, after: lowerAfter}
	g.cur = g.min
	set(g.cur, 0)
	return g
}

// Hold marks one connection busy until release is called (once; later calls do nothing).
func (g *Governor) Hold() (release func()) {
	if g == nil {
		return func() {}
	}
	g.add(1)
	var once sync.Once
	return func() { once.Do(func() { g.add(-1) }) }
}

func (g *Governor) add(d int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.busy += d
	want := g.wantLocked()
	switch {
	case want > g.cur:
		g.stopTimerLocked()
		g.cur = want
		g.set(want, g.busy)
	case want < g.cur && g.timer == nil:
		g.gen++
		gen := g.gen
		g.timer = time.AfterFunc(g.after, func() { g.lower(gen) })
	case want == g.cur:
		g.stopTimerLocked()
	}
}

// lower gives Ps back once demand has stayed below what is set.
func (g *Governor) lower(gen int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if gen != g.gen || g.timer == nil {
		return // stopped after it fired
	}
	g.timer = nil
	if want := g.wantLocked(); want < g.cur {
		g.cur = want
		g.set(want, g.busy)
	}
}

func (g *Governor) wantLocked() int {
	return min(max(g.busy, g.min), g.max)
}

func (g *Governor) stopTimerLocked() {
	if g.timer != nil {
		g.timer.Stop()
		g.timer = nil
	}
}
