package activity

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Query filters activity records and, with By, counts them by the values of some fields, as a
// Logs Insights query over CloudWatch does (filter, then stats count(*) by ...). Records are read
// one at a time: memory grows with the number of groups, not with the log.
type Query struct {
	Types        []string // activity types; none: all
	Server, User string   // server ID (the end of resource-arn) and user; "": any
	Since, Until time.Time
	Where        []Match
	// By names the fields to count by; none: the matching records themselves are the answer.
	By []string
	// SumBytes adds the bytes-in and bytes-out of each group's records.
	SumBytes bool
	// Skim skips, without decoding them, the lines that cannot match Types and Server because
	// they contain neither any of the types nor the server ID, and no \u escape (which could
	// spell them otherwise). Result.Unreadable then counts only the lines decoded.
	Skim bool
}

// Match is one --where condition: Field = Value, != Value, or ~ Regexp (a match anywhere).
type Match struct {
	Field string
	Op    string // "=", "!=" or "~"
	Value string
	re    *regexp.Regexp
}

// ParseMatch reads FIELD=VALUE, FIELD!=VALUE or FIELD~REGEXP; the field is a record's JSON name.
func ParseMatch(s string) (Match, error) {
	i := strings.IndexAny(s, "=!~")
	if i <= 0 {
		return Match{}, fmt.Errorf("%q: want FIELD=VALUE, FIELD!=VALUE or FIELD~REGEXP", s)
	}
	m := Match{Field: s[:i]}
	switch {
	case strings.HasPrefix(s[i:], "!="):
		m.Op, m.Value = "!=", s[i+2:]
	case s[i] == '=':
		m.Op, m.Value = "=", s[i+1:]
	case s[i] == '~':
		re, err := regexp.Compile(s[i+1:])
		if err != nil {
			return Match{}, fmt.Errorf("%q: %v", s, err)
		}
		m.Op, m.Value, m.re = "~", s[i+1:], re
	default:
		return Match{}, fmt.Errorf("%q: want FIELD=VALUE, FIELD!=VALUE or FIELD~REGEXP", s)
	}
	if _, ok := recordFields[m.Field]; !ok {
		return Match{}, fmt.Errorf("%q: no record field %q (fields: %s)", s, m.Field, strings.Join(FieldNames(), ", "))
	}
	return m, nil
}

// recordFields maps a record's JSON field names to their place in Record.
var recordFields = func() map[string][]int {
	out := map[string][]int{}
	t := reflect.TypeFor[Record]()
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out[name] = f.Index
		}
	}
	return out
}()

// FieldNames lists the fields a query can name, sorted.
func FieldNames() []string {
	names := make([]string, 0, len(recordFields))
	for n := range recordFields {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Field returns a record's field as text ("" when empty): a time as RFC 3339, a list joined by
// commas.
func (r *Record) Field(name string) string {
	idx, ok := recordFields[name]
	if !ok {
		return ""
	}
	v := reflect.ValueOf(r).Elem().FieldByIndex(idx)
	switch x := v.Interface().(type) {
	case string:
		return x
	case time.Time:
		if x.IsZero() {
			return ""
		}
		return x.UTC().Format(time.RFC3339Nano)
	case int:
		if x == 0 {
			return ""
		}
		return strconv.Itoa(x)
	case []string:
		return strings.Join(x, ",")
	case *float64:
		if x == nil {
			return ""
		}
		return strconv.FormatFloat(*x, 'f', -1, 64)
	}
	if v.Kind() == reflect.Pointer && v.IsNil() {
		return ""
	}
	b, _ := json.Marshal(v.Interface())
	return string(b)
}

// Check names the first field of By that records do not have.
func (q *Query) Check() error {
	for _, f := range q.By {
		if _, ok := recordFields[f]; !ok {
			return fmt.Errorf("--by %s: no record field %q (fields: %s)", f, f, strings.Join(FieldNames(), ", "))
		}
	}
	return nil
}

// mayMatch is Skim's test: false when line cannot be a record of the query's types and server.
func (q *Query) mayMatch(line []byte) bool {
	if bytes.Contains(line, []byte(`\u`)) {
		return true
	}
	if q.Server != "" && !bytes.Contains(line, []byte(q.Server)) {
		return false
	}
	if len(q.Types) == 0 {
		return true
	}
	for _, t := range q.Types {
		if bytes.Contains(line, []byte(`"`+t+`"`)) { // quoted: DISCONNECTED holds CONNECTED
			return true
		}
	}
	return false
}

// matches reports whether r passes the query's filters.
func (q *Query) matches(r *Record) bool {
	if len(q.Types) > 0 && !slices.Contains(q.Types, r.ActivityType) {
		return false
	}
	if q.Server != "" && !strings.HasSuffix(r.ResourceARN, ":server/"+q.Server) {
		return false
	}
	if q.User != "" && r.User != q.User {
		return false
	}
	if !q.Since.IsZero() && r.Timestamp.Before(q.Since) || !q.Until.IsZero() && !r.Timestamp.Before(q.Until) {
		return false
	}
	for _, m := range q.Where {
		v := r.Field(m.Field)
		switch m.Op {
		case "=":
			if v != m.Value {
				return false
			}
		case "!=":
			if v == m.Value {
				return false
			}
		case "~":
			if !m.re.MatchString(v) {
				return false
			}
		}
	}
	return true
}

// Group is the records of one combination of the By fields' values.
type Group struct {
	Values            []string
	Count             int64
	BytesIn, BytesOut int64
}

// Result is a query's answer over some logs.
type Result struct {
	Read, Matched int64
	// Groups, with By: by count, largest first (then by values).
	Groups []Group
	// Unreadable counts lines that are not records (skipped).
	Unreadable int64
}

// Run reads records (one JSON object per line) from r and adds them to res; without By it writes
// each matching record's line to out as it goes.
func (q *Query) Run(r io.Reader, out io.Writer, res *Result, groups map[string]*Group) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		res.Read++
		if q.Skim && !q.mayMatch(line) {
			continue
		}
		var rec Record
		if err := json.Unmarshal(line, &rec); err != nil {
			res.Unreadable++
			continue
		}
		if !q.matches(&rec) {
			continue
		}
		res.Matched++
		if len(q.By) == 0 {
			if _, err := out.Write(append(line, '\n')); err != nil {
				return err
			}
			continue
		}
		values := make([]string, len(q.By))
		for i, f := range q.By {
			values[i] = rec.Field(f)
		}
		key := strings.Join(values, "\x00")
		g := groups[key]
		if g == nil {
			g = &Group{Values: values}
			groups[key] = g
		}
		g.Count++
		if q.SumBytes {
			in, _ := strconv.ParseInt(rec.BytesIn, 10, 64)
			out, _ := strconv.ParseInt(rec.BytesOut, 10, 64)
			g.BytesIn += in
			g.BytesOut += out
		}
	}
	return sc.Err()
}

