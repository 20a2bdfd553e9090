// Command load holds many SFTP sessions on one server while some of them work, and reports what
// the server did: failed sessions and operations, the latency of a stat on a session that is
// otherwise idle, and the server's memory (and, with -debug, its goroutines) before, during and
// after. bench/load.sh runs it against a transferd it starts.
//
//	load -addr 127.0.0.1:2222 -key KEY -users 100 -sources 10 -n 10000 -active 0.01 -duration 5m -pid PID
//	load -mode mixed -addr ... -n 500 -duration 5m -pid PID -debug http://127.0.0.1:6060
//
// Sessions log in as bench000, bench001 ... (-users of them, in turn) from 127.0.0.2,
// 127.0.0.3 ... (-sources of them, in turn), so that no user or address needs more than the
// server's default limits allow.
//
// Mode hold opens -n sessions, then for -duration keeps -active of them (1%) transferring (a put
// of -size bytes, a get of it back, a remove, again) while a prober stats a random idle session
// every 20 ms. Mode mixed runs every one of its -n sessions through put, ls, rename, get and rm
// for -duration, then closes them all, waits, and compares the server's memory and goroutines
// with what they were before the sessions opened.
package main

import (
	"bytes"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

type options struct {
	mode, addr, key, debug     string
	users, sources, n, conc    int
	pid, size                  int
	active                     float64
	duration, settle, interval time.Duration
	stick                      time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.mode, "mode", "hold", "hold (many sessions, a few working) or mixed (every session working)")
	flag.StringVar(&o.addr, "addr", "", "server address HOST:PORT")
	flag.StringVar(&o.key, "key", "", "private key file of every user")
	flag.StringVar(&o.debug, "debug", "", "the server's --debug-listen URL, for its goroutine count")
	flag.IntVar(&o.users, "users", 100, "users bench000 ... to log in as, in turn")
	flag.IntVar(&o.sources, "sources", 10, "loopback source addresses 127.0.0.2 ... to connect from, in turn")
	flag.IntVar(&o.n, "n", 10000, "sessions")
	flag.IntVar(&o.conc, "concurrency", 32, "sessions opened at once")
	flag.IntVar(&o.pid, "pid", 0, "the server's process ID, for its memory (VmRSS)")
	flag.IntVar(&o.size, "size", 256<<10, "bytes per transfer")
	flag.Float64Var(&o.active, "active", 0.01, "hold: fraction of the sessions transferring at any time")
	flag.DurationVar(&o.duration, "duration", 5*time.Minute, "how long the sessions work")
	flag.DurationVar(&o.settle, "settle", 70*time.Second, "mixed: how long to wait after closing before measuring (transferd returns free memory when quiet for 30 s)")
	flag.DurationVar(&o.interval, "probe", 20*time.Millisecond, "hold: time between two stats of idle sessions")
	flag.DurationVar(&o.stick, "stick", 10*time.Second, "hold: how long a transferring session keeps transferring before another takes its turn")
	flag.Parse()
	if o.addr == "" || o.key == "" {
		fmt.Fprintln(os.Stderr, "load: -addr and -key are required")
		os.Exit(2)
	}
	var err error
	switch o.mode {
	case "hold":
		err = hold(&o)
	case "mixed":
		err = mixed(&o)
	default:
		err = fmt.Errorf("unknown -mode %q", o.mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

type session struct {
	conn *ssh.Client
	sftp *sftp.Client
}

func (s *session) close() {
	s.sftp.Close()
	s.conn.Close()
}

// dial opens session i: user i%users from source i%sources.
func dial(o *options, signer ssh.Signer, i int) (*session, error) {
	src := &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i%o.sources))}
	d := net.Dialer{LocalAddr: src, Timeout: time.Minute}
	nc, err := d.Dial("tcp", o.addr)
	if err != nil {
		return nil, err
	}
	nc.SetDeadline(time.Now().Add(2 * time.Minute))
	cfg := &ssh.ClientConfig{
		User:            fmt.Sprintf("bench%03d", i%o.users),
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), // a benchmark on loopback
	}
	c, chans, reqs, err := ssh.NewClientConn(nc, o.addr, cfg)
	if err != nil {
		nc.Close()
		return nil, err
	}
	client := ssh.NewClient(c, chans, reqs)
	sc, err := sftp.NewClient(client)
	if err != nil {
		client.Close()
		return nil, err
	}
	if _, err := sc.Getwd(); err != nil {
		sc.Close()
		client.Close()
		return nil, err
	}
	nc.SetDeadline(time.Time{})
	return &session{conn: client, sftp: sc}, nil
}

