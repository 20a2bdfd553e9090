package negotiate

import (
	"fmt"
	"slices"
	"strings"
)

// Categories, named as golang.org/x/crypto/ssh names them in AlgorithmNegotiationError.What
// (and so in KEX_FAILURE records' negotiation-category).
const (
	KeyExchange               = "key exchange"
	HostKey                   = "host key"
	CipherClientToServer      = "client to server cipher"
	CipherServerToClient      = "server to client cipher"
	MACClientToServer         = "client to server MAC"
	MACServerToClient         = "server to client MAC"
	CompressionClientToServer = "client to server compression"
	CompressionServerToClient = "server to client compression"
)

// ServerVersion is the identification line transferd's SSH server sends.
const ServerVersion = "SSH-2.0-transferd"

// Implicit is the MAC of an AEAD cipher, written as OpenSSH writes it.
const Implicit = "<implicit>"

// serverOrder is the order in which x/crypto/ssh's server (transferd) checks the categories and
// reports the first without a common algorithm (findAgreedAlgorithms).
var serverOrder = []string{
	KeyExchange, HostKey,
	CipherClientToServer, CipherServerToClient,
	MACClientToServer, MACServerToClient,
	CompressionClientToServer, CompressionServerToClient,
}

// clientOrder is the order in which the OpenSSH client checks them (kex_choose_conf: key
// exchange, host key, then for its incoming direction and then its outgoing one the cipher,
// MAC and compression), and so the failure it prints.
var clientOrder = []string{
	KeyExchange, HostKey,
	CipherServerToClient, MACServerToClient, CompressionServerToClient,
	CipherClientToServer, MACClientToServer, CompressionClientToServer,
}

// aeadCiphers are the ciphers that authenticate their packets themselves, so that no MAC is
// negotiated for them (OpenSSH's cipher_authlen > 0).
var aeadCiphers = []string{
	"chacha20-poly1305@openssh.com",
	"aes128-gcm@openssh.com",
	"aes256-gcm@openssh.com",
}

// IsAEAD reports whether cipher is an AEAD cipher, whose MAC is implicit.
func IsAEAD(cipher string) bool { return slices.Contains(aeadCiphers, cipher) }

// IsMarker reports whether a key exchange name is a protocol marker rather than an algorithm:
// ext-info-c/ext-info-s (RFC 8308) and OpenSSH's strict key exchange kex-strict-c-v00@openssh.com
// and kex-strict-s-v00@openssh.com. Markers are never chosen.
func IsMarker(name string) bool {
	return strings.HasPrefix(name, "ext-info-") || strings.HasPrefix(name, "kex-strict-")
}

// WithoutMarkers returns the names of list that are not markers.
func WithoutMarkers(list []string) []string {
	out := make([]string, 0, len(list))
	for _, a := range list {
		if !IsMarker(a) {
			out = append(out, a)
		}
	}
	return out
}

// Choice is the outcome of one category.
type Choice struct {
	Category string `json:"category"`
	// Client and Server are the two lists as offered (key exchange markers included).
	Client []string `json:"client"`
	Server []string `json:"server"`
	// Chosen is the algorithm agreed on, Implicit for the MAC of an AEAD cipher, "" when none.
	Chosen string `json:"chosen"`
	// ClientIndex and ServerIndex are Chosen's 1-based positions in Client and Server; 0 when
	// nothing was chosen or the MAC is implicit.
	ClientIndex int `json:"client-index"`
	ServerIndex int `json:"server-index"`
	// Rule says in words which rule made the choice, or why there is none.
	Rule string `json:"rule"`
}

// Failed reports whether the category has no common algorithm.
func (c *Choice) Failed() bool { return c.Chosen == "" }

// Failure is a negotiation that ends the connection: the category without a common algorithm
// and both lists.
type Failure struct {
	Category string `json:"category"`
	// Message is what OpenSSH says about the category, e.g. "no matching cipher found".
	Message string `json:"message"`
	// ClientOffered and ServerOffered are the two lists of the category as offered.
	ClientOffered []string `json:"client-offered"`
	ServerOffered []string `json:"server-offered"`
}

