package policy

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"golang.org/x/crypto/ssh"
)

// Category splits one of a policy's algorithm lists by whether this build can negotiate it.
// Both lists keep the policy's order and are never nil.
type Category struct {
	// Offered are the algorithms this build implements: what a server configured with the
	// policy offers. (x/crypto/ssh adds curve25519-sha256@libssh.org by itself whenever
	// curve25519-sha256 is configured.)
	Offered []string `json:"Offered"`
	// Unsupported are the algorithms this build cannot negotiate. x/crypto/ssh would drop
	// them silently, so they are reported instead (see Warnings).
	Unsupported []string `json:"Unsupported"`
}

// Support is what this build can negotiate of a policy, one Category per algorithm list.
type Support struct {
	Kexs, Ciphers, Macs, HostKeyAlgorithms Category
}

// Support compares p with what the linked golang.org/x/crypto/ssh implements. It is computed,
// not recorded, so upgrading x/crypto updates it.
func (p *Policy) Support() Support {
	impl := currentImplementation()
	return Support{
		Kexs:              split(p.SshKexs, impl.kexs),
		Ciphers:           split(p.SshCiphers, impl.ciphers),
		Macs:              split(p.SshMacs, impl.macs),
		HostKeyAlgorithms: split(p.HostKeyAlgorithms(), impl.hostKeys),
	}
}

func split(algs []string, implemented func(string) bool) Category {
	c := Category{Offered: []string{}, Unsupported: []string{}}
	for _, a := range algs {
		if implemented(a) {
			c.Offered = append(c.Offered, a)
		} else {
			c.Unsupported = append(c.Unsupported, a)
		}
	}
	return c
}

// implementation answers "can x/crypto/ssh negotiate this name?" per algorithm kind.
type implementation struct {
	kexs, ciphers, macs, hostKeys func(string) bool
}

// currentImplementation reads the linked x/crypto/ssh. A name is implemented when it is in
// SupportedAlgorithms or InsecureAlgorithms (diffie-hellman-group14-sha1, for example, is only
// in the latter and must still be offered when a policy lists it). For key exchanges, ciphers
// and MACs a name is also implemented when Config.SetDefaults keeps it: SetDefaults filters by
// the package's own implementation tables, and x/crypto implements curve25519-sha256@libssh.org
// (an alias it also adds by itself) without listing it in either set.
func currentImplementation() implementation {
	sup, insecure := ssh.SupportedAlgorithms(), ssh.InsecureAlgorithms()
	listed := func(lists ...[]string) func(string) bool {
		return func(name string) bool {
			for _, l := range lists {
				if slices.Contains(l, name) {
					return true
				}
			}
			return false
		}
	}
	kept := func(inLists func(string) bool, keep func(name string) []string) func(string) bool {
		return func(name string) bool {
			return inLists(name) || slices.Contains(keep(name), name)
		}
	}
	return implementation{
		kexs: kept(listed(sup.KeyExchanges, insecure.KeyExchanges), func(name string) []string {
			c := ssh.Config{KeyExchanges: []string{name}}
			c.SetDefaults()
			return c.KeyExchanges
		}),
		ciphers: kept(listed(sup.Ciphers, insecure.Ciphers), func(name string) []string {
			c := ssh.Config{Ciphers: []string{name}}
			c.SetDefaults()
			return c.Ciphers
		}),
		macs: kept(listed(sup.MACs, insecure.MACs), func(name string) []string {
			c := ssh.Config{MACs: []string{name}}
			c.SetDefaults()
			return c.MACs
		}),
		hostKeys: listed(sup.HostKeys, insecure.HostKeys),
	}
}

// category names one algorithm list for people and for JSON.
type category struct {
	member           string // the API member, e.g. SshKexs
	singular, plural string // for sentences
	get              func(Support) Category
}