// openAll opens n sessions, conc at a time, and reports how long it took and what failed.
func openAll(o *options, signer ssh.Signer) ([]*session, int, error) {
	sessions := make([]*session, o.n)
	var (
		next   atomic.Int64
		failed atomic.Int64
		first  error
		mu     sync.Mutex
		wg     sync.WaitGroup
	)
	start := time.Now()
	for range o.conc {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= o.n {
					return
				}
				s, err := dial(o, signer, i)
				if err != nil {
					failed.Add(1)
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("session %d: %w", i, err)
					}
					mu.Unlock()
					continue
				}
				sessions[i] = s
			}
		})
	}
	wg.Wait()
	fmt.Printf("opened %d sessions in %v (%d failed)\n", o.n-int(failed.Load()), time.Since(start).Round(time.Second), failed.Load())
	return sessions, int(failed.Load()), first
}

// begin measures the server, then opens the sessions; it reports both.
func begin(o *options) (sessions []*session, failed int, before state, err error) {
	signer, err := readKey(o.key)
	if err != nil {
		return nil, 0, state{}, err
	}
	before = measure(o)
	fmt.Printf("server before: %s\n", before)
	sessions, failed, ferr := openAll(o, signer)
	if ferr != nil {
		fmt.Printf("first failure: %v\n", ferr)
	}
	return sessions, failed, before, nil
}

func hold(o *options) error {
	sessions, failed, before, err := begin(o)
	if err != nil {
		return err
	}
	defer closeAll(sessions)
	open := measure(o)
	fmt.Printf("server with the sessions open: %s\n", open)
	if open.rss > 0 && before.rss > 0 {
		fmt.Printf("memory per session: %.1f KiB\n", float64(open.rss-before.rss)/float64(o.n-failed)/1024)
	}

	active := max(1, int(float64(o.n)*o.active))
	var (
		transfers, transferErrs, probes, probeErrs atomic.Int64
		lat                                        []time.Duration
		latMu                                      sync.Mutex
		peak                                       atomic.Int64
		firstErr                                   atomic.Pointer[error]
	)
	noteErr := func(err error) { firstErr.CompareAndSwap(nil, &err) }
	stop := make(chan struct{})
	var wg sync.WaitGroup
	busy := make([]atomic.Bool, o.n)
	data := make([]byte, o.size)
	rand.Read(data)
	for w := range active {
		wg.Go(func() {
			// A worker is a user transferring files: it keeps one session for -stick, then
			// another takes its turn.
			for {
				i := mrand.IntN(o.n)
				s := sessions[i]
				if s == nil || !busy[i].CompareAndSwap(false, true) {
					continue
				}
				until := time.Now().Add(o.stick)
				for time.Now().Before(until) {
					select {
					case <-stop:
						busy[i].Store(false)
						return
					default:
					}
					err := transfer(s.sftp, fmt.Sprintf("t%d", w), data)
					transfers.Add(1)
					if err != nil {
						transferErrs.Add(1)
						noteErr(fmt.Errorf("transfer on session %d: %w", i, err))
						break
					}
				}
				busy[i].Store(false)
			}
		})
	}
	wg.Go(func() {
		t := time.NewTicker(o.interval)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			i := mrand.IntN(o.n)
			s := sessions[i]
			if s == nil || busy[i].Load() {
				continue
			}
			begin := time.Now()
			_, err := s.sftp.Stat("/")
			d := time.Since(begin)
			probes.Add(1)
			if err != nil {
				probeErrs.Add(1)
				noteErr(fmt.Errorf("stat on session %d: %w", i, err))
				continue
			}
			latMu.Lock()
			lat = append(lat, d)
			latMu.Unlock()
		}
	})
	wg.Go(func() {
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if m := measure(o); m.rss > peak.Load() {
					peak.Store(m.rss)
				}
			}
		}
	})
	time.Sleep(o.duration)
	close(stop)
	wg.Wait()
	during := measure(o)
	alive := 0
	for _, s := range sessions {
		if s != nil {
			if _, err := s.sftp.Getwd(); err == nil {
				alive++
			}
		}
	}
	fmt.Printf("for %v with %d sessions transferring: %d transfers of %d bytes (%d failed), %d stats (%d failed)\n",
		o.duration, active, transfers.Load(), o.size, transferErrs.Load(), probes.Load(), probeErrs.Load())
	fmt.Printf("stat latency on idle sessions: %s\n", percentiles(lat))
	fmt.Printf("server after: %s; peak RSS %s\n", during, mib(peak.Load()))
	fmt.Printf("sessions still answering at the end: %d of %d\n", alive, o.n)
	if p := firstErr.Load(); p != nil {
		fmt.Printf("first error: %v\n", *p)
	}
	if failed > 0 || transferErrs.Load() > 0 || probeErrs.Load() > 0 || alive != o.n {
		return errors.New("some sessions or operations failed")
	}
	return nil
}

// transfer puts data under name, gets it back, compares and removes it.
func transfer(c *sftp.Client, name string, data []byte) error {
	f, err := c.Create(name)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	g, err := c.Open(name)
	if err != nil {
		return err
	}
	got, err := io.ReadAll(g)
	g.Close()
	if err != nil {
		return err
	}
	if !bytes.Equal(got, data) {
		return fmt.Errorf("%s read back %d bytes that differ from the %d written", name, len(got), len(data))
	}
	return c.Remove(name)
}

