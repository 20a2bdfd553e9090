// Package negotiate is SSH algorithm negotiation as RFC 4253 §7.1 and OpenSSH define it, in one
// place for everything in transferd that asks "which key exchange, cipher and MAC will this
// client and this server use, and why?": the ten name-lists of a KEXINIT (an Offer, read from the
// cleartext start of a connection or from a record), the choice made in each category from a
// client's and a server's offer with the rule that made it, a failure in the words the OpenSSH
// client prints, the offer a transferd server (golang.org/x/crypto/ssh) makes for a set of
// algorithms and host keys, the built-in profiles of common clients, and a probe that reads any
// SSH server's offer without authenticating.
//
// The SSH server (internal/sshd) computes its CONNECTED and KEX_FAILURE records with this
// package, and `transferd explain`, `probe` and `policy-impact` predict with it, so a prediction
// and a record cannot disagree without the code that makes both being wrong.
package negotiate

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// msgKexInit is SSH_MSG_KEXINIT (RFC 4253 §12).
const msgKexInit = 20

// Offer is one side's KEXINIT: its ten algorithm name-lists, each in order of preference, and
// first_kex_packet_follows (RFC 4253 §7.1). The JSON form is what activity records hold as
// client-offer and what `transferd explain --client-offer FILE` reads; its lists are never null.
type Offer struct {
	KexAlgorithms                       []string `json:"kex-algorithms"`
	ServerHostKeyAlgorithms             []string `json:"server-host-key-algorithms"`
	EncryptionAlgorithmsClientToServer  []string `json:"encryption-algorithms-client-to-server"`
	EncryptionAlgorithmsServerToClient  []string `json:"encryption-algorithms-server-to-client"`
	MACAlgorithmsClientToServer         []string `json:"mac-algorithms-client-to-server"`
	MACAlgorithmsServerToClient         []string `json:"mac-algorithms-server-to-client"`
	CompressionAlgorithmsClientToServer []string `json:"compression-algorithms-client-to-server"`
	CompressionAlgorithmsServerToClient []string `json:"compression-algorithms-server-to-client"`
	LanguagesClientToServer             []string `json:"languages-client-to-server"`
	LanguagesServerToClient             []string `json:"languages-server-to-client"`
	FirstKexPacketFollows               bool     `json:"first-kex-packet-follows"`
}

// lists returns pointers to the ten name-lists in wire order.
func (o *Offer) lists() []*[]string {
	return []*[]string{
		&o.KexAlgorithms, &o.ServerHostKeyAlgorithms,
		&o.EncryptionAlgorithmsClientToServer, &o.EncryptionAlgorithmsServerToClient,
		&o.MACAlgorithmsClientToServer, &o.MACAlgorithmsServerToClient,
		&o.CompressionAlgorithmsClientToServer, &o.CompressionAlgorithmsServerToClient,
		&o.LanguagesClientToServer, &o.LanguagesServerToClient,
	}
}

// listNames are the JSON names of the ten lists, in wire order, for error messages.
var listNames = []string{
	"kex-algorithms", "server-host-key-algorithms",
	"encryption-algorithms-client-to-server", "encryption-algorithms-server-to-client",
	"mac-algorithms-client-to-server", "mac-algorithms-server-to-client",
	"compression-algorithms-client-to-server", "compression-algorithms-server-to-client",
	"languages-client-to-server", "languages-server-to-client",
}

// Clone returns a deep copy of o.
func (o *Offer) Clone() *Offer {
	c := *o
	for _, l := range c.lists() {
		*l = append([]string{}, *l...)
	}
	return &c
}

// MarshalJSON writes o with every list present, [] when empty.
func (o Offer) MarshalJSON() ([]byte, error) {
	type plain Offer
	c := plain(*o.Clone())
	return json.Marshal(c)
}