// ClientMessage is the failure as the OpenSSH client prints it after "Unable to negotiate with
// HOST port PORT: ", the server's list ("their offer") as the server sent it.
func (f *Failure) ClientMessage() string {
	return f.Message + ". Their offer: " + strings.Join(f.ServerOffered, ",")
}

// Message returns the words OpenSSH uses for a category without a common algorithm.
func Message(category string) string {
	switch {
	case category == KeyExchange:
		return "no matching key exchange method found"
	case category == HostKey:
		return "no matching host key type found"
	case strings.HasSuffix(category, "cipher"):
		return "no matching cipher found"
	case strings.HasSuffix(category, "MAC"):
		return "no matching MAC found"
	case strings.HasSuffix(category, "compression"):
		return "no matching compression method found"
	}
	return "no matching " + category + " found"
}

// Algorithms is what a successful negotiation agreed on.
type Algorithms struct {
	KeyExchange    string    `json:"kex"`
	HostKey        string    `json:"host-key-algorithm"`
	ClientToServer Direction `json:"client-to-server"`
	ServerToClient Direction `json:"server-to-client"`
}

// Direction is the cipher, MAC (Implicit for AEAD ciphers) and compression of one direction.
type Direction struct {
	Cipher      string `json:"cipher"`
	MAC         string `json:"mac"`
	Compression string `json:"compression"`
}

// Ciphers is the record's "ciphers" value: client to server, then server to client.
func (a *Algorithms) Ciphers() string { return a.ClientToServer.Cipher + "," + a.ServerToClient.Cipher }

// MACs is the record's "macs" value: client to server, then server to client.
func (a *Algorithms) MACs() string { return a.ClientToServer.MAC + "," + a.ServerToClient.MAC }

// Outcome is a whole negotiation: every category's choice, and the failure if there is one.
type Outcome struct {
	// Choices holds one Choice per category, in the order of the constants above.
	Choices []Choice `json:"choices"`
	// Failure is the first category without a common algorithm in the order the OpenSSH client
	// checks them (what its user reads); nil when the negotiation succeeds.
	Failure *Failure `json:"failure,omitempty"`
	// ServerFailure is the same in the order transferd's server checks them, which its
	// KEX_FAILURE record reports. The two differ only when the client's lists differ by
	// direction.
	ServerFailure *Failure `json:"-"`
}

// Choice returns the outcome of one category.
func (o *Outcome) Choice(category string) *Choice {
	for i := range o.Choices {
		if o.Choices[i].Category == category {
			return &o.Choices[i]
		}
	}
	return nil
}

// Algorithms returns what was agreed; it is meaningful only when Failure is nil.
func (o *Outcome) Algorithms() Algorithms {
	get := func(c string) string { return o.Choice(c).Chosen }
	return Algorithms{
		KeyExchange:    get(KeyExchange),
		HostKey:        get(HostKey),
		ClientToServer: Direction{get(CipherClientToServer), get(MACClientToServer), get(CompressionClientToServer)},
		ServerToClient: Direction{get(CipherServerToClient), get(MACServerToClient), get(CompressionServerToClient)},
	}
}

