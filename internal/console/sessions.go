package console

import (
	"net/http"
	"time"

	"github.com/transferd/transferd/internal/transfer"
)

type sessionsData struct {
	Sessions []transfer.LiveSession
	Now      time.Time
}

// sessionsPage shows who is connected now, to which server, from where, since when, with what
// algorithms, how many bytes so far and how many open files.
func (c *Console) sessionsPage(w http.ResponseWriter, r *http.Request, s *session) {
	var list []transfer.LiveSession
	if c.opts.Live != nil {
		list = c.opts.Live.Sessions()
	}
	c.render(w, http.StatusOK, "sessions", s, "Live sessions", "sessions", sessionsData{Sessions: list, Now: c.opts.Now()})
}

// disconnect ends a session (a transferd extension: Transfer Family has no such call); its
// DISCONNECTED record says who ended it.
func (c *Console) disconnect(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	if c.opts.Live != nil && c.opts.Live.Disconnect(id, "disconnected from the web console by "+s.who) {
		c.log.Info("console: session disconnected", "session-id", id, "operator", s.who)
		c.flash(s, false, "Session %s disconnected.", id)
	} else {
		c.flash(s, true, "There is no session %s: it has ended already, or another node serves it.", id)
	}
	http.Redirect(w, r, "/sessions", http.StatusSeeOther)
}