// ParseOfferJSON reads an offer as records hold it. Every one of the ten lists must be present
// (languages may be empty), names must be valid algorithm names, and unknown members are errors.
func ParseOfferJSON(data []byte) (*Offer, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	known := map[string]bool{"first-kex-packet-follows": true}
	for _, n := range listNames {
		known[n] = true
	}
	for k := range raw {
		if !known[k] {
			return nil, fmt.Errorf("unknown member %q (an offer has %s and first-kex-packet-follows)", k, strings.Join(listNames, ", "))
		}
	}
	o := &Offer{}
	for i, l := range o.lists() {
		name := listNames[i]
		v, ok := raw[name]
		if !ok {
			if strings.HasPrefix(name, "languages-") {
				*l = []string{}
				continue
			}
			return nil, fmt.Errorf("member %q is missing", name)
		}
		if err := json.Unmarshal(v, l); err != nil {
			return nil, fmt.Errorf("member %q: want a list of algorithm names: %w", name, err)
		}
		if *l == nil {
			*l = []string{}
		}
		for j, a := range *l {
			if err := checkName(a); err != nil {
				return nil, fmt.Errorf("member %q, entry %d: %w", name, j, err)
			}
		}
	}
	if v, ok := raw["first-kex-packet-follows"]; ok {
		if err := json.Unmarshal(v, &o.FirstKexPacketFollows); err != nil {
			return nil, fmt.Errorf("member \"first-kex-packet-follows\": want true or false: %w", err)
		}
	}
	return o, nil
}

// checkName checks one algorithm name as RFC 4251 §6 defines them: 1 to 64 printable US-ASCII
// characters without commas or spaces.
func checkName(name string) error {
	if name == "" {
		return errors.New("empty algorithm name")
	}
	if len(name) > 64 {
		return fmt.Errorf("algorithm name %.20q... is longer than 64 characters", name)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c <= ' ' || c >= 0x7f || c == ',' {
			return fmt.Errorf("algorithm name %q holds a character outside printable ASCII, a space or a comma", name)
		}
	}
	return nil
}

// ParseKexInit reads the payload of an SSH_MSG_KEXINIT packet: the message number 20, a 16-byte
// cookie, ten name-lists, the boolean first_kex_packet_follows and a reserved uint32.
func ParseKexInit(payload []byte) (*Offer, error) {
	if len(payload) == 0 || payload[0] != msgKexInit {
		if len(payload) == 0 {
			return nil, errors.New("KEXINIT: empty packet")
		}
		return nil, fmt.Errorf("KEXINIT: the packet is message %d, not SSH_MSG_KEXINIT (20)", payload[0])
	}
	rest := payload[1:]
	if len(rest) < 16 {
		return nil, errors.New("KEXINIT: truncated in the cookie")
	}
	rest = rest[16:]
	o := &Offer{}
	for i, l := range o.lists() {
		if len(rest) < 4 {
			return nil, fmt.Errorf("KEXINIT: truncated before %s", listNames[i])
		}
		n := binary.BigEndian.Uint32(rest)
		rest = rest[4:]
		if uint64(n) > uint64(len(rest)) {
			return nil, fmt.Errorf("KEXINIT: %s claims %d bytes; %d are left", listNames[i], n, len(rest))
		}
		list := string(rest[:n])
		rest = rest[n:]
		*l = []string{}
		if list == "" {
			continue
		}
		for _, name := range strings.Split(list, ",") {
			if err := checkName(name); err != nil {
				return nil, fmt.Errorf("KEXINIT: %s: %w", listNames[i], err)
			}
			*l = append(*l, name)
		}
	}
	if len(rest) < 5 {
		return nil, errors.New("KEXINIT: truncated after the name-lists")
	}
	o.FirstKexPacketFollows = rest[0] != 0
	return o, nil
}

// MarshalKexInit returns o as the payload of an SSH_MSG_KEXINIT packet with the given cookie.
func (o *Offer) MarshalKexInit(cookie [16]byte) []byte {
	b := []byte{msgKexInit}
	b = append(b, cookie[:]...)
	for _, l := range o.lists() {
		s := strings.Join(*l, ",")
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	if o.FirstKexPacketFollows {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	return binary.BigEndian.AppendUint32(b, 0)
}
