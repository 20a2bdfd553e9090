package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/netutil"

	"github.com/transferd/transferd/internal/transfer"
)

// readyCheckLimit bounds each readiness check.
const readyCheckLimit = 3 * time.Second

// startObserve serves, on --metrics-listen: /metrics (Prometheus), /healthz (the process answers)
// and /readyz (it can serve: the state store answers, every ONLINE server listens, storage
// answers). It returns a function that stops the listener.
func (d *Daemon) startObserve(addr string) (func() error, error) {
	ln, err := Listen("--metrics-listen", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", d.metrics.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "node": d.opts.NodeName})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		rep := d.readiness(r.Context())
		status := http.StatusOK
		if !rep.Ready {
			status = http.StatusServiceUnavailable
		}
		writeJSON(w, status, rep)
	})
	srv := httpServer(mux, d.log)
	go func() {
		if err := srv.Serve(netutil.LimitListener(ln, debugMaxConns)); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("metrics listener failed", "err", err)
		}
	}()
	d.log.Info("serving metrics and health", "metrics", "http://"+ln.Addr().String()+"/metrics",
		"ready", "http://"+ln.Addr().String()+"/readyz")
	return srv.Close, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// Readiness is /readyz's answer.
type Readiness struct {
	Ready  bool             `json:"ready"`
	Node   string           `json:"node"`
	Checks map[string]Check `json:"checks"`
}

// Check is one part of Readiness.
type Check struct {
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

// readiness checks, each within readyCheckLimit, that the process has started, that the state
// store answers, that every server the store says is ONLINE listens here, and that storage answers.
func (d *Daemon) readiness(ctx context.Context) Readiness {
	rep := Readiness{Ready: true, Node: d.opts.NodeName, Checks: map[string]Check{}}
	set := func(name string, err error, detail string) {
		c := Check{OK: err == nil, Detail: detail}
		if err != nil {
			c.Detail = err.Error()
			rep.Ready = false
		}
		rep.Checks[name] = c
	}
	if !d.started.Load() {
		set("started", errors.New("starting: the config file is being applied"), "")
		return rep
	}
	ctx, cancel := context.WithTimeout(ctx, readyCheckLimit)
	defer cancel()
	servers, err := d.control.AllServers(ctx)
	set("state_store", err, "answers")
	if err == nil {
		var down []string
		online := 0
		d.mu.Lock()
		for _, s := range servers {
			if s.State != transfer.StateOnline {
				continue
			}
			online++
			if d.servers[s.ServerID] == nil {
				down = append(down, s.ServerID)
			}
		}
		d.mu.Unlock()
		slices.Sort(down)
		if len(down) > 0 {
			set("servers", errors.New("ONLINE in the state store but not listening here: "+strings.Join(down, ", ")), "")
		} else {
			set("servers", nil, strconv.Itoa(online)+" ONLINE, all listening")
		}
	}
	if d.s3store != nil {
		if problems := d.s3store.Check(ctx, nil); len(problems) > 0 {
			set("storage", errors.New(problems[0].Message), "")
		} else {
			set("storage", nil, "S3 answers")
		}
	} else if _, err := os.Stat(d.storageRoot); err != nil {
		set("storage", err, "")
	} else {
		set("storage", nil, "local storage at "+d.storageRoot)
	}
	return rep
}
