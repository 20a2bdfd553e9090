// Package policy is the catalog of Transfer Family security policies and what this build can
// negotiate of each.
package policy

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

// catalogJSON is every Transfer Family security policy in the shape DescribeSecurityPolicy
// returns, lists in AWS's order. Sources and confidence per policy are in
// shared/reference/security-policies.SOURCES.md.
//
//go:embed security-policies.json
var catalogJSON []byte

// Policy types, as in the Type member of DescribeSecurityPolicy's response.
const (
	TypeServer    = "SERVER"
	TypeConnector = "CONNECTOR"
)

// Policy is one security policy, field for field as DescribeSecurityPolicy returns it
// (DescribedSecurityPolicy in the API model). Field names follow the API members, as the AWS
// SDK for Go does. Lists are in AWS's order, which is the order of preference.
type Policy struct {
	SecurityPolicyName string   `json:"SecurityPolicyName"`
	Fips               bool     `json:"Fips"`
	SshCiphers         []string `json:"SshCiphers"`
	SshKexs            []string `json:"SshKexs"`
	SshMacs            []string `json:"SshMacs"`
	// TlsCiphers is absent for connector policies, as in the API.
	TlsCiphers []string `json:"TlsCiphers,omitempty"`
	// SshHostKeyAlgorithms is returned by the API for connector policies only; for server
	// policies see HostKeyAlgorithms.
	SshHostKeyAlgorithms []string `json:"SshHostKeyAlgorithms,omitempty"`
	Type                 string   `json:"Type"`
	Protocols            []string `json:"Protocols"`
}

// IsServer reports whether p is a policy for servers (Type SERVER) rather than for connectors.
func (p *Policy) IsServer() bool { return p.Type == TypeServer }

// HostKeyAlgorithms returns the host-key signature algorithms p allows, in order of preference.
// For a connector policy that is its SshHostKeyAlgorithms. For a server policy, which the API
// returns without one, it is the rule in serverHostKeyAlgorithms.
func (p *Policy) HostKeyAlgorithms() []string {
	if !p.IsServer() {
		return slices.Clone(p.SshHostKeyAlgorithms)
	}
	algs := serverHostKeyAlgorithms()
	if slices.Contains(sshRSAHostKeyPolicies(), p.SecurityPolicyName) {
		algs = append(algs, "ssh-rsa")
	}
	return algs
}

// AcceptsSSHRSA reports whether p accepts ssh-rsa (RSA with SHA-1 signatures). A SERVER policy
// that accepts it for host keys accepts it from users' RSA keys too: the legacy policies are kept
// for clients that sign no other way (libssh2 before 1.11, as in curl; old JSch). Every other
// policy refuses it, and such clients must sign with rsa-sha2-256 or rsa-sha2-512.
func (p *Policy) AcceptsSSHRSA() bool { return slices.Contains(p.HostKeyAlgorithms(), "ssh-rsa") }

// serverHostKeyAlgorithms is what every SERVER policy accepts for host keys.
//
// Source: AWS Transfer Family user guide, "Security policies for Transfer Family servers"
// (current docs), as summarised in shared/reference/security-policies.SOURCES.md, section
// "Host-key algorithms for SERVER policies". The docs name no exception for FIPS policies, so
// they get ssh-ed25519 too.
func serverHostKeyAlgorithms() []string {
	return []string{
		"rsa-sha2-256",
		"rsa-sha2-512",
		"ecdsa-sha2-nistp256",
		"ecdsa-sha2-nistp384",
		"ecdsa-sha2-nistp521",
		"ssh-ed25519",
	}
}

// sshRSAHostKeyPolicies are the only SERVER policies that also accept ssh-rsa (RSA with SHA-1
// signatures) host keys. Same source as serverHostKeyAlgorithms; the current docs list exactly
// these (older docs allowed it for every policy but 2022-03). The Restricted variants are left
// out because the docs leave them out, although they may behave like their parents.
func sshRSAHostKeyPolicies() []string {
	return []string{
		"TransferSecurityPolicy-2018-11",
		"TransferSecurityPolicy-2020-06",
		"TransferSecurityPolicy-FIPS-2020-06",
		"TransferSecurityPolicy-FIPS-2023-05",
		"TransferSecurityPolicy-FIPS-2024-01",
		"TransferSecurityPolicy-PQ-SSH-FIPS-Experimental-2023-04",
	}
}

func (p *Policy) clone() *Policy {
	c := *p
	c.SshCiphers = slices.Clone(p.SshCiphers)
	c.SshKexs = slices.Clone(p.SshKexs)
	c.SshMacs = slices.Clone(p.SshMacs)
	c.TlsCiphers = slices.Clone(p.TlsCiphers)
	c.SshHostKeyAlgorithms = slices.Clone(p.SshHostKeyAlgorithms)
	c.Protocols = slices.Clone(p.Protocols)
	return &c
}

