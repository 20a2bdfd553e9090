package console

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/transferd/transferd/internal/activity"
	"github.com/transferd/transferd/internal/control"
	"github.com/transferd/transferd/internal/explain"
	"github.com/transferd/transferd/internal/negotiate"
	"github.com/transferd/transferd/internal/transfer"
)

// The negotiation pages: what each server's clients negotiated (charts by client version, from
// the activity records), explain drawn as the SSH exchange, and a policy change previewed over a
// server's records. They answer what `transferd explain` and `transferd policy-impact` answer,
// with the same code.

func (c *Console) negotiationRoutes(m *http.ServeMux) {
	m.Handle("GET /servers/{id}/negotiation", c.reads(c.negotiationPage))
	m.Handle("GET /servers/{id}/impact", c.reads(c.impactPage))
	m.Handle("GET /explain", c.reads(c.explainPage))
	// A pasted offer is too long for a URL; the POST changes nothing but still needs the token.
	m.Handle("POST /explain", c.changes(c.explainPage))
}

// defaultRange is how far back the negotiation pages look unless told.
const defaultRange = 7 * 24 * time.Hour

// timeRange reads the since and until fields, since defaulting to defaultRange ago.
func (c *Console) timeRange(q url.Values) (since, until string, query activity.Query, err error) {
	since, until = q.Get("since"), q.Get("until")
	if !q.Has("since") {
		since = c.opts.Now().UTC().Add(-defaultRange).Format(formTime)
	}
	if query.Since, err = formTimeValue("since", since); err == nil {
		query.Until, err = formTimeValue("until", until)
	}
	return since, until, query, err
}

// openLog opens the activity log; nil, nil when it does not exist yet.
func (c *Console) openLog() (*os.File, error) {
	f, err := os.Open(c.opts.ActivityLog)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("the activity log cannot be read: %w", err)
	}
	return f, nil
}

