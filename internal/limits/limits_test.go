package limits

import (
	"net/netip"
	"testing"
	"time"
)

func TestCounter(t *testing.T) {
	var c Counter
	for i := range 3 {
		if !c.Acquire("a", 3) {
			t.Fatalf("acquire %d of 3 refused", i+1)
		}
	}
	if c.Acquire("a", 3) {
		t.Fatal("a fourth of 3 was granted")
	}
	if !c.Acquire("b", 3) || !c.Acquire("a", 0) {
		t.Fatal("another key, or no cap, was refused")
	}
	if !c.Acquire("a", 10) {
		t.Fatal("a raised cap applies to what is held")
	}
	for range 5 {
		c.Release("a")
	}
	c.Release("b")
	if c.Keys() != 0 || c.Count("a") != 0 {
		t.Fatalf("after releasing everything: %d keys, a holds %d", c.Keys(), c.Count("a"))
	}
}

func TestStartups(t *testing.T) {
	s := Startups{Start: 10, Rate: 30, Full: 100}
	always := func() int { return 99 }
	never := func() int { return 0 }
	for _, tc := range []struct {
		n     int
		roll  func() int
		admit bool
	}{
		{0, never, true},
		{9, never, true},
		{10, never, false}, // 30%: a roll of 0 is under it
		{10, func() int { return 29 }, false},
		{10, func() int { return 30 }, true},
		{55, func() int { return 64 }, false}, // 30 + 70*45/90 = 65%
		{55, func() int { return 65 }, true},
		{99, always, true}, // 30 + 70*89/90 = 99%
		{100, always, false},
		{1000, always, false},
	} {
		if got := s.Admit(tc.n, tc.roll); got != tc.admit {
			t.Errorf("Admit(%d, roll %d) = %v, want %v", tc.n, tc.roll(), got, tc.admit)
		}
	}
}

func TestPenalties(t *testing.T) {
	cfg := DefaultPenalties
	cfg.MaxSources = 2
	cfg.Exempt = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	p := NewPenalties(cfg)
	now := time.Unix(1_700_000_000, 0)
	a := netip.MustParseAddr("192.0.2.1")

	// Three failed logins in quick succession: 5+5+5 = 15 s reaches Min.
	for i, want := range []bool{false, false, true} {
		total, blocked, _ := p.Penalise(a, AuthFailure, now.Add(time.Duration(i)*time.Second))
		if blocked != want {
			t.Fatalf("failure %d: blocked %v (penalty %v), want %v", i+1, blocked, total, want)
		}
	}
	now = now.Add(2 * time.Second) // the last penalty runs 15 s from here
	refuse, report, n, left := p.Refuse(a, now)
	if !refuse || !report || n != 1 || left != 15*time.Second {
		t.Fatalf("first refusal: refuse %v report %v count %d left %v", refuse, report, n, left)
	}
	for range 3 {
		if refuse, report, _, _ := p.Refuse(a, now.Add(time.Second)); !refuse || report {
			t.Fatalf("later refusals in the period: refuse %v report %v, want refused and not reported", refuse, report)
		}
	}
	if refuse, _, _, _ := p.Refuse(a, now.Add(15*time.Second)); refuse {
		t.Fatal("refused after the penalty was served")
	}
	// Served: it starts again from nothing.
	if _, blocked, _ := p.Penalise(a, AuthFailure, now.Add(16*time.Second)); blocked {
		t.Fatal("blocked by one failure after the penalty was served")
	}

	// Penalties add up to Max.
	b := netip.MustParseAddr("2001:db8::1")
	var total time.Duration
	for range 1000 {
		total, _, _ = p.Penalise(b, GraceExceeded, now)
	}
	if total != cfg.Max {
		t.Fatalf("penalty %v after 1000 offences, want the maximum %v", total, cfg.Max)
	}
	if refuse, report, n, _ := p.Refuse(b, now); !refuse || !report || n != 1 {
		t.Fatal("an IPv6 address at the maximum is not refused")
	}

	// The table is full (a and b): a third address is not penalised, and says so.
	c := netip.MustParseAddr("192.0.2.3")
	if _, _, full := p.Penalise(c, AuthFailure, now.Add(time.Second)); !full {
		t.Fatal("a third address was taken into a table of two")
	}
	// Once a's served penalty is swept, there is room.
	if _, _, full := p.Penalise(c, AuthFailure, now.Add(22*time.Second)); full {
		t.Fatal("no room after a's penalty was served")
	}

	// Exempt networks, and IPv4-mapped addresses, are matched as IPv4.
	for _, e := range []string{"10.1.2.3", "::ffff:10.1.2.3"} {
		if total, _, _ := p.Penalise(netip.MustParseAddr(e), InvalidUser, now); total != 0 {
			t.Errorf("exempt %s penalised %v", e, total)
		}
	}
	if !p.Exempt(netip.MustParseAddr("::ffff:10.9.9.9")) {
		t.Error("an IPv4-mapped address in an exempt network is not exempt")
	}
}

func TestReporter(t *testing.T) {
	r := Reporter{Period: time.Minute, MaxKeys: 2}
	now := time.Unix(1_700_000_000, 0)
	if ok, n := r.Report("x", now); !ok || n != 1 {
		t.Fatalf("first: %v %d", ok, n)
	}
	for i := range 5 {
		if ok, _ := r.Report("x", now.Add(time.Duration(i)*time.Second)); ok {
			t.Fatal("reported again within the period")
		}
	}
	if ok, n := r.Report("x", now.Add(time.Minute)); !ok || n != 6 {
		t.Fatalf("after the period: %v %d, want a report for 6", ok, n)
	}
	r.Report("y", now)
	if ok, n := r.Report("z", now); !ok || n != 1 {
		t.Fatal("past MaxKeys a refusal is not reported")
	}
}