// Catalog is the set of known security policies. It is read-only once built; the policies it
// hands out are copies.
type Catalog struct {
	policies []*Policy // in file order
	byName   map[string]*Policy
}

// NewCatalog parses the embedded catalog of Transfer Family security policies.
func NewCatalog() (*Catalog, error) {
	c, err := parseCatalog(catalogJSON)
	if err != nil {
		return nil, fmt.Errorf("load embedded security-policies.json: %w", err)
	}
	return c, nil
}

func parseCatalog(data []byte) (*Catalog, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var policies []*Policy
	if err := dec.Decode(&policies); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if dec.More() {
		return nil, errors.New("decode: trailing data after the policy list")
	}
	if len(policies) == 0 {
		return nil, errors.New("no policies")
	}
	// The API's pattern for SecurityPolicyName.
	namePattern := regexp.MustCompile(`^Transfer[A-Za-z0-9]*SecurityPolicy-[A-Za-z0-9-]+$`)
	c := &Catalog{policies: policies, byName: make(map[string]*Policy, len(policies))}
	for i, p := range policies {
		if p == nil {
			return nil, fmt.Errorf("policy %d: null", i)
		}
		if err := validate(p, namePattern); err != nil {
			return nil, fmt.Errorf("policy %d (%q): %w", i, p.SecurityPolicyName, err)
		}
		if _, dup := c.byName[p.SecurityPolicyName]; dup {
			return nil, fmt.Errorf("policy %d (%q): field SecurityPolicyName: duplicate", i, p.SecurityPolicyName)
		}
		c.byName[p.SecurityPolicyName] = p
	}
	for _, name := range sshRSAHostKeyPolicies() {
		p, ok := c.byName[name]
		if !ok || !p.IsServer() {
			return nil, fmt.Errorf("ssh-rsa host-key rule names %q, which is not a server policy in the catalog", name)
		}
	}
	return c, nil
}

func validate(p *Policy, namePattern *regexp.Regexp) error {
	if len(p.SecurityPolicyName) > 100 || !namePattern.MatchString(p.SecurityPolicyName) {
		return fmt.Errorf("field SecurityPolicyName: does not match %s (at most 100 characters)", namePattern)
	}
	switch p.Type {
	case TypeServer:
		if len(p.SshHostKeyAlgorithms) != 0 {
			return errors.New("field SshHostKeyAlgorithms: set on a SERVER policy; the API returns it for connectors only")
		}
	case TypeConnector:
		if len(p.SshHostKeyAlgorithms) == 0 {
			return errors.New("field SshHostKeyAlgorithms: empty on a CONNECTOR policy")
		}
	default:
		return fmt.Errorf("field Type: %q is neither %s nor %s", p.Type, TypeServer, TypeConnector)
	}
	for _, l := range []struct {
		field string
		list  []string
	}{{"SshKexs", p.SshKexs}, {"SshCiphers", p.SshCiphers}, {"SshMacs", p.SshMacs}, {"Protocols", p.Protocols}} {
		if len(l.list) == 0 {
			return fmt.Errorf("field %s: empty", l.field)
		}
	}
	return nil
}

// Names returns the names of all policies, in the catalog file's order.
func (c *Catalog) Names() []string {
	names := make([]string, len(c.policies))
	for i, p := range c.policies {
		names[i] = p.SecurityPolicyName
	}
	return names
}

// Policies returns a copy of every policy, in the catalog file's order.
func (c *Catalog) Policies() []*Policy {
	out := make([]*Policy, len(c.policies))
	for i, p := range c.policies {
		out[i] = p.clone()
	}
	return out
}

// Lookup returns a copy of the policy called name. The name is matched exactly, as AWS does.
// An unknown name gives an *UnknownPolicyError.
func (c *Catalog) Lookup(name string) (*Policy, error) {
	if p, ok := c.byName[name]; ok {
		return p.clone(), nil
	}
	return nil, &UnknownPolicyError{Name: name, Suggestion: transfer.Suggest(name, c.Names())}
}

// UnknownPolicyError is returned by Lookup for a name that is not in the catalog.
type UnknownPolicyError struct {
	Name string
	// Suggestion is the closest known name, or "" when none is close.
	Suggestion string
}

func (e *UnknownPolicyError) Error() string {
	if e.Suggestion == "" {
		return fmt.Sprintf("unknown security policy %q", e.Name)
	}
	return fmt.Sprintf("unknown security policy %q (did you mean %q?)", e.Name, e.Suggestion)
}