// Finish sorts the groups into res.
func (q *Query) Finish(res *Result, groups map[string]*Group) {
	for _, g := range groups {
		res.Groups = append(res.Groups, *g)
	}
	slices.SortFunc(res.Groups, func(a, b Group) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), slices.Compare(a.Values, b.Values))
	})
}

// Table writes the groups as an aligned table: the By fields, count, percent of the matching
// records, and the byte sums when asked.
func (q *Query) Table(w io.Writer, res *Result) {
	head := append(slices.Clone(q.By), "count", "percent")
	if q.SumBytes {
		head = append(head, "bytes-in", "bytes-out")
	}
	rows := [][]string{head}
	for _, g := range res.Groups {
		row := make([]string, 0, len(head))
		for _, v := range g.Values {
			row = append(row, cmp.Or(v, "-"))
		}
		row = append(row, strconv.FormatInt(g.Count, 10), fmt.Sprintf("%.1f%%", percent(g.Count, res.Matched)))
		if q.SumBytes {
			row = append(row, strconv.FormatInt(g.BytesIn, 10), strconv.FormatInt(g.BytesOut, 10))
		}
		rows = append(rows, row)
	}
	width := make([]int, len(head))
	for _, row := range rows {
		for i, c := range row {
			width[i] = max(width[i], len(c))
		}
	}
	for _, row := range rows {
		var b strings.Builder
		for i, c := range row {
			if i > 0 {
				b.WriteString("  ")
			}
			if i >= len(q.By) { // numbers to the right
				b.WriteString(strings.Repeat(" ", width[i]-len(c)) + c)
			} else if i < len(row)-1 {
				b.WriteString(c + strings.Repeat(" ", width[i]-len(c)))
			} else {
				b.WriteString(c)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
	fmt.Fprintf(w, "%d records read, %d matched, %d groups\n", res.Read, res.Matched, len(res.Groups))
}

// JSON writes the result as one JSON object: read, matched, and the groups with their field
// values, count, percent (and byte sums).
func (q *Query) JSON(w io.Writer, res *Result) error {
	groups := make([]map[string]any, 0, len(res.Groups))
	for _, g := range res.Groups {
		m := map[string]any{"count": g.Count, "percent": percent(g.Count, res.Matched)}
		for i, f := range q.By {
			m[f] = g.Values[i]
		}
		if q.SumBytes {
			m["bytes-in"], m["bytes-out"] = g.BytesIn, g.BytesOut
		}
		groups = append(groups, m)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(map[string]any{"read": res.Read, "matched": res.Matched, "unreadable": res.Unreadable, "by": q.By, "groups": groups})
}

func percent(n, of int64) float64 {
	if of == 0 {
		return 0
	}
	return float64(n) * 100 / float64(of)
}
