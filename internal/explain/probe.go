package explain

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/transferd/transferd/internal/negotiate"
	"github.com/transferd/transferd/internal/policy"
)

// ProbeReport is what `transferd probe` says of a server.
type ProbeReport struct {
	Address string           `json:"address"`
	Version string           `json:"version"`
	Offer   *negotiate.Offer `json:"offer"`
	// Matches are the security policies whose lists the offer matches exactly.
	Matches []PolicyMatch `json:"matches"`
	// Closest are, when nothing matches, the nearest policies with their differences.
	Closest []PolicyMatch `json:"closest,omitempty"`
	// Clients is the outcome for every built-in client profile.
	Clients []ClientOutcome `json:"clients"`
}

// PolicyMatch compares an offer with a security policy as one kind of server offers it.
type PolicyMatch struct {
	Policy string `json:"policy"`
	// As is "transferd" (what this build offers of the policy) or "transfer-family" (every
	// algorithm the policy names, as Transfer Family offers it).
	As string `json:"as"`
	// Differences says, per category, what differs; empty for an exact match.
	Differences []string `json:"differences"`
	score       int
}

// ClientOutcome is one built-in client against the probed server.
type ClientOutcome struct {
	Client string `json:"client"`
	Outcome
}

// Probe compares a probed server's offer with every server security policy and negotiates it
// with every built-in client profile.
func Probe(h *negotiate.Hello, cat *policy.Catalog, profiles *negotiate.Profiles) *ProbeReport {
	r := &ProbeReport{Address: h.Address, Version: h.Version, Offer: h.Offer, Matches: []PolicyMatch{}}
	var all []PolicyMatch
	for _, p := range cat.Policies() {
		if !p.IsServer() {
			continue
		}
		s := p.Support()
		for _, as := range []struct {
			name                      string
			kexs, ciphers, macs, keys []string
		}{
			{"transferd", negotiate.WithoutMarkers(negotiate.ServerOffer(negotiate.ServerAlgorithms{KeyExchanges: s.Kexs.Offered}, nil).KexAlgorithms),
				s.Ciphers.Offered, s.Macs.Offered, s.HostKeyAlgorithms.Offered},
			{"transfer-family", p.SshKexs, p.SshCiphers, p.SshMacs, p.HostKeyAlgorithms()},
		} {
			m := PolicyMatch{Policy: p.SecurityPolicyName, As: as.name, Differences: []string{}}
			m.compare("key exchange", negotiate.WithoutMarkers(h.Offer.KexAlgorithms), as.kexs)
			m.compare("cipher", h.Offer.EncryptionAlgorithmsClientToServer, as.ciphers)
			m.compare("MAC", h.Offer.MACAlgorithmsClientToServer, as.macs)
			if extra := minus(h.Offer.ServerHostKeyAlgorithms, as.keys); len(extra) > 0 {
				m.Differences = append(m.Differences, "host key: offers "+strings.Join(extra, ", ")+", which the policy does not allow")
				m.score += len(extra)
			}
			if !slices.Equal(h.Offer.EncryptionAlgorithmsClientToServer, h.Offer.EncryptionAlgorithmsServerToClient) ||
				!slices.Equal(h.Offer.MACAlgorithmsClientToServer, h.Offer.MACAlgorithmsServerToClient) {
				m.Differences = append(m.Differences, "the server's lists differ by direction; the client-to-server lists were compared")
			}
			if m.score == 0 {
				r.Matches = append(r.Matches, m)
			}
			all = append(all, m)
		}
	}
	if len(r.Matches) == 0 {
		sort.SliceStable(all, func(i, j int) bool { return all[i].score < all[j].score })
		for i, m := range all {
			if i >= 3 && m.score > all[2].score {
				break
			}
			r.Closest = append(r.Closest, m)
		}
	}
	for _, p := range profiles.All() {
		o := outcomeOf(negotiate.Negotiate(p.Offer(), h.Offer))
		r.Clients = append(r.Clients, ClientOutcome{Client: p.ID, Outcome: *o})
	}
	return r
}

