// Package explain writes transferd's answers to "which key exchange, cipher and MAC will this
// client and this server use, and why?": `transferd explain` (one client against one server, each
// category with both lists, the choice and the rule that made it, or the failure in OpenSSH's
// words), `transferd probe` (a server's offer, the security policies it matches and the outcome
// for every built-in client) and `transferd policy-impact` (what a change of security policy does
// to the clients an activity log has seen). The negotiation itself is the negotiate package's,
// the same code the SSH server computes its records with. Every report is a readable table by
// default and JSON for machines.
package explain

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/transferd/transferd/internal/negotiate"
	"github.com/transferd/transferd/internal/policy"
)

// HostKeyTypes are the types a host key may have, as DescribeHostKey's HostKeyType and
// ssh-keygen name them.
var HostKeyTypes = []string{"ssh-rsa", "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521"}

// DefaultHostKeyTypes is what a transferd server has unless keys were imported: the RSA-3072 key
// made when it was created.
var DefaultHostKeyTypes = []string{"ssh-rsa"}

// ParseHostKeyTypes reads a comma-separated list of host key types, e.g. "ssh-rsa,ssh-ed25519".
func ParseHostKeyTypes(list string) ([]string, error) {
	var out []string
	for _, t := range strings.Split(list, ",") {
		t = strings.TrimSpace(t)
		if !slices.Contains(HostKeyTypes, t) {
			return nil, fmt.Errorf("%q is not a host key type; use %s", t, strings.Join(HostKeyTypes, ", "))
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

// Client is the client side of an explanation.
type Client struct {
	// Kind is "profile" (a built-in client profile) or "recorded offer".
	Kind    string           `json:"kind"`
	Profile *ProfileInfo     `json:"profile,omitempty"`
	File    string           `json:"file,omitempty"`
	Version string           `json:"version,omitempty"`
	Offer   *negotiate.Offer `json:"offer"`
}

// ProfileInfo names a built-in client profile and says where its lists come from.
type ProfileInfo struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Source string `json:"source"`
}

// ProfileClient is a built-in profile as the client.
func ProfileClient(p *negotiate.Profile) *Client {
	return &Client{Kind: "profile", Profile: &ProfileInfo{ID: p.ID, Name: p.Name, Source: p.Source}, Offer: p.Offer()}
}

// RecordedClient is an offer read from file; version is the client's identification line when
// the file said it.
func RecordedClient(file, version string, o *negotiate.Offer) *Client {
	return &Client{Kind: "recorded offer", File: file, Version: version, Offer: o}
}

func (c *Client) describe() string {
	switch {
	case c.Profile != nil:
		return c.Profile.ID + ": " + c.Profile.Name
	case c.Version != "":
		return "the offer recorded in " + c.File + " (" + c.Version + ")"
	}
	return "the offer recorded in " + c.File
}

// ReadOffer reads a recorded offer: the client-offer object of an activity record, or a whole
// record holding one (whose client, the identification line, it also returns).
func ReadOffer(data []byte) (version string, o *negotiate.Offer, err error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var raw map[string]json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return "", nil, fmt.Errorf("not a JSON object: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return "", nil, errors.New("holds more than one JSON value; give one offer or one activity record")
	}
	if _, isRecord := raw["activity-type"]; !isRecord {
		o, err := negotiate.ParseOfferJSON(data)
		return "", o, err
	}
	var r struct {
		Type   string          `json:"activity-type"`
		Client string          `json:"client"`
		Offer  json.RawMessage `json:"client-offer"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return "", nil, fmt.Errorf("an activity record that does not decode: %w", err)
	}
	if len(r.Offer) == 0 || string(r.Offer) == "null" {
		return "", nil, fmt.Errorf("the %s record has no client-offer: its server did not record offers (the server setting RecordClientOffer)", r.Type)
	}
	if o, err = negotiate.ParseOfferJSON(r.Offer); err != nil {
		return "", nil, fmt.Errorf("client-offer: %w", err)
	}
	return r.Client, o, nil
}

// Server is the server side of an explanation.
type Server struct {
	// Kind is "policy" (a transferd server with a security policy, as this build offers it) or
	// "server" (an offer probed from a live server).
	Kind         string   `json:"kind"`
	Policy       string   `json:"policy,omitempty"`
	HostKeyTypes []string `json:"host-key-types,omitempty"`
	// NotNegotiable lists, per category, what the policy names but this build cannot
	// negotiate: the server offers the rest.
	NotNegotiable *Lists           `json:"not-negotiable,omitempty"`
	Address       string           `json:"address,omitempty"`
	Version       string           `json:"version,omitempty"`
	Offer         *negotiate.Offer `json:"offer"`
	// full is the policy with every algorithm it names, as Transfer Family offers it.
	full *negotiate.Offer
}

// Lists holds algorithm names by category, under the API's member names.
type Lists struct {
	SshKexs              []string `json:"SshKexs"`
	SshCiphers           []string `json:"SshCiphers"`
	SshMacs              []string `json:"SshMacs"`
	SshHostKeyAlgorithms []string `json:"SshHostKeyAlgorithms"`
}

func (l *Lists) empty() bool {
	return len(l.SshKexs)+len(l.SshCiphers)+len(l.SshMacs)+len(l.SshHostKeyAlgorithms) == 0
}

// all returns every name with its category, for sentences.
func (l *Lists) all() []string {
	var out []string
	add := func(what string, names []string) {
		for _, n := range names {
			out = append(out, n+" ("+what+")")
		}
	}
	add("key exchange", l.SshKexs)
	add("cipher", l.SshCiphers)
	add("MAC", l.SshMacs)
	add("host key", l.SshHostKeyAlgorithms)
	return out
}

// PolicyServer is a transferd server with security policy p and host keys of keyTypes: what this
// build offers of the policy (ServerOffer over policy.Support's Offered lists), the same offer
// the running server computes its records from.
func PolicyServer(p *policy.Policy, keyTypes []string) *Server {
	s := p.Support()
	full := negotiate.ServerOffer(negotiate.ServerAlgorithms{KeyExchanges: p.SshKexs, Ciphers: p.SshCiphers, MACs: p.SshMacs,
		HostKeyAlgorithms: p.HostKeyAlgorithms()}, keyTypes)
	// Transfer Family's own markers are not known; the comparison is about algorithms.
	full.KexAlgorithms = negotiate.WithoutMarkers(full.KexAlgorithms)
	return &Server{
		Kind:         "policy",
		Policy:       p.SecurityPolicyName,
		HostKeyTypes: slices.Clone(keyTypes),
		NotNegotiable: &Lists{SshKexs: s.Kexs.Unsupported, SshCiphers: s.Ciphers.Unsupported, SshMacs: s.Macs.Unsupported,
			SshHostKeyAlgorithms: s.HostKeyAlgorithms.Unsupported},
		Offer: negotiate.ServerOffer(negotiate.ServerAlgorithms{KeyExchanges: s.Kexs.Offered, Ciphers: s.Ciphers.Offered,
			MACs: s.Macs.Offered, HostKeyAlgorithms: s.HostKeyAlgorithms.Offered}, keyTypes),
		full: full,
	}
}

// ProbedServer is a live server's offer.
func ProbedServer(h *negotiate.Hello) *Server {
	return &Server{Kind: "server", Address: h.Address, Version: h.Version, Offer: h.Offer}
}

func (s *Server) describe() string {
	if s.Kind == "policy" {
		return fmt.Sprintf("security policy %s as this transferd offers it (host keys: %s)", s.Policy, strings.Join(s.HostKeyTypes, ", "))
	}
	return fmt.Sprintf("%s (%s), as it offered on probing", s.Address, s.Version)
}

// Explanation is one client against one server.
type Explanation struct {
	Client *Client `json:"client"`
	Server *Server `json:"server"`
	// Connects says whether the negotiation succeeds.
	Connects   bool                  `json:"connects"`
	Negotiated *negotiate.Algorithms `json:"negotiated,omitempty"`
	Failure    *Failure              `json:"failure,omitempty"`
	// Record is what a transferd server's CONNECTED or KEX_FAILURE record says of it (servers of
	// kind policy only).
	Record *Record `json:"record,omitempty"`
	// Choices holds every category: both lists, the choice and its rule.
	Choices []negotiate.Choice `json:"choices"`
	// TransferFamily is the outcome against the policy with every algorithm it names, as
	// Transfer Family offers it, when that differs from this build's.
	TransferFamily *Outcome `json:"transfer-family,omitempty"`
}

// Failure is a failed negotiation as the OpenSSH client reports it.
type Failure struct {
	Category string `json:"category"`
	Message  string `json:"message"`
	// OpenSSHMessage is what sftp and ssh print after "Unable to negotiate with HOST port PORT: ".
	OpenSSHMessage string   `json:"openssh-message"`
	ClientOffered  []string `json:"client-offered"`
	ServerOffered  []string `json:"server-offered"`
}

// Record is the algorithms part of a transferd activity record: CONNECTED's kex,
// host-key-algorithm, ciphers and macs, or KEX_FAILURE's.
type Record struct {
	ActivityType        string   `json:"activity-type"`
	Kex                 string   `json:"kex,omitempty"`
	HostKeyAlgorithm    string   `json:"host-key-algorithm,omitempty"`
	Ciphers             string   `json:"ciphers,omitempty"`
	Macs                string   `json:"macs,omitempty"`
	Message             string   `json:"message,omitempty"`
	NegotiationCategory string   `json:"negotiation-category,omitempty"`
	ClientOffered       []string `json:"client-offered,omitempty"`
	ServerOffered       []string `json:"server-offered,omitempty"`
}

// Outcome is a negotiation's result in brief.
type Outcome struct {
	Connects   bool                  `json:"connects"`
	Negotiated *negotiate.Algorithms `json:"negotiated,omitempty"`
	Failure    *Failure              `json:"failure,omitempty"`
}

func outcomeOf(o *negotiate.Outcome) *Outcome {
	if o.Failure != nil {
		f := o.Failure
		return &Outcome{Failure: &Failure{Category: f.Category, Message: f.Message, OpenSSHMessage: f.ClientMessage(),
			ClientOffered: f.ClientOffered, ServerOffered: f.ServerOffered}}
	}
	a := o.Algorithms()
	return &Outcome{Connects: true, Negotiated: &a}
}

func (o *Outcome) same(p *Outcome) bool {
	if o.Connects != p.Connects {
		return false
	}
	if o.Connects {
		return *o.Negotiated == *p.Negotiated
	}
	return o.Failure.Category == p.Failure.Category
}

// Explain negotiates client against server.
func Explain(c *Client, s *Server) *Explanation {
	o := negotiate.Negotiate(c.Offer, s.Offer)
	out := outcomeOf(o)
	e := &Explanation{Client: c, Server: s, Connects: out.Connects, Negotiated: out.Negotiated, Failure: out.Failure, Choices: o.Choices}
	if s.Kind == "policy" {
		e.Record = recordOf(o)
		if s.full != nil && !s.NotNegotiable.empty() {
			if tf := outcomeOf(negotiate.Negotiate(c.Offer, s.full)); !tf.same(out) {
				e.TransferFamily = tf
			}
		}
	}
	return e
}

// recordOf is what transferd's server records for an outcome (internal/sshd does the same).
func recordOf(o *negotiate.Outcome) *Record {
	if f := o.ServerFailure; f != nil {
		return &Record{ActivityType: "KEX_FAILURE", Kex: strings.Join(f.ClientOffered, ","), Message: f.Message,
			NegotiationCategory: f.Category, ClientOffered: f.ClientOffered, ServerOffered: negotiate.WithoutMarkers(f.ServerOffered)}
	}
	a := o.Algorithms()
	return &Record{ActivityType: "CONNECTED", Kex: a.KeyExchange, HostKeyAlgorithm: a.HostKey, Ciphers: a.Ciphers(), Macs: a.MACs()}
}

// brief says what was negotiated in one line.
func brief(a *negotiate.Algorithms) string {
	cipher, mac := a.ClientToServer.Cipher, a.ClientToServer.MAC
	if a.ServerToClient.Cipher != cipher || a.ServerToClient.MAC != mac {
		cipher, mac = a.Ciphers(), a.MACs()
	}
	s := "kex " + a.KeyExchange
	if a.HostKey != "" { // records of Transfer Family itself do not say it
		s += ", host key " + a.HostKey
	}
	s += fmt.Sprintf(", cipher %s, MAC %s", cipher, mac)
	if c := a.ClientToServer.Compression; c != "none" || a.ServerToClient.Compression != "none" {
		s += ", compression " + c + "," + a.ServerToClient.Compression
	}
	return s
}

// Brief says in one line whether it connects and with what, or why it fails.
func (o *Outcome) Brief() string {
	if o.Connects {
		return "connects: " + brief(o.Negotiated)
	}
	return "FAILS: " + o.Failure.Message
}