func categories() []category {
	return []category{
		{"SshKexs", "key exchange", "key exchanges", func(s Support) Category { return s.Kexs }},
		{"SshCiphers", "cipher", "ciphers", func(s Support) Category { return s.Ciphers }},
		{"SshMacs", "MAC", "MACs", func(s Support) Category { return s.Macs }},
		{"SshHostKeyAlgorithms", "host key algorithm", "host key algorithms", func(s Support) Category { return s.HostKeyAlgorithms }},
	}
}

// Warnings returns one sentence per algorithm list of p that names algorithms this build
// cannot negotiate, or nil when it can negotiate everything. A server logs them at start.
func (p *Policy) Warnings() []string {
	s := p.Support()
	var out []string
	for _, c := range categories() {
		missing := c.get(s).Unsupported
		switch len(missing) {
		case 0:
		case 1:
			out = append(out, fmt.Sprintf("security policy %s: %s %s is not implemented by this build and will not be offered",
				p.SecurityPolicyName, c.singular, missing[0]))
		default:
			out = append(out, fmt.Sprintf("security policy %s: %s %s are not implemented by this build and will not be offered",
				p.SecurityPolicyName, c.plural, joinAnd(missing)))
		}
	}
	return out
}

func joinAnd(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// algorithmLists holds one list per category under the API's member names.
type algorithmLists struct {
	SshKexs              []string `json:"SshKexs"`
	SshCiphers           []string `json:"SshCiphers"`
	SshMacs              []string `json:"SshMacs"`
	SshHostKeyAlgorithms []string `json:"SshHostKeyAlgorithms"`
}

// description is the document Describe writes: DescribeSecurityPolicy's response plus a
// Transferd member.
type description struct {
	SecurityPolicy *Policy `json:"SecurityPolicy"`
	Transferd      struct {
		Negotiable    algorithmLists `json:"Negotiable"`
		NotNegotiable algorithmLists `json:"NotNegotiable"`
	} `json:"Transferd"`
}

// Describe returns indented JSON for `transferd policies describe`: DescribeSecurityPolicy's
// response ({"SecurityPolicy": {...}}), with SshHostKeyAlgorithms filled in for server policies
// from transferd's rule, plus a "Transferd" member listing what this build can
// ("Negotiable") and cannot ("NotNegotiable") negotiate. Lists are never null.
func (p *Policy) Describe() ([]byte, error) {
	var d description
	d.SecurityPolicy = p.clone()
	d.SecurityPolicy.SshHostKeyAlgorithms = p.HostKeyAlgorithms()
	s := p.Support()
	d.Transferd.Negotiable = algorithmLists{s.Kexs.Offered, s.Ciphers.Offered, s.Macs.Offered, s.HostKeyAlgorithms.Offered}
	d.Transferd.NotNegotiable = algorithmLists{s.Kexs.Unsupported, s.Ciphers.Unsupported, s.Macs.Unsupported, s.HostKeyAlgorithms.Unsupported}
	out, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("describe security policy %s: %w", p.SecurityPolicyName, err)
	}
	return out, nil
}

// WriteList writes the table for `transferd policies list`: a header, then one line per policy
// in catalog order with its name, type, whether it is FIPS, and what this build cannot
// negotiate of it.
func (c *Catalog) WriteList(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	rows := [][]string{{"NAME", "TYPE", "FIPS", "THIS BUILD"}}
	for _, p := range c.policies {
		fips := "no"
		if p.Fips {
			fips = "yes"
		}
		s := p.Support()
		var missing []string
		for _, cat := range categories() {
			missing = append(missing, cat.get(s).Unsupported...)
		}
		negotiable := "all algorithms negotiable"
		if len(missing) > 0 {
			negotiable = fmt.Sprintf("%d not negotiable: %s", len(missing), strings.Join(missing, ", "))
		}
		rows = append(rows, []string{p.SecurityPolicyName, p.Type, fips, negotiable})
	}
	for _, row := range rows {
		if _, err := io.WriteString(tw, strings.Join(row, "\t")+"\n"); err != nil {
			return fmt.Errorf("write security policy list: %w", err)
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write security policy list: %w", err)
	}
	return nil
}
