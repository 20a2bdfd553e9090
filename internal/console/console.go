// Package console is transferd's web console: server-rendered HTML pages, from templates and a
// style sheet embedded in the binary (no CDN, no build step), that read and change transferd
// through the same control plane as the management API, so that the same validation and errors
// apply.
//
// Nothing answers without a session. Operators sign in with the management API's access key
// pair, or as a console user with the password `transferd console-password` set; a session is a random token in an HttpOnly, SameSite=Strict cookie (Secure when the
// console is served over TLS), held in this process only, so a restart signs everyone out. It
// ends at sign-out, after IdleTimeout without a request, and after MaxAge. Every request that
// changes something must carry the session's CSRF token (a hidden form field) and, when the
// browser sends one, an Origin of the console's own host.
package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/transferd/transferd/internal/control"
	"github.com/transferd/transferd/internal/negotiate"
	"github.com/transferd/transferd/internal/policy"
	"github.com/transferd/transferd/internal/transfer"
)

//go:embed templates/*.html static/*
var assets embed.FS

// Credentials are an access key pair that may sign in: the management API's.
type Credentials struct {
	AccessKeyID, SecretAccessKey string
}

// LiveSessions are the sessions connected now.
type LiveSessions interface {
	Sessions() []transfer.LiveSession
	// Disconnect ends a session, whose DISCONNECTED record gives reason; false when there is
	// no such session.
	Disconnect(sessionID, reason string) bool
}

// Options configure the console.
type Options struct {
	Service     *control.Service
	Credentials []Credentials
	// Live lists this process's logged-in sessions and disconnects them; nil shows none.
	Live LiveSessions
	// PasswordFile holds the console users' passwords (PasswordFileName in the data
	// directory); "" allows only the key pairs.
	PasswordFile string
	// ActivityLog is the file the activity records go to, which the activity page searches; ""
	// when they go elsewhere (standard output).
	ActivityLog string
	// TLS says the console is served over HTTPS: its cookie is then Secure.
	TLS bool
	// IdleTimeout ends a session after that long without a request (default 30 minutes);
	// MaxAge ends it that long after sign-in (default 12 hours).
	IdleTimeout, MaxAge time.Duration
	Logger              *slog.Logger
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

const (
	cookieName         = "transferd_console"
	defaultIdleTimeout = 30 * time.Minute
	defaultMaxAge      = 12 * time.Hour
	// failedSignInDelay slows guessing: each failed sign-in answers after it.
	failedSignInDelay = time.Second
	// maxSessions bounds the sessions held; signing in beyond it ends the oldest.
	maxSessions = 1000
)

// Console serves the pages.
type Console struct {
	opts      Options
	mux       *http.ServeMux
	pages     map[string]*template.Template
	log       *slog.Logger
	passwords *passwords
	// catalog and profiles are the security policies and client profiles explain uses.
	catalog  *policy.Catalog
	profiles *negotiate.Profiles

	mu       sync.Mutex
	sessions map[[32]byte]*session // by the SHA-256 of the cookie's token
}

// session is one signed-in browser.
type session struct {
	who string // the access key ID it signed in with, or "console user NAME"
	// user and hash are the console user and the password hash it signed in with; a change of
	// that password ends the session.
	user, hash string
	csrf       string
	created    time.Time
	lastSeen   time.Time
	flash      string // a message for the next page shown
	flashErr   bool
}

// New returns the console's handler.
func New(opts Options) (*Console, error) {
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = defaultIdleTimeout
	}
	if opts.MaxAge <= 0 {
		opts.MaxAge = defaultMaxAge
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Console{opts: opts, log: opts.Logger, sessions: map[[32]byte]*session{}, pages: map[string]*template.Template{},
		passwords: &passwords{file: opts.PasswordFile}}
	if err := c.parseTemplates(); err != nil {
		return nil, err
	}
	var err error
	if c.catalog, err = policy.NewCatalog(); err != nil {
		return nil, err
	}
	if c.profiles, err = negotiate.NewProfiles(); err != nil {
		return nil, err
	}
	static, err := fs.Sub(assets, "static")
	if err != nil {
		return nil, err
	}
	m := http.NewServeMux()
	m.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	m.HandleFunc("GET /signin", c.signInPage)
	m.HandleFunc("POST /signin", c.signIn)
	m.Handle("POST /signout", c.changes(c.signOut))
	m.Handle("GET /{$}", c.reads(func(w http.ResponseWriter, r *http.Request, _ *session) {
		http.Redirect(w, r, "/servers", http.StatusSeeOther)
	}))
	c.serverRoutes(m)
	c.userRoutes(m)
	c.negotiationRoutes(m)
	m.Handle("GET /sessions", c.reads(c.sessionsPage))
	m.Handle("GET /activity", c.reads(c.activityPage))
	m.Handle("POST /sessions/{id}/disconnect", c.changes(c.disconnect))
	c.mux = m
	return c, nil
}

// ServeHTTP adds the headers every answer carries and serves the request.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	c.mux.ServeHTTP(w, r)
}

