package daemon

import (
	"errors"
	"log/slog"
	"net/http"
	"net/http/pprof"

	"golang.org/x/net/netutil"
)

// startDebug serves Go's profiles (/debug/pprof/) on addr, for measuring the server under load.
// It returns a function that stops the listener.
func startDebug(addr string, logger *slog.Logger) (func() error, error) {
	ln, err := Listen("--debug-listen", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := httpServer(mux, logger)
	srv.WriteTimeout = 0 // a CPU profile or trace takes as long as it is asked to
	go func() {
		if err := srv.Serve(netutil.LimitListener(ln, debugMaxConns)); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("debug listener failed", "err", err)
		}
	}()
	logger.Info("serving profiles", "url", "http://"+ln.Addr().String()+"/debug/pprof/")
	return srv.Close, nil
}