func mixed(o *options) error {
	sessions, failed, before, err := begin(o)
	if err != nil {
		return err
	}
	var ops, errs atomic.Int64
	var firstErr atomic.Pointer[error]
	deadline := time.Now().Add(o.duration)
	var wg sync.WaitGroup
	for i, s := range sessions {
		if s == nil {
			continue
		}
		wg.Go(func() {
			data := make([]byte, 1+mrand.IntN(1<<20))
			rand.Read(data)
			for k := 0; time.Now().Before(deadline); k++ {
				n, err := cycle(s.sftp, fmt.Sprintf("m%d-%d", i, k), data)
				ops.Add(int64(n))
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, &err)
					return
				}
			}
		})
	}
	wg.Wait()
	during := measure(o)
	closeAll(sessions)
	fmt.Printf("%d sessions for %v: %d operations, %d sessions failed\n", o.n-failed, o.duration, ops.Load(), errs.Load())
	if p := firstErr.Load(); p != nil {
		fmt.Printf("first error: %v\n", *p)
	}
	fmt.Printf("server at the end of the work: %s\n", during)
	time.Sleep(o.settle)
	after := measure(o)
	fmt.Printf("server %v after the sessions closed: %s (before them: %s)\n", o.settle, after, before)
	if failed > 0 || errs.Load() > 0 {
		return errors.New("some sessions or operations failed")
	}
	return nil
}

// cycle is one round of mixed operations: put, ls, rename, get, rm. It returns how many it did.
func cycle(c *sftp.Client, name string, data []byte) (int, error) {
	f, err := c.Create(name)
	if err != nil {
		return 0, fmt.Errorf("put %s: %w", name, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return 0, fmt.Errorf("put %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return 0, fmt.Errorf("put %s: %w", name, err)
	}
	if _, err := c.ReadDir("."); err != nil {
		return 1, fmt.Errorf("ls: %w", err)
	}
	moved := name + ".moved"
	if err := c.PosixRename(name, moved); err != nil {
		return 2, fmt.Errorf("rename %s: %w", name, err)
	}
	g, err := c.Open(moved)
	if err != nil {
		return 3, fmt.Errorf("get %s: %w", moved, err)
	}
	got, err := io.ReadAll(g)
	g.Close()
	if err != nil || !bytes.Equal(got, data) {
		return 3, fmt.Errorf("get %s: %d bytes, %v", moved, len(got), err)
	}
	if err := c.Remove(moved); err != nil {
		return 4, fmt.Errorf("rm %s: %w", moved, err)
	}
	return 5, nil
}

func closeAll(sessions []*session) {
	var wg sync.WaitGroup
	for _, s := range sessions {
		if s != nil {
			wg.Go(s.close)
		}
	}
	wg.Wait()
}

func readKey(path string) (ssh.Signer, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ssh.ParsePrivateKey(pem)
}

// state is what is measured of the server.
type state struct {
	rss, heap  int64
	goroutines int
}

func (s state) String() string {
	out := "RSS " + mib(s.rss)
	if s.heap > 0 {
		out += ", heap in use " + mib(s.heap)
	}
	if s.goroutines > 0 {
		out += fmt.Sprintf(", %d goroutines", s.goroutines)
	}
	return out
}

func mib(b int64) string {
	if b <= 0 {
		return "?"
	}
	return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
}

func measure(o *options) state {
	var s state
	if o.pid > 0 {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", o.pid)); err == nil {
			for line := range strings.Lines(string(b)) {
				if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
					kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
					s.rss = kb << 10
				}
			}
		}
	}
	if o.debug != "" {
		if resp, err := http.Get(o.debug + "/debug/pprof/goroutine?debug=1"); err == nil {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			line, _, _ := strings.Cut(string(b), "\n")
			if v, ok := strings.CutPrefix(line, "goroutine profile: total "); ok {
				s.goroutines, _ = strconv.Atoi(v)
			}
		}
		// The heap profile's text form ends with the runtime's MemStats, after a GC (gc=1).
		if resp, err := http.Get(o.debug + "/debug/pprof/heap?debug=1&gc=1"); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for line := range strings.Lines(string(b)) {
				if v, ok := strings.CutPrefix(line, "# HeapInuse = "); ok {
					s.heap, _ = strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				}
			}
		}
	}
	return s
}

// percentiles summarises latencies: count, p50, p90, p99, max.
func percentiles(d []time.Duration) string {
	if len(d) == 0 {
		return "none"
	}
	slices.Sort(d)
	p := func(q float64) time.Duration { return d[min(len(d)-1, int(q*float64(len(d))))] }
	return fmt.Sprintf("%d stats: p50 %v, p90 %v, p99 %v, max %v", len(d), p(0.50).Round(10*time.Microsecond),
		p(0.90).Round(10*time.Microsecond), p(0.99).Round(10*time.Microsecond), d[len(d)-1].Round(10*time.Microsecond))
}