func (c *Console) parseTemplates() error {
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(assets, "templates/layout.html")
	if err != nil {
		return err
	}
	names, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		return err
	}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.Must(layout.Clone()).ParseFS(assets, n)
		if err != nil {
			return fmt.Errorf("console template %s: %w", n, err)
		}
		c.pages[base] = t
	}
	return nil
}

var funcs = template.FuncMap{
	"time": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"lower": strings.ToLower,
	// when writes a datetime-local value for reading: 2026-12-05 14:30.
	"when": func(v string) string { return strings.Replace(v, "T", " ", 1) },
}

// page is what every page's template gets.
type page struct {
	Title    string
	Nav      string // the section the page belongs to
	CSRF     string // "" when signed out
	Flash    string
	FlashErr bool
	Data     any
}

// render writes the page name with data.
func (c *Console) render(w http.ResponseWriter, status int, name string, s *session, title, nav string, data any) {
	p := page{Title: title, Nav: nav, Data: data}
	if s != nil {
		c.mu.Lock()
		p.CSRF, p.Flash, p.FlashErr = s.csrf, s.flash, s.flashErr
		s.flash, s.flashErr = "", false
		c.mu.Unlock()
	}
	t, ok := c.pages[name]
	if !ok {
		http.Error(w, "no such page", http.StatusInternalServerError)
		return
	}
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, "layout.html", p); err != nil {
		c.log.Error("console: rendering a page failed", "page", name, "err", err)
		http.Error(w, "the page could not be shown; transferd's log says why", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprint(w, b.String())
}

// flash leaves a message for the next page the session sees.
func (c *Console) flash(s *session, isErr bool, format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s.flash, s.flashErr = fmt.Sprintf(format, args...), isErr
}

// ---- sessions ----

func newToken() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// session returns the request's live session, refreshing its idle time, or nil.
func (c *Console) session(r *http.Request) *session {
	ck, err := r.Cookie(cookieName)
	if err != nil || ck.Value == "" {
		return nil
	}
	key := sha256.Sum256([]byte(ck.Value))
	now := c.opts.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.sessions[key]
	if s == nil {
		return nil
	}
	if now.Sub(s.lastSeen) > c.opts.IdleTimeout || now.Sub(s.created) > c.opts.MaxAge {
		delete(c.sessions, key)
		return nil
	}
	s.lastSeen = now
	if s.hash == "" {
		return s
	}
	c.mu.Unlock()
	hash, _, err := c.passwords.hash(s.user) // a changed or removed password ends its sessions
	c.mu.Lock()
	if c.sessions[key] != s { // signed out meanwhile
		return nil
	}
	if err != nil || hash != s.hash {
		delete(c.sessions, key)
		return nil
	}
	return s
}

// startSession signs in s (who, and user and hash for a console user) and sets the cookie.
func (c *Console) startSession(w http.ResponseWriter, s *session) {
	token := newToken()
	now := c.opts.Now()
	c.mu.Lock()
	if len(c.sessions) >= maxSessions {
		var oldest [32]byte
		var at time.Time
		for k, s := range c.sessions {
			if at.IsZero() || s.created.Before(at) {
				oldest, at = k, s.created
			}
		}
		delete(c.sessions, oldest)
	}
	s.csrf, s.created, s.lastSeen = newToken(), now, now
	c.sessions[sha256.Sum256([]byte(token))] = s
	c.mu.Unlock()
	http.SetCookie(w, c.cookie(token, int(c.opts.MaxAge/time.Second)))
}

func (c *Console) cookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: cookieName, Value: value, Path: "/", HttpOnly: true, Secure: c.opts.TLS,
		SameSite: http.SameSiteStrictMode, MaxAge: maxAge}
}

// endSession signs the request's session out.
func (c *Console) endSession(w http.ResponseWriter, r *http.Request) {
	if ck, err := r.Cookie(cookieName); err == nil {
		key := sha256.Sum256([]byte(ck.Value))
		c.mu.Lock()
		delete(c.sessions, key)
		c.mu.Unlock()
	}
	http.SetCookie(w, c.cookie("", -1))
}

// reads serves a page to a signed-in browser; others are sent to sign in.
func (c *Console) reads(h func(w http.ResponseWriter, r *http.Request, s *session)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := c.session(r)
		if s == nil {
			http.Redirect(w, r, "/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		h(w, r, s)
	})
}