// Negotiate runs RFC 4253 §7.1 over a client's and a server's offers: in every category the
// algorithm chosen is the first on the client's list that is also on the server's. Key exchange
// markers are skipped. A key exchange needs a host key algorithm both sides accept (every key
// exchange these lists name signs with the host key, and every host key algorithm signs), so
// when none is common the host key category fails. The MAC of an AEAD cipher is implicit.
func Negotiate(client, server *Offer) *Outcome {
	o := &Outcome{Choices: make([]Choice, 0, 8)} // add hands out pointers: no reallocation
	add := func(category string, c, s []string) *Choice {
		o.Choices = append(o.Choices, choose(category, c, s))
		return &o.Choices[len(o.Choices)-1]
	}
	kex := add(KeyExchange, client.KexAlgorithms, server.KexAlgorithms)
	hk := add(HostKey, client.ServerHostKeyAlgorithms, server.ServerHostKeyAlgorithms)
	if markers := markersIn(client.KexAlgorithms, server.KexAlgorithms); len(markers) > 0 {
		kex.Rule += "; " + strings.Join(markers, ", ") + ": markers, not algorithms"
	}
	if !kex.Failed() {
		if hk.Failed() {
			kex.Rule += "; it needs a host key algorithm both accept, and there is none"
		} else {
			kex.Rule += "; it needs a host key algorithm both accept: " + hk.Chosen
		}
	}
	c2s := add(CipherClientToServer, client.EncryptionAlgorithmsClientToServer, server.EncryptionAlgorithmsClientToServer)
	s2c := add(CipherServerToClient, client.EncryptionAlgorithmsServerToClient, server.EncryptionAlgorithmsServerToClient)
	mac := func(category string, cipher *Choice, c, s []string) {
		if !cipher.Failed() && IsAEAD(cipher.Chosen) {
			o.Choices = append(o.Choices, Choice{Category: category, Client: nonNil(c), Server: nonNil(s), Chosen: Implicit,
				Rule: cipher.Chosen + " is an AEAD cipher: it authenticates the packets itself, so the MAC lists are not used"})
			return
		}
		add(category, c, s)
	}
	mac(MACClientToServer, c2s, client.MACAlgorithmsClientToServer, server.MACAlgorithmsClientToServer)
	mac(MACServerToClient, s2c, client.MACAlgorithmsServerToClient, server.MACAlgorithmsServerToClient)
	add(CompressionClientToServer, client.CompressionAlgorithmsClientToServer, server.CompressionAlgorithmsClientToServer)
	add(CompressionServerToClient, client.CompressionAlgorithmsServerToClient, server.CompressionAlgorithmsServerToClient)

	o.Failure = o.firstFailure(clientOrder)
	o.ServerFailure = o.firstFailure(serverOrder)
	return o
}

func (o *Outcome) firstFailure(order []string) *Failure {
	for _, cat := range order {
		c := o.Choice(cat)
		if c.Failed() {
			return &Failure{Category: cat, Message: Message(cat), ClientOffered: c.Client, ServerOffered: c.Server}
		}
	}
	return nil
}

// choose applies the rule to one category.
func choose(category string, client, server []string) Choice {
	c := Choice{Category: category, Client: nonNil(client), Server: nonNil(server)}
	for i, a := range client {
		if category == KeyExchange && IsMarker(a) {
			continue
		}
		j := slices.Index(server, a)
		if j < 0 {
			continue
		}
		c.Chosen, c.ClientIndex, c.ServerIndex = a, i+1, j+1
		skipped := len(WithoutMarkersIf(category, client[:i]))
		switch {
		case skipped == 0 && j == 0:
			c.Rule = "the first choice of both"
		case skipped == 0:
			c.Rule = fmt.Sprintf("the client's first choice (the server's #%d)", j+1)
		default:
			c.Rule = fmt.Sprintf("the client's #%d, the first of its choices the server also offers (the server's #%d)", i+1, j+1)
		}
		return c
	}
	switch n := len(WithoutMarkersIf(category, client)); n {
	case 0:
		c.Rule = "none: the client offers no algorithm"
	case 1:
		c.Rule = "none: the server does not offer the client's only algorithm"
	default:
		c.Rule = fmt.Sprintf("none: the server offers none of the client's %d algorithms", n)
	}
	return c
}

// WithoutMarkersIf drops markers from a key exchange list; other lists are returned as they are.
func WithoutMarkersIf(category string, list []string) []string {
	if category == KeyExchange {
		return WithoutMarkers(list)
	}
	return list
}

func markersIn(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		for _, a := range l {
			if IsMarker(a) && !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	return out
}

func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}
