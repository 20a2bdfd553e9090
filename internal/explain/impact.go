package explain

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/transferd/transferd/internal/activity"
	"github.com/transferd/transferd/internal/negotiate"
)

// maxLogLine bounds one line of an activity log.
const maxLogLine = 4 << 20

// Impact is what a new security policy does to the clients a set of activity logs has seen.
type Impact struct {
	Policy       string   `json:"policy"`
	HostKeyTypes []string `json:"host-key-types"`
	// NotNegotiable is what the policy names that this build cannot negotiate.
	NotNegotiable *Lists       `json:"not-negotiable"`
	Clients       []*ClientRow `json:"clients"`
	Totals        Totals       `json:"totals"`
	Files         []FileCount  `json:"files"`
}

// FileCount says how much of one log was read.
type FileCount struct {
	File string `json:"file"`
	// Records are the activity records read; Skipped the non-blank lines that are not records.
	Records int `json:"records"`
	Skipped int `json:"skipped"`
}

// ClientRow is one distinct client of one server: the server's ID (from the records' resource
// ARN), the client's identification line, address and user (empty for a failed key exchange,
// which comes before authentication).
type ClientRow struct {
	Server   string `json:"server"`
	Client   string `json:"client"`
	SourceIP string `json:"source-ip"`
	User     string `json:"user"`
	// Connected and Failed count its CONNECTED and KEX_FAILURE records.
	Connected int `json:"connected"`
	Failed    int `json:"failed"`
	// Logged is what its latest record says it negotiated, or how it failed.
	Logged *Outcome `json:"logged"`
	// Basis says what the prediction is made from: "recorded offer", "assumed" (the built-in
	// profile its identification line names) or "unknown".
	Basis   string `json:"basis"`
	Profile string `json:"profile,omitempty"`
	// Predicted is the outcome under the new policy as this build offers it; nil when unknown.
	Predicted *Outcome `json:"predicted,omitempty"`
	// Change is "same", "changes" (still connects, other algorithms), "breaks" (connected,
	// would fail), "fixed" (failed, would connect), "still fails" or "unknown".
	Change string `json:"change"`
	// TransferFamily is the outcome under every algorithm of the policy, as Transfer Family
	// offers it, when that differs from Predicted.
	TransferFamily *Outcome `json:"transfer-family,omitempty"`

	latest string // timestamp of the latest record
}

// Totals sum up the rows.
type Totals struct {
	Clients   int `json:"clients"`
	Same      int `json:"same"`
	Changes   int `json:"changes"`
	Breaks    int `json:"breaks"`
	Fixed     int `json:"fixed"`
	StillFail int `json:"still-fails"`
	Unknown   int `json:"unknown"`
	// Assumed counts the predictions made from a built-in profile rather than a recorded offer.
	Assumed int `json:"assumed"`
	Records int `json:"records"`
	Skipped int `json:"skipped"`
}

// Log is one activity log to read.
type Log struct {
	Name string
	R    io.Reader
}

