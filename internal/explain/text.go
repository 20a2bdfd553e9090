package explain

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/transferd/transferd/internal/negotiate"
)

// WriteJSON writes v as indented JSON and a newline, without HTML escaping ("<implicit>").
func WriteJSON(w io.Writer, v any) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("encode JSON: %w", err)
	}
	_, err := w.Write(b.Bytes())
	return err
}

// table writes rows aligned in columns, two spaces apart.
func table(w io.Writer, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, r := range rows {
		if _, err := io.WriteString(tw, strings.Join(r, "\t")+"\n"); err != nil {
			return err
		}
	}
	return tw.Flush()
}

// wrap writes a list after a label, comma-separated, breaking lines before width, later lines
// indented.
func wrap(b *strings.Builder, label string, names []string, width int) {
	if len(names) == 0 {
		b.WriteString(label + "(none)\n")
		return
	}
	wrapItems(b, label, names, ",", width)
}

// wrapText writes prose after a label as wrap does, its words as they are.
func wrapText(b *strings.Builder, label, text string, width int) {
	wrapItems(b, label, strings.Fields(text), "", width)
}

// wrapItems writes items after a label, each but the last followed by sep, breaking lines before
// width, later lines indented.
func wrapItems(b *strings.Builder, label string, items []string, sep string, width int) {
	indent := strings.Repeat(" ", len(label))
	line := label
	for i, n := range items {
		if i < len(items)-1 {
			n += sep
		}
		if len(line) > len(indent) && len(line)+1+len(n) > width {
			b.WriteString(strings.TrimRight(line, " ") + "\n")
			line = indent
		}
		if len(line) > len(indent) {
			line += " "
		}
		line += n
	}
	b.WriteString(line + "\n")
}

const width = 100

// WriteText writes the explanation for people: who and what, the result, a table of the
// categories with the rule that decided each, then both lists of each category (the chosen
// algorithm marked with *, markers noted), and what the policy names that this build cannot
// negotiate.
func (e *Explanation) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Client:  %s\n", e.Client.describe())
	fmt.Fprintf(&b, "Server:  %s\n", e.Server.describe())
	if e.Connects {
		fmt.Fprintf(&b, "Result:  connects: %s\n", brief(e.Negotiated))
	} else {
		fmt.Fprintf(&b, "Result:  FAILS in %s: %s\n", e.Failure.Category, e.Failure.Message)
		fmt.Fprintf(&b, "         OpenSSH prints: Unable to negotiate with HOST port PORT: %s\n", e.Failure.OpenSSHMessage)
	}
	if r := e.Record; r != nil {
		if r.ActivityType == "CONNECTED" {
			fmt.Fprintf(&b, "Record:  CONNECTED with kex %s, host-key-algorithm %s, ciphers %s, macs %s\n", r.Kex, r.HostKeyAlgorithm, r.Ciphers, r.Macs)
		} else {
			fmt.Fprintf(&b, "Record:  KEX_FAILURE with negotiation-category %q, message %q\n", r.NegotiationCategory, r.Message)
		}
	}
	b.WriteString("\n")
	rows := [][]string{{"CATEGORY", "CHOSEN", "RULE"}}
	for _, c := range e.Choices {
		chosen := c.Chosen
		if chosen == "" {
			chosen = "-"
		}
		rows = append(rows, []string{c.Category, chosen, c.Rule})
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	if err := table(w, rows); err != nil {
		return err
	}
	b.Reset()
	b.WriteString("\nThe lists, in order of preference (* the chosen algorithm):\n")
	writeLists(&b, e.Choices)
	if nn := e.Server.NotNegotiable; nn != nil && !nn.empty() {
		b.WriteString("\nNot negotiable by this build, so left out of the server's offer although the policy names them:\n")
		wrap(&b, "  ", nn.all(), width)
		if tf := e.TransferFamily; tf != nil {
			fmt.Fprintf(&b, "With every algorithm of the policy, as Transfer Family offers it, the result would be: %s\n", tf.Brief())
		} else {
			b.WriteString("With every algorithm of the policy, as Transfer Family offers it, the result would be the same.\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeLists writes each category's two lists; when both directions have the same lists (as
// almost every client and server has) they are written once.
func writeLists(b *strings.Builder, choices []negotiate.Choice) {
	for _, g := range ListGroups(choices) {
		b.WriteString(g.Title + "\n")
		wrap(b, "  client: ", mark(g.Choice.Category, g.Choice.Client, g.Choice.ClientIndex), width)
		wrap(b, "  server: ", mark(g.Choice.Category, g.Choice.Server, g.Choice.ServerIndex), width)
	}
}

// ListGroup is a category's lists as explain shows them, titled.
type ListGroup struct {
	Title  string
	Choice negotiate.Choice
}

// ListGroups orders the categories of a KEXINIT as on the wire; the two directions of the cipher,
// MAC and compression are one group, "(both directions)", when their lists and choice agree.
func ListGroups(choices []negotiate.Choice) []ListGroup {
	byCat := map[string]negotiate.Choice{}
	for _, c := range choices {
		byCat[c.Category] = c
	}
	out := []ListGroup{{"key exchange", byCat[negotiate.KeyExchange]}, {"host key", byCat[negotiate.HostKey]}}
	for _, pair := range [][3]string{
		{"cipher", negotiate.CipherClientToServer, negotiate.CipherServerToClient},
		{"MAC", negotiate.MACClientToServer, negotiate.MACServerToClient},
		{"compression", negotiate.CompressionClientToServer, negotiate.CompressionServerToClient},
	} {
		c2s, s2c := byCat[pair[1]], byCat[pair[2]]
		if slices.Equal(c2s.Client, s2c.Client) && slices.Equal(c2s.Server, s2c.Server) && c2s.Chosen == s2c.Chosen {
			out = append(out, ListGroup{pair[0] + " (both directions)", c2s})
			continue
		}
		out = append(out, ListGroup{pair[1], c2s}, ListGroup{pair[2], s2c})
	}
	return out
}

// mark returns list with the i-th (1-based) name starred and key exchange markers labelled.
func mark(category string, list []string, i int) []string {
	out := make([]string, len(list))
	for j, n := range list {
		switch {
		case j+1 == i:
			out[j] = "*" + n
		case category == negotiate.KeyExchange && negotiate.IsMarker(n):
			out[j] = n + " (marker)"
		default:
			out[j] = n
		}
	}
	return out
}

// WriteSummary writes one line per explanation: the server, and what the client negotiates with
// it or why it fails.
func WriteSummary(w io.Writer, es []*Explanation) error {
	if len(es) > 0 {
		if _, err := fmt.Fprintf(w, "Client:  %s\n\n", es[0].Client.describe()); err != nil {
			return err
		}
	}
	rows := [][]string{{"SERVER", "RESULT"}}
	for _, e := range es {
		name := e.Server.Policy
		if name == "" {
			name = e.Server.Address
		}
		o := Outcome{Connects: e.Connects, Negotiated: e.Negotiated, Failure: e.Failure}
		r := o.Brief()
		if e.TransferFamily != nil {
			r += " (with every algorithm of the policy: " + e.TransferFamily.Brief() + ")"
		}
		rows = append(rows, []string{name, r})
	}
	return table(w, rows)
}
