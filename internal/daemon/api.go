package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/transferd/transferd/internal/mgmtapi"
)

// startAPI serves the management API on Options.APIListen, unless it is "" or "off".
func (d *Daemon) startAPI() error {
	if d.opts.APIListen == "" || d.opts.APIListen == "off" {
		return nil
	}
	creds, err := Credentials(d.opts.DataDir, d.opts.Getenv)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", d.opts.APIListen)
	if err != nil {
		return fmt.Errorf("management API: listening on %s: %w", d.opts.APIListen, err)
	}
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
	return nil
}
