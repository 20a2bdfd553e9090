// Package limits is the bookkeeping behind transferd's resource limits and brute-force penalties:
// counts by key with the cap given at each use (so a reconfigured limit applies at once, to
// counts already held), OpenSSH's MaxStartups random early refusal, a table of penalised source
// addresses, and a reporter that turns a storm of refusals into one report per period. It does no
// I/O; time comes from the caller.
package limits

import (
	"math/rand/v2"
	"sync"
	"time"
)

// Reporter turns repeated refusals of one kind into one report per period: the first refusal of a
// key is reported at once, later ones within the period are counted and the count goes with the
// next report. The zero value reports every refusal.
type Reporter struct {
	Period time.Duration
	// MaxKeys caps the keys remembered; past it, every refusal is reported (and the map is
	// cleared at the next report), so the reporter's memory stays bounded under any flood.
	MaxKeys int

	mu   sync.Mutex
	keys map[string]*reported
}

type reported struct {
	at      time.Time
	pending int
}

// Report notes a refusal for key at now. It returns whether to report it and, if so, how many
// refusals it stands for (itself and those held back since the last report).
func (r *Reporter) Report(key string, now time.Time) (bool, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.keys[key]
	if e != nil && now.Sub(e.at) < r.Period {
		e.pending++
		return false, 0
	}
	if e == nil {
		if r.keys == nil || r.MaxKeys > 0 && len(r.keys) >= r.MaxKeys {
			for k, v := range r.keys {
				if now.Sub(v.at) >= r.Period {
					delete(r.keys, k)
				}
			}
			if r.keys == nil {
				r.keys = map[string]*reported{}
			}
			if r.MaxKeys > 0 && len(r.keys) >= r.MaxKeys {
				return true, 1
			}
		}
		e = &reported{}
		r.keys[key] = e
	}
	n := e.pending + 1
	e.at, e.pending = now, 0
	return true, n
}

// Counter counts what each key holds (connections per source address, handles per user ...).
// The zero value is ready to use.
type Counter struct {
	mu    sync.Mutex
	n     map[string]int
	total int
}

// Acquire takes one for key if key holds fewer than max (max <= 0: no cap) and reports whether it
// did.
func (c *Counter) Acquire(key string, max int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if max > 0 && c.n[key] >= max {
		return false
	}
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[key]++
	c.total++
	return true
}

// AcquireBoth takes one for key if key holds fewer than max and all keys together fewer than
// total (either <= 0: no cap). It reports which cap refused: "" when it took one, "key" or "total".
func (c *Counter) AcquireBoth(key string, max, total int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case total > 0 && c.total >= total:
		return "total"
	case max > 0 && c.n[key] >= max:
		return "key"
	}
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[key]++
	c.total++
	return ""
}

// Release gives back one that Acquire took for key.
func (c *Counter) Release(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch c.n[key] {
	case 0:
		panic("limits: Release of " + key + " without Acquire")
	case 1:
		delete(c.n, key) // keys come and go with clients; keep only those holding something
	default:
		c.n[key]--
	}
	c.total--
}

// Total is what all keys hold together.
func (c *Counter) Total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total
}

// Count is what key holds.
func (c *Counter) Count(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[key]
}

// Keys is how many keys hold something.
func (c *Counter) Keys() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.n)
}

// Pool is a number of units shared by everything in the process, such as the file descriptors
// that handles may take. The zero value has no cap.
type Pool struct {
	mu   sync.Mutex
	size int
	used int
}

// NewPool returns a pool of size units (size <= 0: no cap).
func NewPool(size int) *Pool { return &Pool{size: size} }

// Acquire takes a unit if one is free; a nil Pool always has one.
func (p *Pool) Acquire() bool {
	if p == nil {
		return true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.size > 0 && p.used >= p.size {
		return false
	}
	p.used++
	return true
}

// Claim takes a unit whether or not one is free.
func (p *Pool) Claim() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.used++
}

// Release gives back a unit Acquire or Claim took.
func (p *Pool) Release() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.used--
}

// Size is the pool's size (0: no cap).
func (p *Pool) Size() int {
	if p == nil {
		return 0
	}
	return p.size
}

// Startups is OpenSSH's MaxStartups start:rate:full.
type Startups struct{ Start, Rate, Full int }

// Admit decides whether a new connection may start while n others have not logged in yet: always
// below Start, never from Full on, and between them refused with probability Rate percent at
// Start rising linearly to 100% at Full, as OpenSSH's sshd does. roll returns a number in [0, 100).
func (s Startups) Admit(n int, roll func() int) bool {
	switch {
	case n >= s.Full:
		return false
	case n < s.Start:
		return true
	}
	p := s.Rate + (100-s.Rate)*(n-s.Start)/(s.Full-s.Start)
	return roll() >= p
}

// Roll is the random number Admit takes.
func Roll() int { return rand.IntN(100) }
