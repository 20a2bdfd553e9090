package console

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/transferd/transferd/internal/control"
	"github.com/transferd/transferd/internal/transfer"
)

func (c *Console) serverRoutes(m *http.ServeMux) {
	m.Handle("GET /servers", c.reads(c.serversPage))
	m.Handle("POST /servers", c.changes(c.createServer))
	m.Handle("GET /servers/{id}", c.reads(c.serverPage))
	m.Handle("POST /servers/{id}/start", c.changes(c.startServer))
	m.Handle("POST /servers/{id}/stop", c.changes(c.stopServer))
	m.Handle("POST /servers/{id}/policy", c.changes(c.changePolicy))
	m.Handle("GET /servers/{id}/delete", c.reads(c.confirmDelete))
	m.Handle("POST /servers/{id}/delete", c.changes(c.deleteServer))
	m.Handle("POST /servers/{id}/hostkeys", c.changes(c.importHostKey))
	m.Handle("POST /servers/{id}/hostkeys/{key}/delete", c.changes(c.deleteHostKey))
}

// importHostKey adds a private host key, pasted or uploaded as a PEM file.
func (c *Console) importHostKey(w http.ResponseWriter, r *http.Request, s *session) {
	c.serverAction(w, r, s, "has a new host key", func(ctx context.Context, id string) error {
		body, err := uploaded(r, strings.TrimSpace(r.PostForm.Get("host_key")), "host_key_file")
		if err != nil {
			return err
		}
		if body == "" {
			return transfer.Invalid("HostKeyBody", "paste a private key or choose its file")
		}
		_, err = c.opts.Service.ImportHostKey(ctx, id, body+"\n", strings.TrimSpace(r.PostForm.Get("description")), nil)
		return err
	})
}

func (c *Console) deleteHostKey(w http.ResponseWriter, r *http.Request, s *session) {
	key := r.PathValue("key")
	c.serverAction(w, r, s, "no longer has host key "+key, func(ctx context.Context, id string) error {
		return c.opts.Service.DeleteHostKey(ctx, id, key)
	})
}

// serverRow is a server as the list shows it.
type serverRow struct {
	transfer.Server
	UserCount    int
	Fingerprints []string // "type fingerprint" of each host key served
}

type serversData struct {
	Servers  []serverRow
	Policies []string
	Default  string
	Form     createForm
}

type createForm struct {
	Endpoint, Policy, Domain string
}

// maxListed is the most servers the list shows (an account holds 50 on AWS).
const maxListed = 1000

func (c *Console) serversPage(w http.ResponseWriter, r *http.Request, s *session) {
	c.showServers(w, r, s, http.StatusOK, createForm{})
}

func (c *Console) showServers(w http.ResponseWriter, r *http.Request, s *session, status int, form createForm) {
	ctx := r.Context()
	sums, _, err := c.opts.Service.ListServers(ctx, control.Page{MaxResults: maxListed})
	if err != nil {
		c.failPage(w, s, err)
		return
	}
	rows := make([]serverRow, 0, len(sums))
	for _, sum := range sums {
		row := serverRow{Server: sum.Server, UserCount: sum.UserCount}
		row.Fingerprints = c.servedKeys(ctx, sum.Server.ServerID)
		rows = append(rows, row)
	}
	policies, err := c.serverPolicies(ctx)
	if err != nil {
		c.failPage(w, s, err)
		return
	}
	c.render(w, status, "servers", s, "Servers", "servers", serversData{Servers: rows, Policies: policies,
		Default: transfer.DefaultSecurityPolicy, Form: form})
}

// servedKeys describes the host keys a server offers: the oldest of each type.
func (c *Console) servedKeys(ctx context.Context, serverID string) []string {
	keys, _, err := c.opts.Service.ListHostKeys(ctx, serverID, control.Page{MaxResults: 100})
	if err != nil {
		return nil
	}
	var out []string
	for _, k := range served(keys) {
		out = append(out, k.Type+" "+k.Fingerprint)
	}
	return out
}

// served are the keys presented, of keys the control plane lists oldest first.
func served(keys []control.HostKeyDescription) []transfer.HostKey {
	all := make([]transfer.HostKey, len(keys))
	for i, k := range keys {
		all[i] = k.HostKey
	}
	return transfer.ServedHostKeys(all)
}

// serverPolicies are the security policies a server may have, sorted.
func (c *Console) serverPolicies(ctx context.Context) ([]string, error) {
	var all []string
	p := control.Page{MaxResults: 100}
	for {
		names, next, err := c.opts.Service.ListSecurityPolicies(ctx, p)
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			if strings.HasPrefix(n, "TransferSecurityPolicy-") {
				all = append(all, n)
			}
		}
		if next == "" {
			break
		}
		p.NextToken = next
	}
	slices.Sort(all)
	return all, nil
}

