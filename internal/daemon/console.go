package daemon

import (
	"cmp"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"slices"

	"golang.org/x/net/netutil"

	"github.com/transferd/transferd/internal/console"
	"github.com/transferd/transferd/internal/transfer"
)

// bindConsole opens the console's listener on Options.ConsoleListen (nil when it is ""), with
// TLS when a certificate and key are given.
func (d *Daemon) bindConsole() (net.Listener, error) {
	o := d.opts
	if o.ConsoleListen == "" {
		if o.ConsoleTLSCert != "" || o.ConsoleTLSKey != "" {
			return nil, errors.New("--console-tls-cert and --console-tls-key need --console-listen")
		}
		return nil, nil
	}
	if (o.ConsoleTLSCert == "") != (o.ConsoleTLSKey == "") {
		return nil, errors.New("--console-tls-cert and --console-tls-key go together")
	}
	var cfg *tls.Config
	if o.ConsoleTLSCert != "" {
		cert, err := tls.LoadX509KeyPair(o.ConsoleTLSCert, o.ConsoleTLSKey)
		if err != nil {
			return nil, fmt.Errorf("--console-tls-cert/--console-tls-key: %w", err)
		}
		cfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ln, err := Listen("--console-listen", o.ConsoleListen)
	if err != nil {
		return nil, err
	}
	if cfg != nil {
		ln = tls.NewListener(ln, cfg)
	}
	return ln, nil
}

// serveConsole serves the web console on ln; its users sign in with the management API's key
// pair, which it reads (or generates) as the API does, even when the API is off.
func (d *Daemon) serveConsole(ln net.Listener) error {
	creds, err := Credentials(d.opts.DataDir, d.opts.Getenv)
	if err != nil {
		return err
	}
	activityLog := d.opts.ActivityLog
	if activityLog == "-" {
		activityLog = "" // standard output: nothing to search
	}
	c, err := console.New(console.Options{Service: d.control, Logger: d.log, TLS: d.opts.ConsoleTLSCert != "", Live: liveSessions{d},
		ActivityLog: activityLog, PasswordFile: filepath.Join(d.opts.DataDir, console.PasswordFileName),
		Credentials: []console.Credentials{{AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey}}})
	if err != nil {
		return err
	}
	srv := httpServer(c, d.log)
	d.consoleSrv = srv
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if err := srv.Serve(netutil.LimitListener(ln, apiMaxConns)); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("web console stopped", "err", err)
		}
	}()
	scheme := "http"
	if d.opts.ConsoleTLSCert != "" {
		scheme = "https"
	}
	d.log.Info("web console listening", "url", scheme+"://"+ln.Addr().String()+"/", "access-key-id", creds.AccessKeyID)
	return nil
}

// liveSessions are the sessions of this process's servers, for the console.
type liveSessions struct{ d *Daemon }

func (l liveSessions) running() []*running {
	l.d.mu.Lock()
	defer l.d.mu.Unlock()
	out := make([]*running, 0, len(l.d.servers))
	for _, r := range l.d.servers {
		out = append(out, r)
	}
	return out
}

func (l liveSessions) Sessions() []transfer.LiveSession {
	var out []transfer.LiveSession
	for _, r := range l.running() {
		out = append(out, r.srv.Sessions()...)
	}
	slices.SortFunc(out, func(a, b transfer.LiveSession) int {
		return cmp.Or(a.Since.Compare(b.Since), cmp.Compare(a.SessionID, b.SessionID))
	})
	return out
}

func (l liveSessions) Disconnect(sessionID, reason string) bool {
	for _, r := range l.running() {
		if r.srv.Disconnect(sessionID, reason) {
			return true
		}
	}
	return false
}
