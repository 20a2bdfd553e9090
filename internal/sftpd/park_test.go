package sftpd

import (
	"bytes"
	"io"
	"runtime"
	"testing"
	"time"
)

// TestSessionParks checks that an idle session with nothing open parks (its request server and
// that server's goroutines end) and serves the next request as before; that a session with an open
// file does not park however long it waits; and that pkg/sftp's allocator is given to the request
// servers that open files for a client that asked for limits@openssh.com, and only to them.
func TestSessionParks(t *testing.T) {
	// pkg/sftp's client does not ask for limits@openssh.com; the hook stands for a client that
	// did (TestStreamLimits checks that asking sets bigPackets).
	t.Run("limits asked", func(t *testing.T) { testSessionParks(t, true) })
	t.Run("32 KiB packets", func(t *testing.T) { testSessionParks(t, false) })
}

func testSessionParks(t *testing.T, bigPackets bool) {
	const after = 50 * time.Millisecond
	var st *stream
	c := pipeSession(t, Config{parkAfter: after, streamHook: func(s *stream) { st = s; s.bigPackets = bigPackets }})
	state := func() (parks int, alloc bool) {
		st.mu.Lock()
		defer st.mu.Unlock()
		return st.parks, st.alloc
	}
	waitParks := func(what string, n int) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(after / 5) {
			if p, _ := state(); p >= n {
				return
			}
			if time.Now().After(deadline) {
				p, _ := state()
				t.Fatalf("%s: the session parked %d times, want %d", what, p, n)
			}
		}
	}
	// Only the allocator is checked right after a request: on a loaded machine the session may
	// park before the check.
	wantAlloc := func(what string, alloc bool) {
		t.Helper()
		if _, a := state(); a != alloc {
			t.Errorf("%s: allocator %v, want %v", what, a, alloc)
		}
	}
	wantParks := func(what string, n int) {
		t.Helper()
		if p, _ := state(); p != n {
			t.Errorf("%s: parked %d times, want %d", what, p, n)
		}
	}

	if _, err := c.Getwd(); err != nil {
		t.Fatal(err)
	}
	wantAlloc("after REALPATH", false)
	// An OPEN straight after: the request server without the allocator steps aside (or, if the
	// machine was slow, parked by itself first); either way once. Without limits, it serves the
	// OPEN and moves the data: it parks when the file is closed.
	parked := 0
	if bigPackets {
		parked = 1
	}
	f, err := c.Create("/a")
	if err != nil {
		t.Fatal(err)
	}
	wantAlloc("after OPEN", bigPackets)
	if bigPackets {
		wantParks("after OPEN", parked)
	}
	if _, err := f.Write([]byte("hello ")); err != nil {
		t.Fatal(err)
	}
	busy := runtime.NumGoroutine()
	time.Sleep(6 * after)
	if _, err := f.Write([]byte("world")); err != nil {
		t.Fatalf("write after waiting with the file open: %v", err)
	}
	wantParks("after waiting with the file open", parked)
	if err := f.Close(); err != nil {
		t.Fatalf("close after waiting with the file open: %v", err)
	}

	waitParks("idle after CLOSE", parked+1)
	// pkg/sftp's request server runs 8 read/write workers, a command worker, a dispatcher and a
	// controller; the goroutine that ran it ends too.
	if idle := runtime.NumGoroutine(); idle > busy-12 {
		t.Errorf("goroutines: %d while serving, %d parked; want at least 12 fewer", busy, idle)
	}
	entries, err := c.ReadDir("/")
	if err != nil || len(entries) != 1 || entries[0].Name() != "a" || entries[0].Size() != 11 {
		t.Fatalf("ReadDir after parking = %v, %v; want the 11-byte file a", entries, err)
	}
	wantAlloc("after READDIR", false)
	waitParks("idle after READDIR", parked+2)
	r, err := c.Open("/a")
	if err != nil {
		t.Fatal(err)
	}
	wantAlloc("after OPEN once parked", bigPackets)
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, []byte("hello world")) {
		t.Fatalf("read after parking = %q, %v", got, err)
	}
	r.Close()
}

// TestSessionParksUnderLoad runs requests at intervals around a very short park time, so that
// sessions park and restart between, during and just after requests, and checks every answer.
func TestSessionParksUnderLoad(t *testing.T) {
	const after = time.Millisecond
	var st *stream
	c := pipeSession(t, Config{parkAfter: after, streamHook: func(s *stream) { st = s }})
	data := bytes.Repeat([]byte("0123456789"), 10000)
	for i := range 200 {
		time.Sleep(time.Duration(i%4) * after * 3 / 4)
		switch i % 5 {
		case 0, 1, 2:
			if _, err := c.Getwd(); err != nil {
				t.Fatalf("request %d: REALPATH: %v", i, err)
			}
		case 3:
			f, err := c.Create("/f")
			if err != nil {
				t.Fatalf("request %d: OPEN: %v", i, err)
			}
			if _, err := f.Write(data); err != nil {
				t.Fatalf("request %d: WRITE: %v", i, err)
			}
			if err := f.Close(); err != nil {
				t.Fatalf("request %d: CLOSE: %v", i, err)
			}
		case 4:
			f, err := c.Open("/f")
			if err != nil {
				t.Fatalf("request %d: OPEN: %v", i, err)
			}
			got, err := io.ReadAll(f)
			f.Close()
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("request %d: read %d bytes (%v), want the %d written", i, len(got), err, len(data))
			}
		}
	}
	st.mu.Lock()
	parks := st.parks
	st.mu.Unlock()
	// How often depends on the machine's load; the point is that parking came between requests.
	if parks == 0 {
		t.Errorf("the session never parked in 200 requests with pauses of up to 2.25 times the park time")
	}
	t.Logf("parked %d times in 200 requests", parks)
}
