package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/transferd/transferd/internal/activity"
)

// activityTypes are the record types the search offers.
var activityTypes = []string{activity.Connected, activity.Disconnected, activity.AuthFailure, activity.KexFailure,
	activity.ConnectionRejected, activity.Open, activity.Close, activity.PartialClose, activity.Delete,
	activity.Rename, activity.Mkdir, activity.Rmdir, activity.Setstat, activity.Error}

const (
	recordsPerPage = 50
	maxRecordPages = 100 // older matches than 100 pages are not shown: narrow the search
	formTime       = "2006-01-02T15:04"
)

type activityData struct {
	Log                              string // the file searched; "" when the records go elsewhere
	Types                            []string
	Type, User, Server, Since, Until string
	Records                          []activity.Record
	Matched                          int64
	Page                             int
	Newer, Older                     string // links to the next pages, "" at either end
	Error                            string
}

// activityPage searches the activity log (--activity-log FILE), newest first, a page at a time.
func (c *Console) activityPage(w http.ResponseWriter, r *http.Request, s *session) {
	q := r.URL.Query()
	d := activityData{Log: c.opts.ActivityLog, Types: activityTypes,
		Type: q.Get("type"), User: strings.TrimSpace(q.Get("user")), Server: strings.TrimSpace(q.Get("server")),
		Since: q.Get("since"), Until: q.Get("until")}
	d.Page, _ = strconv.Atoi(q.Get("page"))
	d.Page = min(max(d.Page, 1), maxRecordPages)
	if d.Log == "" {
		c.render(w, http.StatusOK, "activity", s, "Activity", "activity", d)
		return
	}
	query := activity.Query{User: d.User, Server: d.Server, Skim: true}
	if d.Type != "" {
		query.Types = []string{d.Type}
	}
	var err error
	if query.Since, err = formTimeValue("since", d.Since); err == nil {
		query.Until, err = formTimeValue("until", d.Until)
	}
	if err != nil {
		d.Error = err.Error()
		c.render(w, http.StatusBadRequest, "activity", s, "Activity", "activity", d)
		return
	}
	f, err := c.openLog()
	if err != nil {
		d.Error = err.Error()
		c.render(w, http.StatusInternalServerError, "activity", s, "Activity", "activity", d)
		return
	}
	// Keep the newest page*recordsPerPage matches as they go by; the page is the oldest of them.
	keep := d.Page * recordsPerPage
	ring := &lastLines{max: keep}
	var res activity.Result
	if f != nil {
		err = query.Run(logReader(r.Context(), f), ring, &res, nil)
		f.Close()
	}
	if err != nil {
		d.Error = "reading the activity log: " + err.Error()
	}
	d.Matched = res.Matched
	lines := ring.newestFirst()
	from := (d.Page - 1) * recordsPerPage
	for _, l := range lines[min(from, len(lines)):min(from+recordsPerPage, len(lines))] {
		var rec activity.Record
		if json.Unmarshal(l, &rec) == nil {
			d.Records = append(d.Records, rec)
		}
	}
	link := func(page int) string {
		v := url.Values{"page": {strconv.Itoa(page)}}
		for k, val := range map[string]string{"type": d.Type, "user": d.User, "server": d.Server, "since": d.Since, "until": d.Until} {
			if val != "" {
				v.Set(k, val)
			}
		}
		return "/activity?" + v.Encode()
	}
	if d.Page > 1 {
		d.Newer = link(d.Page - 1)
	}
	if int64(d.Page*recordsPerPage) < res.Matched && d.Page < maxRecordPages {
		d.Older = link(d.Page + 1)
	}
	c.render(w, http.StatusOK, "activity", s, "Activity", "activity", d)
}

// formTimeValue reads a datetime-local field (UTC); "" is no bound.
func formTimeValue(field, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(formTime, v)
	if err != nil {
		return time.Time{}, errors.New(field + ": " + strconv.Quote(v) + " is not a time such as 2026-12-05T14:30 (UTC)")
	}
	return t, nil
}

// lastLines keeps the last max lines written to it, one Write per line (as Query.Run writes).
type lastLines struct {
	max   int
	lines [][]byte
	next  int
	full  bool
}

func (l *lastLines) Write(p []byte) (int, error) {
	line := bytes.Clone(bytes.TrimSuffix(p, []byte("\n")))
	if len(l.lines) < l.max {
		l.lines = append(l.lines, line)
		return len(p), nil
	}
	l.lines[l.next] = line
	l.next = (l.next + 1) % l.max
	l.full = true
	return len(p), nil
}

var _ io.Writer = (*lastLines)(nil)

// newestFirst returns the lines kept, the last written first.
func (l *lastLines) newestFirst() [][]byte {
	out := make([][]byte, 0, len(l.lines))
	for i := range len(l.lines) {
		j := len(l.lines) - 1 - i
		if l.full {
			j = (l.next - 1 - i + 2*l.max) % l.max
		}
		out = append(out, l.lines[j])
	}
	return out
}
