package transfer

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Limits are a server's resource limits (transferd; Transfer Family has no such settings). Each
// is a server tag transferd:<Name> (set with CreateServer's Tags or TagResource) or a field of a
// config file server's Limits; a limit without one has its default. The limits keep one client
// from hurting the others: each is checked where the resource is taken, and a refusal is logged.
type Limits struct {
	// MaxHandlesPerSession caps the files and directories one SFTP session holds open; clients
	// learn it from limits@openssh.com. Default 256.
	MaxHandlesPerSession int
	// MaxHandlesPerUser caps the handles of one user across its sessions on the server. Default 1024.
	MaxHandlesPerUser int
	// MaxSessionsPerConnection caps the session channels of one SSH connection. Default 10, as
	// Transfer Family.
	MaxSessionsPerConnection int
	// MaxConnectionsPerUser caps one user's logged-in connections. Default 100.
	MaxConnectionsPerUser int
	// MaxConnectionsPerSourceIp caps the connections from one source address, logged in or not.
	// Default 1000.
	MaxConnectionsPerSourceIP int
	// MaxConnections caps the server's connections. Default 10000, the concurrent sessions
	// Transfer Family promises a server.
	MaxConnections int
	// MaxStartups caps connections that have not logged in yet, as OpenSSH's MaxStartups: from
	// Start of them on, a new one is refused with probability Rate percent, rising linearly to
	// 100% at Full. Default 100:30:300.
	MaxStartups Startups
	// MaxStartupsPerSourceIp caps one source address's connections that have not logged in
	// yet. Default 10.
	MaxStartupsPerSourceIP int
	// LoginGraceTime bounds the handshake and authentication. Default 2 minutes, as OpenSSH.
	LoginGraceTime time.Duration
}

// Startups is OpenSSH's MaxStartups start:rate:full.
type Startups struct{ Start, Rate, Full int }

func (s Startups) String() string { return fmt.Sprintf("%d:%d:%d", s.Start, s.Rate, s.Full) }

// DefaultLimits are the limits of a server that sets none.
var DefaultLimits = Limits{
	MaxHandlesPerSession:      256,
	MaxHandlesPerUser:         1024,
	MaxSessionsPerConnection:  10,
	MaxConnectionsPerUser:     100,
	MaxConnectionsPerSourceIP: 1000,
	MaxConnections:            10000,
	MaxStartups:               Startups{Start: 100, Rate: 30, Full: 300},
	MaxStartupsPerSourceIP:    10,
	LoginGraceTime:            2 * time.Minute,
}

// WithDefaults returns l with DefaultLimits' value for every limit l leaves unset (zero).
func (l Limits) WithDefaults() Limits {
	d := DefaultLimits
	for _, s := range limitSettings {
		if v := s.field(&l); *v <= 0 {
			*v = *s.field(&d)
		}
	}
	if l.MaxStartups.Full <= 0 {
		l.MaxStartups = d.MaxStartups
	}
	if l.LoginGraceTime <= 0 {
		l.LoginGraceTime = d.LoginGraceTime
	}
	return l
}

// LimitTagPrefix begins the tag keys of limits.
const LimitTagPrefix = "transferd:"

// limitSetting is one limit: its name (the tag key after transferd:, the config file's field),
// how its value is read and written, and its largest value.
type limitSetting struct {
	name  string
	max   int
	field func(*Limits) *int
}

// limitSettings are the integer limits; MaxStartups is read on its own.
var limitSettings = []limitSetting{
	{"MaxHandlesPerSession", 1 << 20, func(l *Limits) *int { return &l.MaxHandlesPerSession }},
	{"MaxHandlesPerUser", 1 << 20, func(l *Limits) *int { return &l.MaxHandlesPerUser }},
	{"MaxSessionsPerConnection", 1000, func(l *Limits) *int { return &l.MaxSessionsPerConnection }},
	{"MaxConnectionsPerUser", 1 << 20, func(l *Limits) *int { return &l.MaxConnectionsPerUser }},
	{"MaxConnectionsPerSourceIp", 1 << 20, func(l *Limits) *int { return &l.MaxConnectionsPerSourceIP }},
	{"MaxConnections", 1 << 20, func(l *Limits) *int { return &l.MaxConnections }},
	{"MaxStartupsPerSourceIp", 1 << 20, func(l *Limits) *int { return &l.MaxStartupsPerSourceIP }},
}

const (
	maxStartupsName    = "MaxStartups"
	loginGraceTimeName = "LoginGraceTimeSeconds"
	maxLoginGraceTime  = time.Hour
)

