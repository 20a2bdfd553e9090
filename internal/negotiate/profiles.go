package negotiate

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"

	"github.com/transferd/transferd/internal/transfer"
)

// profilesJSON holds the default algorithm preferences of common SSH clients, each with the
// source it was read from (a tag and file of the client's source tree, or a recording).
//
//go:embed client-profiles.json
var profilesJSON []byte

// Profile is a client's default offer.
type Profile struct {
	// ID is short and stable, e.g. openssh-9.2 or putty-0.84.
	ID   string `json:"id"`
	Name string `json:"name"`
	// Source says where the lists were read.
	Source string `json:"source"`
	Notes  string `json:"notes"`
	// ClientVersion is a regular expression matching the identification lines of this client,
	// "" when its version string cannot tell it apart from another profile's.
	ClientVersion string `json:"client-version"`

	KexAlgorithms []string `json:"kex-algorithms"`
	// KexMarkers are appended to KexAlgorithms on the wire (ext-info-c, kex-strict-c-...).
	KexMarkers        []string `json:"kex-markers"`
	HostKeyAlgorithms []string `json:"host-key-algorithms"`
	Ciphers           []string `json:"ciphers"`
	MACs              []string `json:"macs"`
	Compression       []string `json:"compression"`

	version *regexp.Regexp
}

// Offer returns the KEXINIT the client sends: its lists, the same for both directions, with the
// markers after the key exchanges.
func (p *Profile) Offer() *Offer {
	return &Offer{
		KexAlgorithms:                       append(slices.Clone(p.KexAlgorithms), p.KexMarkers...),
		ServerHostKeyAlgorithms:             slices.Clone(p.HostKeyAlgorithms),
		EncryptionAlgorithmsClientToServer:  slices.Clone(p.Ciphers),
		EncryptionAlgorithmsServerToClient:  slices.Clone(p.Ciphers),
		MACAlgorithmsClientToServer:         slices.Clone(p.MACs),
		MACAlgorithmsServerToClient:         slices.Clone(p.MACs),
		CompressionAlgorithmsClientToServer: slices.Clone(p.Compression),
		CompressionAlgorithmsServerToClient: slices.Clone(p.Compression),
		LanguagesClientToServer:             []string{},
		LanguagesServerToClient:             []string{},
	}
}

// Profiles is the set of built-in client profiles, read-only once built.
type Profiles struct {
	list []*Profile
}

// NewProfiles parses the embedded client profiles.
func NewProfiles() (*Profiles, error) {
	ps, err := parseProfiles(profilesJSON)
	if err != nil {
		return nil, fmt.Errorf("load embedded client-profiles.json: %w", err)
	}
	return ps, nil
}

var profileID = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9.]+)+$`)

func parseProfiles(data []byte) (*Profiles, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var list []*Profile
	if err := dec.Decode(&list); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if len(list) == 0 {
		return nil, errors.New("no profiles")
	}
	seen := map[string]bool{}
	for i, p := range list {
		if p == nil {
			return nil, fmt.Errorf("profile %d: null", i)
		}
		if !profileID.MatchString(p.ID) || seen[p.ID] {
			return nil, fmt.Errorf("profile %d: id %q is not a distinct lowercase name-version id", i, p.ID)
		}
		seen[p.ID] = true
		if p.Name == "" || p.Source == "" {
			return nil, fmt.Errorf("profile %s: name and source are required", p.ID)
		}
		for _, l := range []struct {
			field string
			list  []string
		}{{"kex-algorithms", p.KexAlgorithms}, {"host-key-algorithms", p.HostKeyAlgorithms}, {"ciphers", p.Ciphers}, {"macs", p.MACs}, {"compression", p.Compression}} {
			if len(l.list) == 0 {
				return nil, fmt.Errorf("profile %s: %s is empty", p.ID, l.field)
			}
			for _, a := range l.list {
				if err := checkName(a); err != nil {
					return nil, fmt.Errorf("profile %s: %s: %w", p.ID, l.field, err)
				}
			}
		}
		for _, m := range p.KexMarkers {
			if !IsMarker(m) {
				return nil, fmt.Errorf("profile %s: kex-markers: %q is not a marker", p.ID, m)
			}
		}
		if p.ClientVersion != "" {
			re, err := regexp.Compile(p.ClientVersion)
			if err != nil {
				return nil, fmt.Errorf("profile %s: client-version: %w", p.ID, err)
			}
			p.version = re
		}
	}
	return &Profiles{list: list}, nil
}

// All returns every profile, in the file's order. The profiles are shared: do not change them.
func (ps *Profiles) All() []*Profile { return ps.list }

// IDs returns every profile's ID in order.
func (ps *Profiles) IDs() []string {
	ids := make([]string, len(ps.list))
	for i, p := range ps.list {
		ids[i] = p.ID
	}
	return ids
}

// Lookup returns the profile with the given ID, or an error naming the closest ID.
func (ps *Profiles) Lookup(id string) (*Profile, error) {
	for _, p := range ps.list {
		if p.ID == id {
			return p, nil
		}
	}
	if s := transfer.Suggest(id, ps.IDs()); s != "" {
		return nil, fmt.Errorf("unknown client profile %q (did you mean %q?)", id, s)
	}
	return nil, fmt.Errorf("unknown client profile %q", id)
}

// ForClient returns the first profile whose client-version matches an identification line, or
// nil.
func (ps *Profiles) ForClient(version string) *Profile {
	for _, p := range ps.list {
		if p.version != nil && p.version.MatchString(version) {
			return p
		}
	}
	return nil
}
