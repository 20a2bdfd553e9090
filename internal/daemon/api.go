package daemon

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/net/netutil"

	"github.com/transferd/transferd/internal/mgmtapi"
)

// bindAPI reads the management API's credentials and opens its listener on Options.APIListen;
// it returns a nil listener when that is "" or "off".
func (d *Daemon) bindAPI() (net.Listener, mgmtapi.Credentials, error) {
	if d.opts.APIListen == "" || d.opts.APIListen == "off" {
		return nil, mgmtapi.Credentials{}, nil
	}
	creds, err := Credentials(d.opts.DataDir, d.opts.Getenv)
	if err != nil {
		return nil, creds, err
	}
	ln, err := Listen("--api-listen", d.opts.APIListen)
	return ln, creds, err
}

// HTTP listeners' limits: a client has httpReadHeaderTimeout to send a request's headers and
// httpReadTimeout for the whole request (the API's bodies are at most 1 MiB), httpWriteTimeout
// for the response; an idle keep-alive connection is closed after httpIdleTimeout. At most
// apiMaxConns connections are served at once; more wait to be accepted until one ends.
const (
	httpReadHeaderTimeout = 10 * time.Second
	httpReadTimeout       = 30 * time.Second
	httpWriteTimeout      = time.Minute
	httpIdleTimeout       = 2 * time.Minute
	httpMaxHeaderBytes    = 64 << 10
	apiMaxConns           = 256
	debugMaxConns         = 16
)

// httpServer is an HTTP server with the limits above, serving at most maxConns connections.
func httpServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: httpReadHeaderTimeout,
		ReadTimeout:       httpReadTimeout,
		WriteTimeout:      httpWriteTimeout,
		IdleTimeout:       httpIdleTimeout,
		MaxHeaderBytes:    httpMaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// serveAPI serves the management API on ln, bound by bindAPI.
func (d *Daemon) serveAPI(ln net.Listener, creds mgmtapi.Credentials) {
	opts := mgmtapi.Options{Service: d.control, Credentials: []mgmtapi.Credentials{creds}, Logger: d.log,
		Region: d.account.Region, Account: d.account.AccountID}
	if d.audit != nil {
		opts.Audit = d.audit.write
	}
	if d.metrics != nil {
		opts.Observe = d.metrics.APIRequest
	}
	d.api = httpServer(mgmtapi.New(opts), d.log)
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if err := d.api.Serve(netutil.LimitListener(ln, apiMaxConns)); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("management API stopped", "err", err)
		}
	}()
	d.log.Info("management API listening", "address", ln.Addr().String(), "access-key-id", creds.AccessKeyID)
}
