package daemon

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"os"

	"github.com/transferd/transferd/internal/config"
)

// Listen opens a TCP listener on addr. Its error names what the address is for (a flag such as
// --api-listen, or a config field) and says what is wrong in the system's words:
// "--api-listen 127.0.0.1:9460: address already in use".
func Listen(what, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %v", what, addr, listenCause(err))
	}
	return ln, nil
}

// listenCause is the innermost cause of a listen error ("address already in use"), without the
// operation and address around it, which Listen's caller names better.
func listenCause(err error) error {
	if se, ok := errors.AsType[*os.SyscallError](err); ok {
		return se.Err
	}
	if oe, ok := errors.AsType[*net.OpError](err); ok && oe.Err != nil {
		return oe.Err
	}
	return err
}

// bindConfigServers opens the listeners of the config file's servers that no running server
// holds yet, before anything is written: a port that is taken stops the start (or the reload)
// with the field of the file, and no server is reported online before every one can be. The
// listeners wait in d.prebound for startServer.
func (d *Daemon) bindConfigServers(cfg *config.Config) error {
	d.mu.Lock()
	held := map[string]bool{}
	for _, r := range d.servers {
		held[r.endpoint] = true
	}
	for ep := range d.prebound {
		held[ep] = true
	}
	d.mu.Unlock()
	bound := map[string]net.Listener{}
	for i, s := range cfg.Servers {
		if held[s.Endpoint] || bound[s.Endpoint] != nil {
			continue
		}
		ln, err := Listen(fmt.Sprintf("%s: Servers[%d].Endpoint", d.opts.ConfigPath, i), d.listenAddr(s.Endpoint))
		if err != nil {
			for _, l := range bound {
				l.Close()
			}
			return err
		}
		bound[s.Endpoint] = ln
	}
	d.mu.Lock()
	maps.Copy(d.prebound, bound) // none of them was there: held skips those
	d.mu.Unlock()
	return nil
}

// listenFor returns the listener bound for endpoint in advance, or opens one.
func (d *Daemon) listenFor(endpoint string) (net.Listener, error) {
	d.mu.Lock()
	ln := d.prebound[endpoint]
	delete(d.prebound, endpoint)
	d.mu.Unlock()
	if ln != nil {
		return ln, nil
	}
	return Listen("listening on", d.listenAddr(endpoint))
}

// closePrebound closes the listeners bound in advance that no server took.
func (d *Daemon) closePrebound() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for ep, ln := range d.prebound {
		ln.Close()
		delete(d.prebound, ep)
	}
}