func (c *Console) createServer(w http.ResponseWriter, r *http.Request, s *session) {
	form := createForm{
		Endpoint: strings.TrimSpace(r.PostForm.Get("endpoint")),
		Policy:   r.PostForm.Get("policy"),
		Domain:   r.PostForm.Get("domain"),
	}
	id, err := c.opts.Service.CreateServer(r.Context(), control.CreateServerInput{
		Endpoint: form.Endpoint, SecurityPolicyName: form.Policy, Domain: form.Domain,
		// As the API's: the config file does not manage what the console creates.
		Source: transfer.SourceAPI,
	})
	if err != nil {
		c.flash(s, true, "The server was not created: %s", describe(err))
		c.showServers(w, r, s, statusOf(err), form)
		return
	}
	c.log.Info("console: server created", "server-id", id, "operator", s.who)
	c.flash(s, false, "Server %s created.", id)
	http.Redirect(w, r, "/servers/"+id, http.StatusSeeOther)
}

type serverData struct {
	Server   *control.ServerDescription
	HostKeys []control.HostKeyDescription
	Served   map[string]bool // host key IDs served: the oldest of each type
	Policies []string
}

func (c *Console) serverPage(w http.ResponseWriter, r *http.Request, s *session) {
	ctx := r.Context()
	id := r.PathValue("id")
	d, err := c.opts.Service.DescribeServer(ctx, id)
	if err != nil {
		c.failPage(w, s, err)
		return
	}
	keys, _, err := c.opts.Service.ListHostKeys(ctx, id, control.Page{MaxResults: 100})
	if err != nil {
		c.failPage(w, s, err)
		return
	}
	presented := map[string]bool{}
	for _, k := range served(keys) {
		presented[k.HostKeyID] = true
	}
	policies, err := c.serverPolicies(ctx)
	if err != nil {
		c.failPage(w, s, err)
		return
	}
	c.render(w, http.StatusOK, "server", s, "Server "+id, "servers", serverData{Server: d, HostKeys: keys, Served: presented, Policies: policies})
}

func (c *Console) startServer(w http.ResponseWriter, r *http.Request, s *session) {
	c.serverAction(w, r, s, "started", func(ctx context.Context, id string) error { return c.opts.Service.StartServer(ctx, id) })
}

func (c *Console) stopServer(w http.ResponseWriter, r *http.Request, s *session) {
	c.serverAction(w, r, s, "stopped", func(ctx context.Context, id string) error { return c.opts.Service.StopServer(ctx, id) })
}

func (c *Console) changePolicy(w http.ResponseWriter, r *http.Request, s *session) {
	name := r.PostForm.Get("policy")
	c.serverAction(w, r, s, "now has the security policy "+name, func(ctx context.Context, id string) error {
		return c.opts.Service.UpdateServer(ctx, id, control.UpdateServerInput{SecurityPolicyName: &name})
	})
}

// serverAction runs do on the server of the path and shows the server with what came of it.
func (c *Console) serverAction(w http.ResponseWriter, r *http.Request, s *session, done string, do func(context.Context, string) error) {
	id := r.PathValue("id")
	if err := do(r.Context(), id); err != nil {
		c.flash(s, true, "%s", describe(err))
	} else {
		c.log.Info("console: server changed", "server-id", id, "change", done, "operator", s.who)
		c.flash(s, false, "Server %s %s.", id, done)
	}
	http.Redirect(w, r, "/servers/"+id, http.StatusSeeOther)
}

func (c *Console) confirmDelete(w http.ResponseWriter, r *http.Request, s *session) {
	d, err := c.opts.Service.DescribeServer(r.Context(), r.PathValue("id"))
	if err != nil {
		c.failPage(w, s, err)
		return
	}
	c.render(w, http.StatusOK, "delete", s, "Delete server "+d.Server.ServerID, "servers", d)
}

func (c *Console) deleteServer(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	if r.PostForm.Get("confirm") != id {
		c.flash(s, true, "Type the server's ID to confirm that it is to be deleted.")
		http.Redirect(w, r, "/servers/"+id+"/delete", http.StatusSeeOther)
		return
	}
	if err := c.opts.Service.DeleteServer(r.Context(), id); err != nil {
		c.flash(s, true, "The server was not deleted: %s", describe(err))
		http.Redirect(w, r, "/servers/"+id, http.StatusSeeOther)
		return
	}
	c.log.Info("console: server deleted", "server-id", id, "operator", s.who)
	c.flash(s, false, "Server %s deleted, with its users and host keys.", id)
	http.Redirect(w, r, "/servers", http.StatusSeeOther)
}

// failPage shows an error of the control plane as a page of its own.
func (c *Console) failPage(w http.ResponseWriter, s *session, err error) {
	c.render(w, statusOf(err), "error", s, "Error", "", describe(err))
}

// describe says what went wrong as the API would, naming the field.
func describe(err error) string {
	var te *transfer.Error
	if errors.As(err, &te) {
		msg := te.Message
		if te.Field != "" && !strings.Contains(msg, te.Field) {
			msg = te.Field + ": " + msg
		}
		return cmp.Or(msg, te.Error())
	}
	return err.Error()
}

// statusOf is the HTTP status for an error of the control plane.
func statusOf(err error) int {
	var te *transfer.Error
	if !errors.As(err, &te) {
		return http.StatusInternalServerError
	}
	switch te.Kind {
	case transfer.KindInvalid, transfer.KindNotSupported, transfer.KindInvalidToken:
		return http.StatusBadRequest
	case transfer.KindPermission:
		return http.StatusForbidden
	case transfer.KindNotFound:
		return http.StatusNotFound
	case transfer.KindConflict, transfer.KindExists:
		return http.StatusConflict
	case transfer.KindUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}