// PolicyImpact reads activity logs (JSON lines as transferd serve --activity-log writes them)
// and predicts, for each distinct client of each server in their CONNECTED and KEX_FAILURE
// records, what it would negotiate under server (a policy as this build offers it). With
// onlyServers, records of other servers are left out. Lines that are not records are skipped and
// counted.
func PolicyImpact(server *Server, profiles *negotiate.Profiles, logs []Log, onlyServers ...string) (*Impact, error) {
	im := &Impact{Policy: server.Policy, HostKeyTypes: server.HostKeyTypes, NotNegotiable: server.NotNegotiable, Clients: []*ClientRow{}}
	rows := map[[4]string]*ClientRow{}
	offers := map[[4]string]*negotiate.Offer{}
	for _, l := range logs {
		fc := FileCount{File: l.Name}
		sc := bufio.NewScanner(l.R)
		sc.Buffer(make([]byte, 0, 64<<10), maxLogLine)
		for sc.Scan() {
			line := bytes.TrimSpace(sc.Bytes())
			if len(line) == 0 {
				continue
			}
			var r activity.Record
			if json.Unmarshal(line, &r) != nil || r.ActivityType == "" {
				fc.Skipped++
				continue
			}
			fc.Records++
			if r.ActivityType != activity.Connected && r.ActivityType != activity.KexFailure {
				continue
			}
			srv := ServerOfARN(r.ResourceARN)
			if len(onlyServers) > 0 && !slices.Contains(onlyServers, srv) {
				continue
			}
			key := [4]string{srv, r.Client, r.SourceIP, r.User}
			row := rows[key]
			if row == nil {
				row = &ClientRow{Server: srv, Client: r.Client, SourceIP: r.SourceIP, User: r.User}
				rows[key] = row
				im.Clients = append(im.Clients, row)
			}
			if r.ActivityType == activity.Connected {
				row.Connected++
			} else {
				row.Failed++
			}
			ts := r.Timestamp.UTC().Format("2006-01-02T15:04:05.000000000Z")
			if ts >= row.latest {
				row.latest = ts
				row.Logged = logged(&r)
				if r.ClientOffer != nil {
					offers[key] = r.ClientOffer
				}
			}
			if r.ClientOffer != nil && offers[key] == nil {
				offers[key] = r.ClientOffer
			}
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("reading %s: %w", l.Name, err)
		}
		im.Files = append(im.Files, fc)
		im.Totals.Records += fc.Records
		im.Totals.Skipped += fc.Skipped
	}
	sort.SliceStable(im.Clients, func(i, j int) bool {
		a, b := im.Clients[i], im.Clients[j]
		return a.Server+"\x00"+a.Client+"\x00"+a.SourceIP+"\x00"+a.User < b.Server+"\x00"+b.Client+"\x00"+b.SourceIP+"\x00"+b.User
	})
	for _, row := range im.Clients {
		key := [4]string{row.Server, row.Client, row.SourceIP, row.User}
		offer := offers[key]
		switch {
		case offer != nil:
			row.Basis = "recorded offer"
		default:
			if p := profiles.ForClient(row.Client); p != nil {
				row.Basis, row.Profile, offer = "assumed", p.ID, p.Offer()
				im.Totals.Assumed++
			} else {
				row.Basis = "unknown"
			}
		}
		im.Totals.Clients++
		if offer == nil {
			row.Change = "unknown"
			im.Totals.Unknown++
			continue
		}
		e := Explain(&Client{Offer: offer}, server)
		row.Predicted = &Outcome{Connects: e.Connects, Negotiated: e.Negotiated, Failure: e.Failure}
		row.TransferFamily = e.TransferFamily
		switch {
		case row.Logged.Connects && row.Predicted.Connects && changes(row.Logged.Negotiated, row.Predicted.Negotiated) == "the same":
			row.Change = "same"
			im.Totals.Same++
		case row.Logged.Connects && row.Predicted.Connects:
			row.Change = "changes"
			im.Totals.Changes++
		case row.Logged.Connects:
			row.Change = "breaks"
			im.Totals.Breaks++
		case row.Predicted.Connects:
			row.Change = "fixed"
			im.Totals.Fixed++
		default:
			row.Change = "still fails"
			im.Totals.StillFail++
		}
	}
	return im, nil
}

// logged reads what a record says was negotiated. A CONNECTED record says compression nowhere;
// transferd negotiates only none.
func logged(r *activity.Record) *Outcome {
	if r.ActivityType == activity.KexFailure {
		return &Outcome{Failure: &Failure{Category: r.NegotiationCategory, Message: r.Message,
			ClientOffered: r.ClientOffered, ServerOffered: r.ServerOffered}}
	}
	c2sCipher, s2cCipher, _ := strings.Cut(r.Ciphers, ",")
	c2sMAC, s2cMAC, _ := strings.Cut(r.Macs, ",")
	return &Outcome{Connects: true, Negotiated: &negotiate.Algorithms{KeyExchange: r.Kex, HostKey: r.HostKeyAlgorithm,
		ClientToServer: negotiate.Direction{Cipher: c2sCipher, MAC: c2sMAC, Compression: "none"},
		ServerToClient: negotiate.Direction{Cipher: s2cCipher, MAC: s2cMAC, Compression: "none"}}}
}