// compare records how the offered list differs from the policy's.
func (m *PolicyMatch) compare(what string, offered, want []string) {
	missing, extra := minus(want, offered), minus(offered, want)
	var parts []string
	if len(missing) > 0 {
		parts = append(parts, "lacks "+strings.Join(missing, ", "))
	}
	if len(extra) > 0 {
		parts = append(parts, "adds "+strings.Join(extra, ", "))
	}
	m.score += len(missing) + len(extra)
	if len(parts) == 0 && !slices.Equal(offered, want) {
		parts = append(parts, "same algorithms in another order (the policy's: "+strings.Join(want, ", ")+")")
		m.score++
	}
	if len(parts) > 0 {
		m.Differences = append(m.Differences, what+": "+strings.Join(parts, "; "))
	}
}

// minus returns the names of a that are not in b, in a's order.
func minus(a, b []string) []string {
	var out []string
	for _, n := range a {
		if !slices.Contains(b, n) {
			out = append(out, n)
		}
	}
	return out
}

func (m *PolicyMatch) describe() string {
	if m.As == "transferd" {
		return m.Policy + " as this transferd offers it"
	}
	return m.Policy + " as Transfer Family offers it (every algorithm it names)"
}

// WriteText writes the report for people.
func (r *ProbeReport) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Server:  %s\nVersion: %s\n\nOffer:\n", r.Address, r.Version)
	o := r.Offer
	wrap(&b, "  key exchange:  ", mark(negotiate.KeyExchange, o.KexAlgorithms, 0), width)
	wrap(&b, "  host key:      ", o.ServerHostKeyAlgorithms, width)
	pairs := []struct {
		name     string
		c2s, s2c []string
	}{
		{"cipher", o.EncryptionAlgorithmsClientToServer, o.EncryptionAlgorithmsServerToClient},
		{"MAC", o.MACAlgorithmsClientToServer, o.MACAlgorithmsServerToClient},
		{"compression", o.CompressionAlgorithmsClientToServer, o.CompressionAlgorithmsServerToClient},
	}
	for _, p := range pairs {
		if slices.Equal(p.c2s, p.s2c) {
			wrap(&b, fmt.Sprintf("  %-15s", p.name+":"), p.c2s, width)
			continue
		}
		wrap(&b, fmt.Sprintf("  %-15s", p.name+" c->s:"), p.c2s, width)
		wrap(&b, fmt.Sprintf("  %-15s", p.name+" s->c:"), p.s2c, width)
	}
	b.WriteString("\nSecurity policies:\n")
	if len(r.Matches) > 0 {
		for _, m := range r.Matches {
			fmt.Fprintf(&b, "  matches %s\n", m.describe())
			for _, d := range m.Differences {
				fmt.Fprintf(&b, "    note: %s\n", d)
			}
		}
	} else {
		b.WriteString("  no policy matches exactly; the closest:\n")
		for _, m := range r.Closest {
			fmt.Fprintf(&b, "  %s (%d differences)\n", m.describe(), m.score)
			for _, d := range m.Differences {
				fmt.Fprintf(&b, "    %s\n", d)
			}
		}
	}
	b.WriteString("\nBuilt-in clients (transferd explain --list-clients names them):\n")
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	rows := [][]string{{"  CLIENT", "RESULT"}}
	for _, c := range r.Clients {
		rows = append(rows, []string{"  " + c.Client, c.Brief()})
	}
	return table(w, rows)
}

// WriteProfiles writes the built-in client profiles: ID and name, and where the lists come from.
func WriteProfiles(w io.Writer, profiles *negotiate.Profiles) error {
	var b strings.Builder
	for _, p := range profiles.All() {
		fmt.Fprintf(&b, "%s\n  %s\n", p.ID, p.Name)
		wrapText(&b, "  source: ", p.Source, width)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// ProfileList is the JSON form of WriteProfiles: every profile with its lists.
func ProfileList(profiles *negotiate.Profiles) []*negotiate.Profile { return profiles.All() }
