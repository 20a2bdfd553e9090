package console

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/transferd/transferd/internal/control"
	"github.com/transferd/transferd/internal/transfer"
)

func (c *Console) userRoutes(m *http.ServeMux) {
	m.Handle("GET /servers/{id}/users", c.reads(c.usersPage))
	m.Handle("POST /servers/{id}/users", c.changes(c.createUser))
	m.Handle("GET /servers/{id}/users/{user}", c.reads(c.userPage))
	m.Handle("POST /servers/{id}/users/{user}/home", c.changes(c.updateHome))
	m.Handle("POST /servers/{id}/users/{user}/keys", c.changes(c.addKey))
	m.Handle("POST /servers/{id}/users/{user}/keys/{key}/delete", c.changes(c.deleteKey))
	m.Handle("POST /servers/{id}/users/{user}/delete", c.changes(c.deleteUser))
}

// usersPerPage is how many users a page of the list shows; scanLimit bounds the users a search
// reads (ten times AWS's quota per server).
const (
	usersPerPage = 50
	scanLimit    = 100_000
	scanPage     = 1000
)

type usersData struct {
	ServerID string
	Users    []control.UserSummary
	Query    string
	Next     string // the cursor of the next page, "" on the last
	First    bool   // this is the first page
	Form     userForm
}

// userForm is what the create and edit forms hold.
type userForm struct {
	UserName, Role, HomeType, HomeDirectory, Mappings, Key string
}

// usersPage lists a server's users, usersPerPage at a time, in name order; q keeps those whose
// name contains it.
func (c *Console) usersPage(w http.ResponseWriter, r *http.Request, s *session) {
	c.showUsers(w, r, s, http.StatusOK, userForm{HomeType: transfer.HomeLogical})
}

func (c *Console) showUsers(w http.ResponseWriter, r *http.Request, s *session, status int, form userForm) {
	ctx := r.Context()
	id := r.PathValue("id")
	if _, err := c.opts.Service.DescribeServer(ctx, id); err != nil {
		c.failPage(w, s, err)
		return
	}
	q, token := strings.TrimSpace(r.URL.Query().Get("q")), r.URL.Query().Get("after")
	d := usersData{ServerID: id, Query: q, First: token == "", Form: form}
	lq := strings.ToLower(q)
	scanned := 0
	for len(d.Users) <= usersPerPage && scanned < scanLimit {
		size := usersPerPage + 1
		if q != "" {
			size = scanPage
		}
		page, next, err := c.opts.Service.ListUsers(ctx, id, control.Page{NextToken: token, MaxResults: size})
		if err != nil {
			c.failPage(w, s, err)
			return
		}
		scanned += len(page)
		for _, u := range page {
			if q == "" || strings.Contains(strings.ToLower(u.User.UserName), lq) {
				d.Users = append(d.Users, u)
			}
		}
		if next == "" {
			break
		}
		token = next
	}
	if len(d.Users) > usersPerPage {
		// More follow: the next page starts after the last one shown.
		d.Users = d.Users[:usersPerPage]
		d.Next = control.UsersAfter(id, d.Users[usersPerPage-1].User.UserName)
	}
	c.render(w, status, "users", s, "Users of "+id, "servers", d)
}

func (c *Console) createUser(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	form := userForm{
		UserName: strings.TrimSpace(r.PostForm.Get("user_name")), Role: strings.TrimSpace(r.PostForm.Get("role")),
		HomeType: r.PostForm.Get("home_type"), HomeDirectory: strings.TrimSpace(r.PostForm.Get("home_directory")),
		Mappings: r.PostForm.Get("mappings"), Key: strings.TrimSpace(r.PostForm.Get("key")),
	}
	u := transfer.User{ServerID: id, UserName: form.UserName, Role: form.Role, HomeDirectoryType: form.HomeType}
	fail := func(format string, args ...any) {
		c.flash(s, true, "The user was not created: "+format, args...)
		c.showUsers(w, r, s, http.StatusBadRequest, form)
	}
	switch form.HomeType {
	case transfer.HomeLogical:
		m, err := parseMappings(form.Mappings)
		if err != nil {
			fail("%v", err)
			return
		}
		u.HomeDirectoryMappings = m
	default:
		u.HomeDirectory = form.HomeDirectory
	}
	key, err := uploaded(r, form.Key, "key_file")
	if err != nil {
		fail("%v", err)
		return
	}
	if key != "" {
		u.SSHPublicKeys = []transfer.SSHPublicKey{{Body: key}}
	}
	if err := c.opts.Service.CreateUser(r.Context(), u); err != nil {
		c.flash(s, true, "The user was not created: %s", describe(err))
		c.showUsers(w, r, s, statusOf(err), form)
		return
	}
	c.log.Info("console: user created", "server-id", id, "user", u.UserName, "operator", s.who)
	c.flash(s, false, "User %s created.", u.UserName)
	http.Redirect(w, r, userPath(id, u.UserName), http.StatusSeeOther)
}

func userPath(serverID, user string) string {
	return "/servers/" + url.PathEscape(serverID) + "/users/" + url.PathEscape(user)
}