// logReader reads r until ctx ends (the browser went away): a long log is not read for nobody.
func logReader(ctx context.Context, r io.Reader) io.Reader {
	return readerFunc(func(p []byte) (int, error) {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		return r.Read(p)
	})
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// ---- charts ----

// chartCategories are the record fields charted, with their titles.
var chartCategories = []struct{ field, title string }{
	{"kex", "Key exchange"},
	{"host-key-algorithm", "Host key"},
	{"ciphers", "Cipher"},
	{"macs", "MAC"},
}

// chartGroupBy is what one pass over the log counts by.
var chartGroupBy = []string{"activity-type", "client", "kex", "host-key-algorithm", "ciphers", "macs", "negotiation-category"}

// paletteSize is how many fill classes the style sheet has (.s0 to .s7).
const paletteSize = 8

type negotiationData struct {
	ServerID, Policy string
	Log              string
	Since, Until     string
	Error            string
	Connected        int
	Failed           int
	Clients          []clientCounts
	Charts           []chart
}

// clientCounts are one client version's connections and failed negotiations.
type clientCounts struct {
	Client            string
	Connected, Failed int
	// FailedIn names the categories its failed negotiations had no common algorithm in.
	FailedIn string
}

// chart is one category's algorithms by client version.
type chart struct {
	ID, Title string
	Legend    []legendItem
	Rows      []chartRow
}

type legendItem struct {
	Name, Class string
	Count       int
}

// chartRow is one client version's bar: its connections split by algorithm.
type chartRow struct {
	Client   string
	Total    int
	Summary  string // the bar in words, for screen readers
	Segments []segment
}

// segment is one algorithm's part of a bar, X and Width in a 1000-wide view box.
type segment struct {
	Name, Class string
	Count       int
	X, Width    string
}

// negotiationPage charts, for one server, the algorithms its CONNECTED records say each client
// version negotiated, and counts the failed negotiations.
func (c *Console) negotiationPage(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	desc, err := c.opts.Service.DescribeServer(r.Context(), id)
	if err != nil {
		c.failPage(w, s, err)
		return
	}
	d := negotiationData{ServerID: id, Policy: desc.Server.SecurityPolicyName, Log: c.opts.ActivityLog}
	title := "Negotiation on " + id
	var q activity.Query
	d.Since, d.Until, q, err = c.timeRange(r.URL.Query())
	if err != nil {
		d.Error = err.Error()
		c.render(w, http.StatusBadRequest, "negotiation", s, title, "servers", d)
		return
	}
	if d.Log == "" {
		c.render(w, http.StatusOK, "negotiation", s, title, "servers", d)
		return
	}
	q.Server, q.Types, q.By, q.Skim = id, []string{activity.Connected, activity.KexFailure}, chartGroupBy, true
	groups := map[string]*activity.Group{}
	var res activity.Result
	f, err := c.openLog()
	if err == nil && f != nil {
		err = q.Run(logReader(r.Context(), f), io.Discard, &res, groups)
		f.Close()
		if err != nil {
			err = fmt.Errorf("reading the activity log: %w", err)
		}
	}
	if err != nil {
		d.Error = err.Error()
	}
	q.Finish(&res, groups)
	d.Connected, d.Failed, d.Clients, d.Charts = chartsOf(res.Groups)
	c.render(w, http.StatusOK, "negotiation", s, title, "servers", d)
}

// chartsOf turns the groups of chartGroupBy into the page's counts and charts.
func chartsOf(groups []activity.Group) (connected, failed int, clients []clientCounts, charts []chart) {
	byClient := map[string]*clientCounts{}
	failedIn := map[string][]string{}
	// counts[category][client][algorithm]
	counts := make([]map[string]map[string]int, len(chartCategories))
	for i := range counts {
		counts[i] = map[string]map[string]int{}
	}
	for _, g := range groups {
		typ, client, n := g.Values[0], g.Values[1], int(g.Count)
		cc := byClient[client]
		if cc == nil {
			cc = &clientCounts{Client: client}
			byClient[client] = cc
		}
		if typ == activity.KexFailure {
			cc.Failed += n
			failed += n
			if cat := g.Values[6]; cat != "" && !slices.Contains(failedIn[client], cat) {
				failedIn[client] = append(failedIn[client], cat)
			}
			continue
		}
		cc.Connected += n
		connected += n
		for i := range chartCategories {
			alg := bothWays(g.Values[2+i])
			if counts[i][client] == nil {
				counts[i][client] = map[string]int{}
			}
			counts[i][client][alg] += n
		}
	}
	for _, cc := range byClient {
		slices.Sort(failedIn[cc.Client])
		cc.FailedIn = strings.Join(failedIn[cc.Client], ", ")
		clients = append(clients, *cc)
	}
	slices.SortFunc(clients, func(a, b clientCounts) int {
		return cmp.Or(cmp.Compare(b.Connected+b.Failed, a.Connected+a.Failed), cmp.Compare(a.Client, b.Client))
	})
	if connected == 0 {
		return connected, failed, clients, nil
	}
	for i, cat := range chartCategories {
		charts = append(charts, barChart(cat.field, cat.title, counts[i], clients))
	}
	return connected, failed, clients, charts
}

// barChart draws one category: a bar per client version that connected, split by algorithm,
// the most used algorithm first and first in colour.
func barChart(id, title string, byClient map[string]map[string]int, clients []clientCounts) chart {
	totals := map[string]int{}
	for _, algs := range byClient {
		for a, n := range algs {
			totals[a] += n
		}
	}
	names := make([]string, 0, len(totals))
	for a := range totals {
		names = append(names, a)
	}
	slices.SortFunc(names, func(a, b string) int { return cmp.Or(cmp.Compare(totals[b], totals[a]), cmp.Compare(a, b)) })
	class := map[string]string{}
	ch := chart{ID: id, Title: title}
	for i, a := range names {
		class[a] = "s" + strconv.Itoa(i%paletteSize)
		ch.Legend = append(ch.Legend, legendItem{Name: a, Class: class[a], Count: totals[a]})
	}
	for _, cc := range clients {
		algs := byClient[cc.Client]
		if cc.Connected == 0 || algs == nil {
			continue
		}
		row := chartRow{Client: cc.Client, Total: cc.Connected}
		var words []string
		x := 0.0
		for _, a := range names {
			n := algs[a]
			if n == 0 {
				continue
			}
			width := 1000 * float64(n) / float64(cc.Connected)
			row.Segments = append(row.Segments, segment{Name: a, Class: class[a], Count: n,
				X: strconv.FormatFloat(x, 'f', 1, 64), Width: strconv.FormatFloat(width, 'f', 1, 64)})
			x += width
			words = append(words, fmt.Sprintf("%s %d", a, n))
		}
		row.Summary = strings.Join(words, ", ")
		ch.Rows = append(ch.Rows, row)
	}
	return ch
}

// bothWays reads a record's "client to server,server to client" value: one name when both
// directions agree, as they almost always do.
func bothWays(v string) string {
	if a, b, ok := strings.Cut(v, ","); ok {
		if a == b {
			return a
		}
		return a + " / " + b
	}
	if v == "" {
		return "(not recorded)"
	}
	return v
}

// ---- explain ----

type explainData struct {
	Policies []string
	Profiles []*negotiate.Profile
	KeyTypes []keyTypeChoice
	// The form.
	ServerID, Policy, Profile, Offer string
	Error                            string
	// The answer, when the form is complete.
	E          *explain.Explanation
	ClientLine string
	ServerLine string
	Lists      []exchangeList
	Decisions  []negotiate.Choice
}

type keyTypeChoice struct {
	Type    string
	Checked bool
}

// exchangeList is one name-list of a KEXINIT, both sides, with the chosen name marked.
type exchangeList struct {
	Title          string
	Client, Server []listName
}

type listName struct {
	Name           string
	Chosen, Marker bool
}

// explainPage predicts a negotiation, as `transferd explain --policy P (--client PROFILE |
// --client-offer FILE)` does, and draws it as the SSH exchange. With server=ID the policy and
// host key types are that server's.
func (c *Console) explainPage(w http.ResponseWriter, r *http.Request, s *session) {
	ctx := r.Context()
	form := r.URL.Query()
	if r.Method == http.MethodPost {
		form = r.PostForm
	}
	policies, err := c.serverPolicies(ctx)
	if err != nil {
		c.failPage(w, s, err)
		return
	}
	d := explainData{Policies: policies, Profiles: c.profiles.All(), ServerID: strings.TrimSpace(form.Get("server")),
		Policy: form.Get("policy"), Profile: form.Get("client"), Offer: strings.TrimSpace(form.Get("offer"))}
	keyTypes := form["host_keys"]
	if d.ServerID != "" {
		desc, err := c.opts.Service.DescribeServer(ctx, d.ServerID)
		if err != nil {
			c.failPage(w, s, err)
			return
		}
		if d.Policy == "" {
			d.Policy = desc.Server.SecurityPolicyName
		}
		if len(keyTypes) == 0 {
			if keyTypes, err = c.servedTypes(r, d.ServerID); err != nil {
				c.failPage(w, s, err)
				return
			}
		}
	}
	if len(keyTypes) == 0 {
		keyTypes = explain.DefaultHostKeyTypes
	}
	for _, t := range explain.HostKeyTypes {
		d.KeyTypes = append(d.KeyTypes, keyTypeChoice{Type: t, Checked: slices.Contains(keyTypes, t)})
	}
	if d.Policy == "" || (d.Profile == "" && d.Offer == "") {
		c.render(w, http.StatusOK, "explain", s, "Explain a negotiation", "explain", d)
		return
	}
	e, clientLine, err := c.explain(d.Policy, keyTypes, d.Profile, d.Offer)
	if err != nil {
		d.Error = describe(err)
		c.render(w, http.StatusBadRequest, "explain", s, "Explain a negotiation", "explain", d)
		return
	}
	d.E, d.ClientLine, d.ServerLine = e, clientLine, negotiate.ServerVersion
	d.Lists = exchangeLists(e.Choices)
	d.Decisions = e.Choices
	c.render(w, http.StatusOK, "explain", s, "Explain a negotiation", "explain", d)
}

// explain negotiates a client (a pasted offer, else a profile) with a policy as this build
// offers it; clientLine is the client's identification line when known.
func (c *Console) explain(policyName string, keyTypes []string, profile, offer string) (*explain.Explanation, string, error) {
	p, err := c.catalog.Lookup(policyName)
	if err != nil || !p.IsServer() {
		return nil, "", transfer.Invalid("Security policy", "%q is not a security policy for servers", policyName)
	}
	keyTypes, err = explain.ParseHostKeyTypes(strings.Join(keyTypes, ","))
	if err != nil {
		return nil, "", transfer.Invalid("Host keys", "%s", err)
	}
	var cl *explain.Client
	line := ""
	if offer != "" {
		version, o, err := explain.ReadOffer([]byte(offer))
		if err != nil {
			return nil, "", transfer.Invalid("Recorded offer", "%s", err)
		}
		cl, line = explain.RecordedClient("the pasted offer", version, o), version
	} else {
		pr, err := c.profiles.Lookup(profile)
		if err != nil {
			return nil, "", transfer.Invalid("Client profile", "%s", err)
		}
		cl = explain.ProfileClient(pr)
	}
	return explain.Explain(cl, explain.PolicyServer(p, keyTypes)), line, nil
}

// exchangeLists are the KEXINIT's name-lists in wire order, grouped as `transferd explain`
// groups them.
func exchangeLists(choices []negotiate.Choice) []exchangeList {
	var out []exchangeList
	for _, g := range explain.ListGroups(choices) {
		names := func(l []string, chosen int) []listName {
			ns := make([]listName, len(l))
			for i, n := range l {
				ns[i] = listName{Name: n, Chosen: i+1 == chosen,
					Marker: g.Choice.Category == negotiate.KeyExchange && negotiate.IsMarker(n)}
			}
			return ns
		}
		out = append(out, exchangeList{Title: g.Title, Client: names(g.Choice.Client, g.Choice.ClientIndex),
			Server: names(g.Choice.Server, g.Choice.ServerIndex)})
	}
	return out
}

// servedTypes are the types of the host keys a server presents.
func (c *Console) servedTypes(r *http.Request, serverID string) ([]string, error) {
	keys, _, err := c.opts.Service.ListHostKeys(r.Context(), serverID, control.Page{MaxResults: 100})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, k := range served(keys) {
		out = append(out, k.Type)
	}
	return out, nil
}

// ---- policy change preview ----

type impactData struct {
	ServerID, Current string
	HostKeyTypes      []string
	Policies          []string
	Policy            string
	Log               string
	Since, Until      string
	Error             string
	Impact            *explain.Impact
}

// impactPage previews a change of a server's security policy over its records in a time range,
// as `transferd policy-impact --policy P --server ID` does over the log.
func (c *Console) impactPage(w http.ResponseWriter, r *http.Request, s *session) {
	ctx := r.Context()
	id := r.PathValue("id")
	desc, err := c.opts.Service.DescribeServer(ctx, id)
	if err != nil {
		c.failPage(w, s, err)
		return
	}
	policies, err := c.serverPolicies(ctx)
	if err != nil {
		c.failPage(w, s, err)
		return
	}
	query := r.URL.Query()
	keyTypes, err := c.servedTypes(r, id)
	if err != nil {
		c.failPage(w, s, err)
		return
	}
	d := impactData{ServerID: id, Current: desc.Server.SecurityPolicyName, Policies: policies, Policy: query.Get("policy"),
		Log: c.opts.ActivityLog, HostKeyTypes: keyTypes}
	if len(d.HostKeyTypes) == 0 {
		d.HostKeyTypes = explain.DefaultHostKeyTypes
	}
	title := "Preview a policy change on " + id
	var q activity.Query
	d.Since, d.Until, q, err = c.timeRange(query)
	if err == nil && d.Policy != "" && !slices.Contains(policies, d.Policy) {
		err = fmt.Errorf("Candidate policy: %q is not a security policy for servers", d.Policy)
	}
	if err != nil {
		d.Error = err.Error()
		c.render(w, http.StatusBadRequest, "impact", s, title, "servers", d)
		return
	}
	if d.Log == "" || d.Policy == "" {
		c.render(w, http.StatusOK, "impact", s, title, "servers", d)
		return
	}
	p, err := c.catalog.Lookup(d.Policy)
	if err == nil {
		q.Server, q.Types, q.Skim = id, []string{activity.Connected, activity.KexFailure}, true
		d.Impact, err = c.impact(r.Context(), q, explain.PolicyServer(p, d.HostKeyTypes), id)
	}
	if err != nil {
		d.Error = err.Error()
		c.render(w, http.StatusInternalServerError, "impact", s, title, "servers", d)
		return
	}
	c.render(w, http.StatusOK, "impact", s, title, "servers", d)
}

// impact runs policy-impact over the records of the log that q matches, streamed through a pipe.
func (c *Console) impact(ctx context.Context, q activity.Query, server *explain.Server, serverID string) (*explain.Impact, error) {
	f, err := c.openLog()
	if err != nil {
		return nil, err
	}
	var logs []explain.Log
	if f != nil {
		defer f.Close()
		pr, pw := io.Pipe()
		go func() {
			var res activity.Result
			pw.CloseWithError(q.Run(logReader(ctx, f), pw, &res, nil))
		}()
		defer pr.CloseWithError(io.ErrClosedPipe) // ends the writer if PolicyImpact stopped early
		logs = []explain.Log{{Name: c.opts.ActivityLog, R: pr}}
	}
	im, err := explain.PolicyImpact(server, c.profiles, logs, serverID)
	if err != nil {
		return nil, fmt.Errorf("reading the activity log: %w", err)
	}
	slices.SortStableFunc(im.Clients, func(a, b *explain.ClientRow) int {
		return cmp.Compare(slices.Index(changeOrder, a.Change), slices.Index(changeOrder, b.Change))
	})
	return im, nil
}

// changeOrder lists the rows of a preview worst first.
var changeOrder = []string{"breaks", "changes", "still fails", "unknown", "fixed", "same"}
