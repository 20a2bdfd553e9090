package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/transferd/transferd/internal/activity"
)

// matches collects repeated --where flags.
type matches []activity.Match

func (m *matches) String() string { return "" }

func (m *matches) Set(s string) error {
	x, err := activity.ParseMatch(s)
	if err != nil {
		return err
	}
	*m = append(*m, x)
	return nil
}

// queryActivity answers a query over activity logs, as Logs Insights does over CloudWatch.
func queryActivity(args []string, stdin io.Reader, stdout, stderr io.Writer, now time.Time) error {
	fs := flag.NewFlagSet("activity", flag.ContinueOnError)
	fs.SetOutput(stderr)
	types := fs.String("type", "", "activity types to keep, comma-separated (CONNECTED, CLOSE, AUTH_FAILURE...)")
	server := fs.String("server", "", "keep the records of this server ID")
	user := fs.String("user", "", "keep the records of this user")
	since := fs.String("since", "", "keep records from this time on: RFC 3339 (2026-12-01T00:00:00Z) or a time ago (7d, 24h, 30m)")
	until := fs.String("until", "", "keep records before this time (same forms as --since)")
	var where matches
	fs.Var(&where, "where", "keep records whose FIELD=VALUE, FIELD!=VALUE or FIELD~REGEXP (repeatable), e.g. ciphers~gcm")
	by := fs.String("by", "", "count the records by these fields, comma-separated (e.g. kex,ciphers,client), with percentages")
	sumBytes := fs.Bool("sum-bytes", false, "with --by, also add up bytes-in and bytes-out (of CLOSE records)")
	asJSON := fs.Bool("json", false, "with --by, print the result as JSON")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: transferd activity [flags] FILE... (or - for standard input)

Reads activity logs (one JSON record per line, as --activity-log writes them; rotated files one
after the other) and prints the records that match, or with --by counts them by the values of
some fields. One record at a time is read: memory grows with the number of groups, not the logs.
Which ciphers clients negotiated in the last week:

  transferd activity --type CONNECTED --since 7d --by ciphers activity.log

Bytes uploaded and downloaded by user:

  transferd activity --type CLOSE --by user --sum-bytes activity.log

Flags:
`)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New("activity: name the log files to read (or - for standard input)")
	}
	q := activity.Query{Server: *server, User: *user, Where: where, SumBytes: *sumBytes}
	for _, list := range []struct {
		dst *[]string
		src string
	}{{&q.Types, *types}, {&q.By, *by}} {
		for v := range strings.SplitSeq(list.src, ",") {
			if v = strings.TrimSpace(v); v != "" {
				*list.dst = append(*list.dst, v)
			}
		}
	}
	var err error
	if q.Since, err = parseWhen("--since", *since, now); err != nil {
		return err
	}
	if q.Until, err = parseWhen("--until", *until, now); err != nil {
		return err
	}
	if err := q.Check(); err != nil {
		return fmt.Errorf("activity: %w", err)
	}
	if (*sumBytes || *asJSON) && len(q.By) == 0 {
		return errors.New("activity: --sum-bytes and --json go with --by")
	}
	var res activity.Result
	groups := map[string]*activity.Group{}
	for _, name := range fs.Args() {
		var r io.Reader = stdin
		if name != "-" {
			f, err := os.Open(name)
			if err != nil {
				return fmt.Errorf("activity: %w", err)
			}
			defer f.Close()
			r = f
		}
		if err := q.Run(r, stdout, &res, groups); err != nil {
			return fmt.Errorf("activity: %s: %w", name, err)
		}
	}
	if res.Unreadable > 0 {
		fmt.Fprintf(stderr, "activity: lines that are not records, skipped: %d\n", res.Unreadable)
	}
	if len(q.By) == 0 {
		return nil
	}
	q.Finish(&res, groups)
	if *asJSON {
		return q.JSON(stdout, &res)
	}
	q.Table(stdout, &res)
	return nil
}

// parseWhen reads a time: RFC 3339, or a duration before now (7d, 24h, 30m).
func parseWhen(flagName, s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n >= 0 {
			return now.Add(-time.Duration(n) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("activity: %s %q: give an RFC 3339 time (2026-12-01T00:00:00Z) or a time ago (7d, 24h, 30m)", flagName, s)
}