// WriteText writes the impact for people, within 120 columns: one block per client, grouped by
// server (long lines wrap), then the totals.
func (im *Impact) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Policy:  %s as this transferd offers it (host keys: %s)\n", im.Policy, strings.Join(im.HostKeyTypes, ", "))
	if nn := im.NotNegotiable; nn != nil && !nn.empty() {
		b.WriteString("         not negotiable by this build, so left out of its offer:\n")
		wrap(&b, "           ", nn.all(), width)
	}
	for _, f := range im.Files {
		fmt.Fprintf(&b, "Log:     %s: %d records, %d lines skipped (not activity records)\n", f.File, f.Records, f.Skipped)
	}
	for _, r := range im.Clients {
		b.WriteString("\n")
		who := "user " + r.User
		if r.User == "" {
			who = "no user (before login)"
		}
		wrapText(&b, fmt.Sprintf("%-12s", strings.ToUpper(r.Change)),
			fmt.Sprintf("server %s, %s from %s, %s", orDash(r.Server), who, orDash(r.SourceIP), orDash(r.Client)), width)
		seen := fmt.Sprintf("%d connected", r.Connected)
		if r.Failed > 0 {
			seen += fmt.Sprintf(", %d failed", r.Failed)
		}
		wrapText(&b, "    seen:       ", seen, width)
		wrapText(&b, "    in the log: ", r.Logged.Brief(), width)
		predicted := "-"
		if r.Predicted != nil {
			predicted = r.Predicted.Brief()
			switch r.Change {
			case "same":
				predicted = "the same"
			case "changes":
				predicted = changes(r.Logged.Negotiated, r.Predicted.Negotiated)
			}
		}
		wrapText(&b, "    predicted:  ", predicted, width)
		if r.TransferFamily != nil {
			wrapText(&b, "    on AWS:     ", "with every algorithm of the policy, as Transfer Family offers it: "+r.TransferFamily.Brief(), width)
		}
		basis := r.Basis
		if r.Profile != "" {
			basis += " from the built-in profile " + r.Profile
		}
		wrapText(&b, "    basis:      ", basis, width)
	}
	t := im.Totals
	totals := fmt.Sprintf("%d clients: %d same, %d negotiate other algorithms, %d would no longer connect, %d would connect again, %d still fail, %d unknown"+
		" (%d predicted from the built-in profile their version names, not from a recorded offer).",
		t.Clients, t.Same, t.Changes, t.Breaks, t.Fixed, t.StillFail, t.Unknown, t.Assumed)
	if t.Unknown > 0 {
		totals += " Unknown: the log holds no offer of theirs (the server setting RecordClientOffer records them) and no built-in profile matches their version."
	}
	b.WriteString("\n")
	wrapText(&b, "", totals, width)
	_, err := io.WriteString(w, b.String())
	return err
}

// ServerFilter reads a server named to PolicyImpact: its ID (s- and 17 lowercase hex digits, as
// Transfer Family's) or its ARN.
func ServerFilter(v string) (string, error) {
	id := ServerOfARN(v)
	if id == "" {
		id = v
	}
	if len(id) != 19 || !strings.HasPrefix(id, "s-") || strings.Trim(id[2:], "0123456789abcdef") != "" {
		return "", fmt.Errorf("%q is not a server ID (s- and 17 hex digits) or a server ARN", v)
	}
	return id, nil
}

// ServerOfARN is the server ID of a server's (or its user's) ARN, or "" for anything else.
func ServerOfARN(arn string) string {
	_, rest, ok := strings.Cut(arn, ":server/")
	if !ok {
		_, rest, ok = strings.Cut(arn, ":user/")
	}
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(rest, "/")
	return id
}

// changes says what differs between what a record says was negotiated and a prediction, e.g.
// "kex ecdh-sha2-nistp256 (was curve25519-sha256)". What the record does not say (Transfer
// Family's own records have no host-key-algorithm) is not compared.
func changes(was, now *negotiate.Algorithms) string {
	var out []string
	add := func(what, a, b string) {
		if a != "" && a != "," && a != b {
			out = append(out, fmt.Sprintf("%s %s (was %s)", what, b, a))
		}
	}
	add("kex", was.KeyExchange, now.KeyExchange)
	add("host key", was.HostKey, now.HostKey)
	add("ciphers", was.Ciphers(), now.Ciphers())
	add("MACs", was.MACs(), now.MACs())
	if len(out) == 0 {
		return "the same"
	}
	return strings.Join(out, ", ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
