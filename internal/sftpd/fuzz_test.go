package sftpd

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/transferd/transferd/internal/storage/disk"
	"github.com/transferd/transferd/internal/transfer"
)

// fuzzConn is a session channel that reads the client's bytes from r and discards the replies.
// At the end of r it waits until the server has written nothing for a few milliseconds (it has
// answered what it will), so that the requests are served rather than cut off by the end.
type fuzzConn struct {
	r         io.Reader
	lastWrite atomic.Int64
}

func (c *fuzzConn) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err == io.EOF {
		for start := time.Now(); time.Since(start) < time.Second; time.Sleep(time.Millisecond) {
			if time.Since(time.Unix(0, c.lastWrite.Load())) > 5*time.Millisecond {
				break
			}
		}
	}
	return n, err
}

func (c *fuzzConn) Write(p []byte) (int, error) {
	c.lastWrite.Store(time.Now().UnixNano())
	return len(p), nil
}

func (c *fuzzConn) Close() error { return nil }

// req builds an SFTP request with packet: each field a uint32 (int), a uint64 or a string.
func req(typ byte, fields ...any) []byte {
	var body [][]byte
	for _, f := range fields {
		switch v := f.(type) {
		case int:
			body = append(body, u32(uint32(v)))
		case uint64:
			body = append(body, binary.BigEndian.AppendUint64(nil, v))
		case string:
			body = append(body, str(v))
		}
	}
	return packet(typ, body...)
}

// SFTP v3 request types and open flags the seeds use.
const (
	fxpInit, fxpLstat, fxpSetstat, fxpRemove            = 1, 7, 9, 13
	fxpMkdir, fxpRmdir, fxpRealpath, fxpStat, fxpRename = 14, 15, 16, 17, 18
	flagRead, flagWrite, flagCreat, flagTrunc           = fxfRead, fxfWrite, fxfCreat, fxfTrunc
)

// fuzzSeeds are request sequences a client sends, after INIT.
func fuzzSeeds() [][]byte {
	handle := "0" // pkg/sftp numbers its handles from 1; a wrong one exercises the errors
	join := func(ps ...[]byte) []byte { return bytes.Join(ps, nil) }
	return [][]byte{
		join(req(fxpRealpath, 1, ".")),
		join(req(fxpOpen, 1, "/f", flagWrite|flagCreat|flagTrunc, 0),
			req(fxpWrite, 2, "1", uint64(0), "hello"),
			req(fxpWrite, 3, "1", uint64(1<<40), "far"),
			req(fxpClose, 4, "1"),
			req(fxpStat, 5, "/f")),
		join(req(fxpOpen, 1, "/f", flagRead, 0), req(fxpRead, 2, "1", uint64(0), 100), req(fxpClose, 3, "1")),
		join(req(fxpOpendir, 1, "/"), req(fxpReaddir, 2, "1"), req(fxpReaddir, 3, "1"), req(fxpClose, 4, "1")),
		join(req(fxpMkdir, 1, "/d", 0), req(fxpRename, 2, "/d", "/e"), req(fxpRmdir, 3, "/e")),
		join(req(fxpSetstat, 1, "/f", 4, 0o600), req(fxpLstat, 2, "/../../etc/passwd"), req(fxpRemove, 3, "/f")),
		join(req(fxpExtended, 1, extLimits), req(fxpExtended, 2, "posix-rename@openssh.com", "/a", "/b"),
			req(fxpExtended, 3, "statvfs@openssh.com", "/")),
		join(req(fxpClose, 1, handle), req(fxpClose, 2, string(make([]byte, 200)))),
		{0, 0, 0, 9, fxpOpen, 0, 0, 0, 1},
		{0, 0, 0, 2, fxpOpen, 0}, // shorter than an id: the stream reads OPENs whole
		{0, 0, 0, 9, fxpRead, 0, 0, 0, 1, 0, 0, 0, 0},
		{0xff, 0xff, 0xff, 0xff},
	}
}

// FuzzSession feeds a byte stream after a valid INIT to a whole SFTP session (the stream layer,
// pkg/sftp, transferd's handlers, homedir, the local store with uploads in place or published at
// CLOSE): it must neither panic nor hang, and must give back every handle it counted.
func FuzzSession(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(false, s)
		f.Add(true, s)
	}
	root := f.TempDir()
	f.Fuzz(func(t *testing.T, atomic bool, data []byte) { runFuzzInput(t, root, atomic, data) })
}

// runFuzzInput runs one session on a local store at root with the input data after INIT.
func runFuzzInput(t *testing.T, root string, atomic bool, data []byte) {
	store, err := disk.New(root)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	cfg := Config{Backend: store}
	if atomic {
		cfg.Backend = store.AtomicUploads()
	}
	budget := &countingBudget{}
	sess := &transfer.Session{ID: "fuzz", MaxHandles: 8, Handles: budget, User: transfer.User{
		UserName:              "fuzz",
		HomeDirectoryType:     transfer.HomeLogical,
		HomeDirectoryMappings: []transfer.Mapping{{Entry: "/", Target: "/bucket/fuzz"}},
	}}
	in := append(req(fxpInit, 3), data...)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c := &fuzzConn{r: bytes.NewReader(in)}
		c.lastWrite.Store(time.Now().UnixNano())
		Serve(ctx, cfg, sess, c)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatalf("the session did not end within 10 s of its input's end")
	}
	if n := budget.held(); n != 0 {
		t.Fatalf("the session ended holding %d handles of its budget", n)
	}
}

// countingBudget is a transfer.Budget that counts what is held.
type countingBudget struct {
	mu sync.Mutex
	n  int
}

func (b *countingBudget) Take() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.n++
	return nil
}

func (b *countingBudget) Give() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.n--
}

func (b *countingBudget) Claim() { b.Take() }

func (b *countingBudget) held() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.n
}
