package daemon

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

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

// serveAPI serves the management API on ln, bound by bindAPI.
func (d *Daemon) serveAPI(ln net.Listener, creds mgmtapi.Credentials) {
	d.api = &http.Server{
		Handler:           mgmtapi.New(mgmtapi.Options{Service: d.control, Credentials: []mgmtapi.Credentials{creds}, Logger: d.log}),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(d.log.Handler(), slog.LevelWarn),
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if err := d.api.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("management API stopped", "err", err)
		}
	}()
	d.log.Info("management API listening", "address", ln.Addr().String(), "access-key-id", creds.AccessKeyID)
}