// parseMappings reads the mappings textarea: one "ENTRY TARGET" pair a line.
func parseMappings(text string) ([]transfer.Mapping, error) {
	var out []transfer.Mapping
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			return nil, fmt.Errorf("HomeDirectoryMappings, line %d: %q is not ENTRY TARGET (two paths, such as / /bucket/home)", i+1, line)
		}
		out = append(out, transfer.Mapping{Entry: f[0], Target: f[1]})
	}
	return out, nil
}

// formatMappings writes mappings as parseMappings reads them.
func formatMappings(ms []transfer.Mapping) string {
	var b strings.Builder
	for _, m := range ms {
		fmt.Fprintf(&b, "%s %s\n", m.Entry, m.Target)
	}
	return b.String()
}

// uploaded is what was pasted, or else the content of the file uploaded as field.
func uploaded(r *http.Request, pasted, field string) (string, error) {
	if pasted != "" || r.MultipartForm == nil {
		return pasted, nil
	}
	f, _, err := r.FormFile(field)
	if err == http.ErrMissingFile {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("the uploaded file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 64<<10))
	if err != nil {
		return "", fmt.Errorf("the uploaded file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

type userData struct {
	ServerID string
	User     *control.UserDescription
	Mappings string
}

func (c *Console) userPage(w http.ResponseWriter, r *http.Request, s *session) {
	id, name := r.PathValue("id"), r.PathValue("user")
	d, err := c.opts.Service.DescribeUser(r.Context(), id, name)
	if err != nil {
		c.failPage(w, s, err)
		return
	}
	c.render(w, http.StatusOK, "user", s, "User "+name, "servers", userData{ServerID: id, User: d, Mappings: formatMappings(d.User.HomeDirectoryMappings)})
}

// userAction runs do on the user of the path and shows the user with what came of it.
func (c *Console) userAction(w http.ResponseWriter, r *http.Request, s *session, done string, do func() error) {
	id, name := r.PathValue("id"), r.PathValue("user")
	if err := do(); err != nil {
		c.flash(s, true, "%s", describe(err))
	} else {
		c.log.Info("console: user changed", "server-id", id, "user", name, "change", done, "operator", s.who)
		c.flash(s, false, "%s", done)
	}
	http.Redirect(w, r, userPath(id, name), http.StatusSeeOther)
}

func (c *Console) updateHome(w http.ResponseWriter, r *http.Request, s *session) {
	id, name := r.PathValue("id"), r.PathValue("user")
	typ := r.PostForm.Get("home_type")
	in := control.UpdateUserInput{HomeDirectoryType: &typ}
	c.userAction(w, r, s, "Home directory changed.", func() error {
		if typ == transfer.HomeLogical {
			m, err := parseMappings(r.PostForm.Get("mappings"))
			if err != nil {
				return err
			}
			if m == nil {
				m = []transfer.Mapping{}
			}
			in.HomeDirectoryMappings = m
		} else {
			home := strings.TrimSpace(r.PostForm.Get("home_directory"))
			in.HomeDirectory = &home
		}
		return c.opts.Service.UpdateUser(r.Context(), id, name, in)
	})
}

func (c *Console) addKey(w http.ResponseWriter, r *http.Request, s *session) {
	id, name := r.PathValue("id"), r.PathValue("user")
	c.userAction(w, r, s, "Key added.", func() error {
		key, err := uploaded(r, strings.TrimSpace(r.PostForm.Get("key")), "key_file")
		if err != nil {
			return err
		}
		if key == "" {
			return transfer.Invalid("SshPublicKeyBody", "paste a public key or choose a .pub file")
		}
		_, err = c.opts.Service.ImportSSHPublicKey(r.Context(), id, name, key)
		return err
	})
}

func (c *Console) deleteKey(w http.ResponseWriter, r *http.Request, s *session) {
	id, name, key := r.PathValue("id"), r.PathValue("user"), r.PathValue("key")
	c.userAction(w, r, s, "Key "+key+" deleted.", func() error {
		return c.opts.Service.DeleteSSHPublicKey(r.Context(), id, name, key)
	})
}

func (c *Console) deleteUser(w http.ResponseWriter, r *http.Request, s *session) {
	id, name := r.PathValue("id"), r.PathValue("user")
	if r.PostForm.Get("confirm") != name {
		c.flash(s, true, "Type the user's name to confirm that the user is to be deleted.")
		http.Redirect(w, r, userPath(id, name), http.StatusSeeOther)
		return
	}
	if err := c.opts.Service.DeleteUser(r.Context(), id, name); err != nil {
		c.flash(s, true, "The user was not deleted: %s", describe(err))
		http.Redirect(w, r, userPath(id, name), http.StatusSeeOther)
		return
	}
	c.log.Info("console: user deleted", "server-id", id, "user", name, "operator", s.who)
	c.flash(s, false, "User %s deleted.", name)
	http.Redirect(w, r, "/servers/"+url.PathEscape(id)+"/users", http.StatusSeeOther)
}
