package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/transferd/transferd/internal/explain"
	"github.com/transferd/transferd/internal/negotiate"
	"github.com/transferd/transferd/internal/policy"
)

// parseInterspersed parses flags that may come before, between and after positional
// arguments, and returns the positional ones.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// hostKeysFlag is --host-keys: the host key types a transferd server has.
type hostKeysFlag struct {
	types []string
	set   bool
}

func (h *hostKeysFlag) String() string { return strings.Join(h.types, ",") }
func (h *hostKeysFlag) Set(v string) error {
	t, err := explain.ParseHostKeyTypes(v)
	if err != nil {
		return err
	}
	h.types, h.set = t, true
	return nil
}

func newHostKeysFlag() *hostKeysFlag {
	return &hostKeysFlag{types: explain.DefaultHostKeyTypes}
}

const hostKeysUsage = "host key types the transferd server has, comma-separated (ssh-rsa, ssh-ed25519, ecdsa-sha2-nistp256/384/521): its RSA key from creation plus any imported"

func explainCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("explain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	policyName := fs.String("policy", "", `security policy of a transferd server, as this build offers it; several, comma-separated, or "all" (every server policy) give one line per policy`)
	server := fs.String("server", "", "HOST:PORT of a live SSH server to probe for its offer, instead of --policy")
	client := fs.String("client", "", "built-in client profile ID (see --list-clients)")
	offerFile := fs.String("client-offer", "", `file holding a client's recorded offer: the client-offer object of an activity record, or a whole record line ("-" reads stdin)`)
	hostKeys := newHostKeysFlag()
	fs.Var(hostKeys, "host-keys", hostKeysUsage+" (with --policy)")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	list := fs.Bool("list-clients", false, "list the built-in client profiles and where their lists come from")
	timeout := fs.Duration("timeout", 10*time.Second, "with --server, how long to wait for its offer")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: transferd explain (--policy NAME[,NAME...]|all | --server HOST:PORT) (--client PROFILE | --client-offer FILE) [--json]
       transferd explain --list-clients [--json]

Predicts the SSH negotiation between a client and a server before they meet: for the key
exchange, the host key, and the cipher, MAC and compression of each direction, both lists in order,
the algorithm chosen and the rule that chose it (the first client entry the server also offers,
RFC 4253 section 7.1; an AEAD cipher makes the MAC implicit; ext-info-c and kex-strict-* are
markers, not algorithms), or the failure as OpenSSH prints it. With --policy, the server is a
transferd server as this build offers the policy (algorithms it cannot negotiate are left out and
named), and the activity record it would write is shown; with several policies, one line per
policy says what the client negotiates with each. Flags:
`)
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("explain: unexpected argument %q", pos[0])
	}
	profiles, err := negotiate.NewProfiles()
	if err != nil {
		return err
	}
	if *list {
		if *asJSON {
			return explain.WriteJSON(stdout, explain.ProfileList(profiles))
		}
		return explain.WriteProfiles(stdout, profiles)
	}
	if (*policyName == "") == (*server == "") {
		return errors.New("explain: give either --policy NAME or --server HOST:PORT")
	}
	if (*client == "") == (*offerFile == "") {
		return errors.New("explain: give either --client PROFILE or --client-offer FILE (transferd explain --list-clients names the profiles)")
	}
	if hostKeys.set && *server != "" {
		return errors.New("explain: --host-keys describes a transferd server of --policy; a --server says its own host keys")
	}
	var c *explain.Client
	if *client != "" {
		p, err := profiles.Lookup(*client)
		if err != nil {
			return fmt.Errorf("explain: --client: %w", err)
		}
		c = explain.ProfileClient(p)
	} else {
		version, offer, err := readOffer(*offerFile)
		if err != nil {
			return fmt.Errorf("explain: --client-offer %s: %w", *offerFile, err)
		}
		c = explain.RecordedClient(*offerFile, version, offer)
	}
	if *policyName != "" {
		policies, err := serverPolicies(*policyName)
		if err != nil {
			return fmt.Errorf("explain: --policy: %w", err)
		}
		var es []*explain.Explanation
		for _, p := range policies {
			es = append(es, explain.Explain(c, explain.PolicyServer(p, hostKeys.types)))
		}
		switch {
		case len(es) > 1 && *asJSON:
			return explain.WriteJSON(stdout, es)
		case len(es) > 1:
			return explain.WriteSummary(stdout, es)
		case *asJSON:
			return explain.WriteJSON(stdout, es[0])
		}
		return es[0].WriteText(stdout)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	h, err := negotiate.Probe(ctx, *server)
	if err != nil {
		return fmt.Errorf("explain: --server: %w", err)
	}
	e := explain.Explain(c, explain.ProbedServer(h))
	if *asJSON {
		return explain.WriteJSON(stdout, e)
	}
	return e.WriteText(stdout)
}

// serverPolicies looks up a comma-separated list of server security policies, or every one for
// "all".
func serverPolicies(list string) ([]*policy.Policy, error) {
	if list == "all" {
		cat, err := policy.NewCatalog()
		if err != nil {
			return nil, err
		}
		var out []*policy.Policy
		for _, p := range cat.Policies() {
			if p.IsServer() {
				out = append(out, p)
			}
		}
		return out, nil
	}
	var out []*policy.Policy
	for _, name := range strings.Split(list, ",") {
		p, err := serverPolicy(strings.TrimSpace(name))
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// serverPolicy looks up a security policy for servers.
func serverPolicy(name string) (*policy.Policy, error) {
	cat, err := policy.NewCatalog()
	if err != nil {
		return nil, err
	}
	p, err := cat.Lookup(name)
	if err != nil {
		return nil, err
	}
	if !p.IsServer() {
		return nil, fmt.Errorf("%s is a security policy for SFTP connectors, not for servers", name)
	}
	return p, nil
}

// readOffer reads a recorded offer from a file, or stdin for "-".
func readOffer(file string) (string, *negotiate.Offer, error) {
	var data []byte
	var err error
	if file == "-" {
		data, err = io.ReadAll(os.Stdin)
	} else {
		data, err = os.ReadFile(file)
	}
	if err != nil {
		return "", nil, err
	}
	return explain.ReadOffer(data)
}

func probeCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	timeout := fs.Duration("timeout", 10*time.Second, "how long to wait for the server's identification line and offer")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: transferd probe [--json] [--timeout 10s] HOST:PORT

Connects to any SSH server (a Transfer Family endpoint, OpenSSH, transferd) as a client, reads its
identification line and its offer (the KEXINIT servers send at once), and disconnects without
authenticating. Prints the server's algorithm lists, the security policies they match exactly (or
the closest, with the differences), and the outcome for every built-in client profile. Flags:
`)
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("probe: give one HOST:PORT (try: transferd probe 127.0.0.1:2222)")
	}
	cat, err := policy.NewCatalog()
	if err != nil {
		return err
	}
	profiles, err := negotiate.NewProfiles()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	h, err := negotiate.Probe(ctx, pos[0])
	if err != nil {
		return err
	}
	r := explain.Probe(h, cat, profiles)
	if *asJSON {
		return explain.WriteJSON(stdout, r)
	}
	return r.WriteText(stdout)
}

func policyImpactCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("policy-impact", flag.ContinueOnError)
	fs.SetOutput(stderr)
	policyName := fs.String("policy", "", "the security policy the servers would change to (required)")
	var files []string
	fs.Func("logs", "activity log (JSON lines as transferd serve --activity-log writes them; \"-\" reads stdin); repeat the flag or list more files after it", func(v string) error {
		files = append(files, v)
		return nil
	})
	hostKeys := newHostKeysFlag()
	fs.Var(hostKeys, "host-keys", hostKeysUsage)
	var servers []string
	fs.Func("server", "only the clients of this server (ID s-... or ARN); repeat for more", func(v string) error {
		id, err := explain.ServerFilter(v)
		servers = append(servers, id)
		return err
	})
	asJSON := fs.Bool("json", false, "print JSON instead of text")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: transferd policy-impact --policy NEW --logs FILE [FILE...] [--server ID] [--host-keys TYPES] [--json]

Reads activity logs and reports, for each distinct client (server, identification line, source IP,
user) of their CONNECTED and KEX_FAILURE records, whether it would still connect under the security
policy NEW as this build offers it, and what it would negotiate instead of what the log says it
negotiated, with totals: the table to read before UpdateServer changes a policy. A prediction is
made from the client's recorded offer (servers record them with RecordClientOffer) or, failing
that, from the built-in profile its identification line names (marked "assumed"). Lines that are
not activity records are skipped and counted. Flags:
`)
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	files = append(files, pos...)
	if *policyName == "" || len(files) == 0 {
		return errors.New("policy-impact: --policy and at least one log (--logs FILE) are required")
	}
	p, err := serverPolicy(*policyName)
	if err != nil {
		return fmt.Errorf("policy-impact: --policy: %w", err)
	}
	profiles, err := negotiate.NewProfiles()
	if err != nil {
		return err
	}
	var logs []explain.Log
	for _, f := range files {
		if f == "-" {
			logs = append(logs, explain.Log{Name: "stdin", R: os.Stdin})
			continue
		}
		fh, err := os.Open(f)
		if err != nil {
			return fmt.Errorf("policy-impact: --logs: %w", err)
		}
		defer fh.Close()
		logs = append(logs, explain.Log{Name: f, R: fh})
	}
	im, err := explain.PolicyImpact(explain.PolicyServer(p, hostKeys.types), profiles, logs, servers...)
	if err != nil {
		return fmt.Errorf("policy-impact: %w", err)
	}
	if *asJSON {
		return explain.WriteJSON(stdout, im)
	}
	return im.WriteText(stdout)
}
