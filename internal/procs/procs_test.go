package procs

import (
	"slices"
	"sync"
	"testing"
	"time"
)

// recorder is a set function that remembers what it was asked.
type recorder struct {
	mu   sync.Mutex
	sets []int
}

func (r *recorder) set(n, _ int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sets = append(r.sets, n)
}

func (r *recorder) got() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.sets)
}

func newTest(t *testing.T, max int, after time.Duration) (*Governor, *recorder) {
	t.Helper()
	r := &recorder{}
	g := New(max, r.set)
	if g == nil {
		t.Fatalf("New(%d) = nil", max)
	}
	g.after = after
	return g, r
}

func TestNothingToGovern(t *testing.T) {
	for _, n := range []int{0, 1} {
		if g := New(n, func(int, int) { t.Fatal("set called") }); g != nil {
			t.Errorf("New(%d) = %+v, want nil", n, g)
		}
	}
	var g *Governor
	g.Hold()() // a nil Governor holds nothing and does not panic
}

func TestTwoCores(t *testing.T) {
	g, r := newTest(t, 2, time.Hour)
	if want := []int{1}; !slices.Equal(r.got(), want) {
		t.Fatalf("start: set %v, want %v", r.got(), want)
	}
	a := g.Hold()
	if want := []int{1}; !slices.Equal(r.got(), want) {
		t.Fatalf("one busy: set %v, want %v", r.got(), want)
	}
	b := g.Hold()
	c := g.Hold()
	if want := []int{1, 2}; !slices.Equal(r.got(), want) {
		t.Fatalf("three busy: set %v, want %v (never above max)", r.got(), want)
	}
	b()
	b() // a second release does nothing
	c()
	if want := []int{1, 2}; !slices.Equal(r.got(), want) {
		t.Fatalf("back to one busy: set %v, want %v (lowered only after the delay)", r.got(), want)
	}
	g.mu.Lock()
	busy, gen := g.busy, g.gen
	g.mu.Unlock()
	if busy != 1 {
		t.Fatalf("busy = %d after a double release, want 1", busy)
	}
	g.lower(gen) // the delay has passed
	if want := []int{1, 2, 1}; !slices.Equal(r.got(), want) {
		t.Fatalf("after the delay: set %v, want %v", r.got(), want)
	}
	a()
	g.lower(g.gen) // nothing pending: at the minimum already
	if want := []int{1, 2, 1}; !slices.Equal(r.got(), want) {
		t.Fatalf("none busy: set %v, want %v (never below half the cores)", r.got(), want)
	}
}

func TestDemandReturnsBeforeTheDelay(t *testing.T) {
	g, r := newTest(t, 4, time.Hour) // between 2 and 4
	var rel []func()
	for range 4 {
		rel = append(rel, g.Hold())
	}
	rel[3]()
	g.mu.Lock()
	gen := g.gen
	pending := g.timer != nil
	g.mu.Unlock()
	if !pending {
		t.Fatal("no decrease pending after demand fell")
	}
	rel = append(rel[:3], g.Hold()) // back to 4 before the delay
	g.lower(gen)                    // the stopped timer fires anyway
	if want := []int{2, 3, 4}; !slices.Equal(r.got(), want) {
		t.Fatalf("set %v, want %v (a decrease cancelled by new demand)", r.got(), want)
	}
	for _, f := range rel {
		f()
	}
	g.mu.Lock()
	gen = g.gen
	g.mu.Unlock()
	g.lower(gen)
	if want := []int{2, 3, 4, 2}; !slices.Equal(r.got(), want) {
		t.Fatalf("set %v, want %v", r.got(), want)
	}
}

func TestLowersAfterTheDelay(t *testing.T) {
	g, r := newTest(t, 2, 20*time.Millisecond)
	a, b := g.Hold(), g.Hold()
	a()
	b()
	deadline := time.Now().Add(10 * time.Second)
	for !slices.Equal(r.got(), []int{1, 2, 1}) {
		if time.Now().After(deadline) {
			t.Fatalf("set %v, want [1 2 1] once the timer fired", r.got())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestConcurrentHolds(t *testing.T) {
	g, r := newTest(t, 3, time.Millisecond)
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				g.Hold()()
			}
		}()
	}
	wg.Wait()
	g.mu.Lock()
	busy := g.busy
	g.mu.Unlock()
	if busy != 0 {
		t.Fatalf("busy = %d after every hold was released", busy)
	}
	for _, n := range r.got() {
		if n < 2 || n > 3 {
			t.Fatalf("set %d, outside [2, 3]: %v", n, r.got())
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		g.mu.Lock()
		cur := g.cur
		g.mu.Unlock()
		if cur == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still at %d Ps with nothing busy", cur)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
