package limits

import (
	"net/netip"
	"sync"
	"time"
)

// PenaltyConfig says what earns a source address penalty time and what it costs, as OpenSSH's
// PerSourcePenalties: each connection that ends without a login earns the penalty of the worst
// thing it did; penalties from one address add up while it is penalised (up to Max), and once they
// exceed Min its new connections are refused until the time is served.
type PenaltyConfig struct {
	AuthFailure   time.Duration // a failed authentication with a known user name
	InvalidUser   time.Duration // an authentication naming a user that does not exist
	NoAuth        time.Duration // a connection that ended without trying to authenticate
	GraceExceeded time.Duration // a connection that did not log in within the login grace time
	Min, Max      time.Duration
	// MaxSources caps the addresses the table holds; when it is full, new addresses are not
	// penalised (OpenSSH's overflow:permissive) and Penalise reports it.
	MaxSources int
	// Exempt networks are never penalised.
	Exempt []netip.Prefix
}

// DefaultPenalties are OpenSSH's defaults, with invalid user names penalised as failed
// authentications are.
var DefaultPenalties = PenaltyConfig{
	AuthFailure:   5 * time.Second,
	InvalidUser:   5 * time.Second,
	NoAuth:        time.Second,
	GraceExceeded: 10 * time.Second,
	Min:           15 * time.Second,
	Max:           10 * time.Minute,
	MaxSources:    65536,
}

// Offence is what a connection that did not log in did.
type Offence int

const (
	NoOffence Offence = iota
	NoAuth
	AuthFailure
	InvalidUser
	GraceExceeded
)

func (o Offence) String() string {
	return [...]string{"none", "no authentication attempt", "failed authentication", "invalid user name", "login grace time exceeded"}[o]
}

// Penalties is the table of penalised source addresses, shared by every server of a process.
type Penalties struct {
	mu      sync.Mutex
	cfg     PenaltyConfig
	sources map[netip.Addr]*penalty
}

type penalty struct {
	total time.Duration // accrued while penalised
	until time.Time     // the penalty runs until then
	// reported is the end of the penalty period that a refusal was last reported for.
	reported time.Time
	refused  int // refusals since the last report
}

// NewPenalties returns an empty table.
func NewPenalties(cfg PenaltyConfig) *Penalties {
	return &Penalties{cfg: cfg, sources: map[netip.Addr]*penalty{}}
}

// Configure replaces the configuration; penalties already earned stand.
func (p *Penalties) Configure(cfg PenaltyConfig) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cfg = cfg
}

// Exempt reports whether addr is never penalised.
func (p *Penalties) Exempt(addr netip.Addr) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exempt(addr.Unmap())
}

func (p *Penalties) exempt(addr netip.Addr) bool {
	for _, n := range p.cfg.Exempt {
		if n.Contains(addr) {
			return true
		}
	}
	return false
}

// Penalise adds the penalty of what a connection from addr did. It returns the address's
// penalty time, whether that now blocks it, and full when the table had no room for the address.
func (p *Penalties) Penalise(addr netip.Addr, o Offence, now time.Time) (total time.Duration, blocked, full bool) {
	addr = addr.Unmap()
	var d time.Duration
	switch o {
	case NoAuth:
		d = p.cfg.NoAuth
	case AuthFailure:
		d = p.cfg.AuthFailure
	case InvalidUser:
		d = p.cfg.InvalidUser
	case GraceExceeded:
		d = p.cfg.GraceExceeded
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if d <= 0 || p.exempt(addr) {
		return 0, false, false
	}
	e := p.sources[addr]
	if e == nil {
		if len(p.sources) >= p.cfg.MaxSources {
			p.expire(now)
			if len(p.sources) >= p.cfg.MaxSources {
				return 0, false, true
			}
		}
		e = &penalty{}
		p.sources[addr] = e
	}
	if !now.Before(e.until) {
		e.total = 0 // served: start again
	}
	e.total = min(e.total+d, p.cfg.Max)
	e.until = now.Add(e.total)
	return e.total, e.total >= p.cfg.Min, false
}

// Refuse reports whether a new connection from addr is refused: its penalty exceeds Min and has
// not been served. report is true for the first refusal of each penalty period, with the
// refusals of the period before it that were not reported (count) and the time left.
func (p *Penalties) Refuse(addr netip.Addr, now time.Time) (refuse, report bool, count int, left time.Duration) {
	addr = addr.Unmap()
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.sources[addr]
	if e == nil || e.total < p.cfg.Min || !now.Before(e.until) {
		return false, false, 0, 0
	}
	e.refused++
	if e.reported.Equal(e.until) {
		return true, false, 0, 0
	}
	e.reported = e.until
	count, e.refused = e.refused, 0
	return true, true, count, e.until.Sub(now)
}

// expire forgets addresses whose penalty has been served.
func (p *Penalties) expire(now time.Time) {
	for a, e := range p.sources {
		if !now.Before(e.until) {
			delete(p.sources, a)
		}
	}
}

// Sweep forgets served penalties; call it now and then so the table holds only live ones.
func (p *Penalties) Sweep(now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.expire(now)
}