// changes serves a state change: it needs a session, the session's CSRF token and, when the
// browser says where the request comes from, this console as its origin.
func (c *Console) changes(h func(w http.ResponseWriter, r *http.Request, s *session)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := c.session(r)
		if s == nil {
			http.Error(w, "not signed in: sign in at /signin", http.StatusUnauthorized)
			return
		}
		if !readForm(w, r, 1<<20) {
			return
		}
		c.mu.Lock()
		want := s.csrf
		c.mu.Unlock()
		if got := r.PostForm.Get("csrf"); subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
			http.Error(w, "refused: the form's CSRF token is missing or wrong; reload the page and try again", http.StatusForbidden)
			return
		}
		h(w, r, s)
	})
}

// readForm reads a POSTed form of at most limit bytes from this console's own pages, or answers
// the request and returns false.
func readForm(w http.ResponseWriter, r *http.Request, limit int64) bool {
	if !sameOrigin(r) {
		http.Error(w, "refused: the request comes from another site", http.StatusForbidden)
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	parse := r.ParseForm
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		parse = func() error { return r.ParseMultipartForm(limit) } // a key uploaded as a file
	}
	if err := parse(); err != nil {
		http.Error(w, "the form could not be read: "+err.Error(), http.StatusBadRequest)
		return false
	}
	return true
}

// sameOrigin is false when the browser names an origin other than the console's host.
func sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host == r.Host
}

// ---- sign in and out ----

type signInData struct {
	Next  string
	Error string
	KeyID string
}

func (c *Console) signInPage(w http.ResponseWriter, r *http.Request) {
	if c.session(r) != nil {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	c.render(w, http.StatusOK, "signin", nil, "Sign in", "", signInData{Next: safeNext(r.URL.Query().Get("next"))})
}

func (c *Console) signIn(w http.ResponseWriter, r *http.Request) {
	if !readForm(w, r, 64<<10) {
		return
	}
	id, secret := strings.TrimSpace(r.PostForm.Get("access_key_id")), r.PostForm.Get("secret_access_key")
	next := safeNext(r.PostForm.Get("next"))
	s, err := c.authenticate(id, secret)
	if errors.Is(err, errBusy) {
		c.log.Warn("console: sign-in refused: too many at once", "remote", r.RemoteAddr, "name", id)
		c.render(w, http.StatusServiceUnavailable, "signin", nil, "Sign in", "",
			signInData{Next: next, KeyID: id, Error: "Too many sign-ins at once: try again in a moment."})
		return
	}
	if s == nil {
		c.log.Warn("console: sign-in refused", "remote", r.RemoteAddr, "name", id)
		time.Sleep(failedSignInDelay)
		c.render(w, http.StatusUnauthorized, "signin", nil, "Sign in", "",
			signInData{Next: next, KeyID: id, Error: "The name or the secret is wrong."})
		return
	}
	c.log.Info("console: signed in", "remote", r.RemoteAddr, "operator", s.who)
	c.startSession(w, s)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// authenticate returns a session for an access key pair or a console user's password, nil for
// neither, or errBusy.
func (c *Console) authenticate(id, secret string) (*session, error) {
	if c.valid(id, secret) {
		return &session{who: id}, nil
	}
	if c.opts.PasswordFile == "" || CheckUserName(id) != nil {
		return nil, nil
	}
	hash, ok, err := c.passwords.check(id, secret)
	if errors.Is(err, errBusy) {
		return nil, err
	}
	if err != nil {
		c.log.Error("console: the password file cannot be read: no console user can sign in", "err", err)
	}
	if !ok {
		return nil, nil
	}
	return &session{who: "console user " + id, user: id, hash: hash}, nil
}

// valid compares the key pair with every credential, in constant time.
func (c *Console) valid(id, secret string) bool {
	ok := 0
	for _, cr := range c.opts.Credentials {
		if cr.AccessKeyID == "" || cr.SecretAccessKey == "" {
			continue
		}
		ok |= subtle.ConstantTimeCompare([]byte(id), []byte(cr.AccessKeyID)) & subtle.ConstantTimeCompare([]byte(secret), []byte(cr.SecretAccessKey))
	}
	return ok == 1
}

func (c *Console) signOut(w http.ResponseWriter, r *http.Request, s *session) {
	c.log.Info("console: signed out", "remote", r.RemoteAddr, "operator", s.who)
	c.endSession(w, r)
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}

// safeNext keeps a redirect after sign-in on this console: a path, never another host.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/servers"
	}
	return next
}