// LimitNames are the names of the limits, in the order the documentation lists them.
func LimitNames() []string {
	names := make([]string, 0, len(limitSettings)+2)
	for _, s := range limitSettings {
		names = append(names, s.name)
	}
	return append(names, maxStartupsName, loginGraceTimeName)
}

// IsLimitTag reports whether a tag key sets a limit.
func IsLimitTag(key string) bool {
	name, ok := strings.CutPrefix(key, LimitTagPrefix)
	if !ok {
		return false
	}
	for _, n := range LimitNames() {
		if n == name {
			return true
		}
	}
	return false
}

// SetLimit sets the limit name (as LimitNames lists) from its text, checking it; the error says
// what is wrong with value, without the field.
func (l *Limits) SetLimit(name, value string) error {
	switch name {
	case maxStartupsName:
		s, err := ParseStartups(value)
		if err != nil {
			return err
		}
		l.MaxStartups = s
		return nil
	case loginGraceTimeName:
		n, err := strconv.Atoi(value)
		if err != nil || n < 1 || time.Duration(n)*time.Second > maxLoginGraceTime {
			return fmt.Errorf("%q must be a whole number of seconds from 1 to %d", value, int(maxLoginGraceTime.Seconds()))
		}
		l.LoginGraceTime = time.Duration(n) * time.Second
		return nil
	}
	for _, s := range limitSettings {
		if s.name != name {
			continue
		}
		n, err := strconv.Atoi(value)
		if err != nil || n < 1 || n > s.max {
			return fmt.Errorf("%q must be a whole number from 1 to %d", value, s.max)
		}
		*s.field(l) = n
		return nil
	}
	return fmt.Errorf("%s is not a limit; the limits are %s", name, strings.Join(LimitNames(), ", "))
}

// Limit returns the text of the limit name, as SetLimit reads it.
func (l *Limits) Limit(name string) string {
	switch name {
	case maxStartupsName:
		return l.MaxStartups.String()
	case loginGraceTimeName:
		return strconv.Itoa(int(l.LoginGraceTime / time.Second))
	}
	for _, s := range limitSettings {
		if s.name == name {
			return strconv.Itoa(*s.field(l))
		}
	}
	return ""
}

// ParseStartups reads OpenSSH's MaxStartups: start:rate:full, or one number for start=full.
func ParseStartups(v string) (Startups, error) {
	bad := fmt.Errorf("%q must be start:rate:full (e.g. 100:30:300: from 100 connections that have not logged in, refuse 30%% of new ones, rising to all of them at 300) or one number", v)
	parts := strings.Split(v, ":")
	nums := make([]int, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return Startups{}, bad
		}
		nums[i] = n
	}
	var s Startups
	switch len(nums) {
	case 1:
		s = Startups{Start: nums[0], Rate: 100, Full: nums[0]}
	case 3:
		s = Startups{Start: nums[0], Rate: nums[1], Full: nums[2]}
	default:
		return Startups{}, bad
	}
	switch {
	case s.Start < 1 || s.Full > 1<<20:
		return Startups{}, fmt.Errorf("%q: start must be at least 1 and full at most %d", v, 1<<20)
	case s.Rate < 1 || s.Rate > 100:
		return Startups{}, fmt.Errorf("%q: rate must be a percentage from 1 to 100", v)
	case s.Full < s.Start:
		return Startups{}, fmt.Errorf("%q: full must be at least start", v)
	}
	return s, nil
}

// LimitsFromTags returns a server's limits: the defaults, with those its tags set. Tags that do
// not hold a valid limit were refused when set (ValidateServerTags); one found anyway keeps the
// default and is reported in the error, with the limits read from the others.
func LimitsFromTags(tags []Tag) (Limits, error) {
	l := DefaultLimits
	var errs []string
	for _, t := range tags {
		if !IsLimitTag(t.Key) {
			continue
		}
		if err := l.SetLimit(strings.TrimPrefix(t.Key, LimitTagPrefix), t.Value); err != nil {
			errs = append(errs, t.Key+": "+err.Error())
		}
	}
	if len(errs) > 0 {
		return l, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return l, nil
}

// validateLimitTag checks a server tag that sets a limit; nil for other tags.
func validateLimitTag(field string, t Tag) error {
	if !IsLimitTag(t.Key) {
		return nil
	}
	var l Limits
	if err := l.SetLimit(strings.TrimPrefix(t.Key, LimitTagPrefix), t.Value); err != nil {
		return Invalid(field, "%s: %v", t.Key, err)
	}
	return nil
}
