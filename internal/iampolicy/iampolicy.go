// Package iampolicy parses and evaluates IAM policy documents as AWS IAM does, for the session
// policies that confine Transfer Family users: an explicit Deny wins, then an Allow, and anything
// not allowed is denied. It is pure: the caller says which action is asked on which resource, with
// which condition keys, and gets a decision that names the statement that decided it.
//
// What it understands: Version 2012-10-17 (policy variables) and 2008-10-17; statements with
// Effect, Action or NotAction, Resource or NotResource and Condition; wildcards * and ? in
// actions (case-insensitive) and resources (case-sensitive); the condition operators StringEquals,
// StringNotEquals, StringEqualsIgnoreCase, StringNotEqualsIgnoreCase, StringLike, StringNotLike,
// IpAddress, NotIpAddress and Null, each with the IfExists suffix and the ForAnyValue: and
// ForAllValues: qualifiers; the variables of Transfer Family's session policies
// (${transfer:UserName}, ${transfer:HomeDirectory}, ${transfer:HomeBucket},
// ${transfer:HomeFolder}) and IAM's ${*}, ${?} and ${$}. Anything else (Principal, another
// operator, an unknown variable or condition key) makes Parse fail with an error that names it, so
// that a policy is never half understood.
package iampolicy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/transferd/transferd/internal/transfer"
)

// Versions of the policy language.
const (
	Version2012 = "2012-10-17"
	Version2008 = "2008-10-17"
)

// Condition keys a request may carry. Keys are case-insensitive; these are their usual spellings.
const (
	KeyS3Prefix    = "s3:prefix"
	KeyS3Delimiter = "s3:delimiter"
	KeySourceIP    = "aws:SourceIp"
)

// The variables of a Transfer Family session policy.
const (
	VarUserName      = "transfer:UserName"
	VarHomeDirectory = "transfer:HomeDirectory"
	VarHomeBucket    = "transfer:HomeBucket"
	VarHomeFolder    = "transfer:HomeFolder"
)

// knownKeys are the condition keys transferd can supply, by their lower-case form.
var knownKeys = map[string]string{
	strings.ToLower(KeyS3Prefix):    KeyS3Prefix,
	strings.ToLower(KeyS3Delimiter): KeyS3Delimiter,
	strings.ToLower(KeySourceIP):    KeySourceIP,
}

// knownVars are the policy variables transferd can supply, by their lower-case form.
var knownVars = map[string]string{
	strings.ToLower(VarUserName):      VarUserName,
	strings.ToLower(VarHomeDirectory): VarHomeDirectory,
	strings.ToLower(VarHomeBucket):    VarHomeBucket,
	strings.ToLower(VarHomeFolder):    VarHomeFolder,
}

// Error is a policy that cannot be parsed or that asks for what the evaluator does not do. Path
// names the element (e.g. Statement[1].Condition.StringLike).
type Error struct {
	Path    string
	Message string
}

func (e *Error) Error() string {
	if e.Path == "" {
		return e.Message
	}
	return e.Path + ": " + e.Message
}

func errorf(path, format string, args ...any) error {
	return &Error{Path: path, Message: fmt.Sprintf(format, args...)}
}

// Policy is a parsed policy document. It is immutable and safe for concurrent use.
type Policy struct {
	version    string
	statements []statement
	vars       []string // variables used, canonical spelling, sorted
}

type statement struct {
	sid      string
	index    int
	allow    bool
	notAct   bool
	actions  []string // lower case
	notRes   bool
	resource []string
	conds    []condition
}

// condition is one operator applied to one key.
type condition struct {
	op       operator
	ifExists bool
	set      string // "", "forallvalues" or "foranyvalue"
	key      string // canonical spelling
	values   []string
	prefixes []netip.Prefix // IpAddress, NotIpAddress
	path     string
}

type operator int

const (
	opStringEquals operator = iota
	opStringNotEquals
	opStringEqualsIgnoreCase
	opStringNotEqualsIgnoreCase
	opStringLike
	opStringNotLike
	opIPAddress
	opNotIPAddress
	opNull
)

var operators = map[string]operator{
	"stringequals":              opStringEquals,
	"stringnotequals":           opStringNotEquals,
	"stringequalsignorecase":    opStringEqualsIgnoreCase,
	"stringnotequalsignorecase": opStringNotEqualsIgnoreCase,
	"stringlike":                opStringLike,
	"stringnotlike":             opStringNotLike,
	"ipaddress":                 opIPAddress,
	"notipaddress":              opNotIPAddress,
	"null":                      opNull,
}

// negated operators match when the key is absent, as IAM's do.
func (o operator) negated() bool {
	switch o {
	case opStringNotEquals, opStringNotEqualsIgnoreCase, opStringNotLike, opNotIPAddress:
		return true
	}
	return false
}

// Parse parses a policy document and checks that every element is one the evaluator understands.
func Parse(doc string) (*Policy, error) {
	var top map[string]json.RawMessage
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.UseNumber()
	if err := dec.Decode(&top); err != nil {
		return nil, errorf("", "not a JSON object: %v", err)
	}
	if dec.More() {
		return nil, errorf("", "text after the policy's JSON object")
	}
	if top == nil {
		return nil, errorf("", "not a JSON object")
	}
	p := &Policy{version: Version2008}
	for k, raw := range top {
		switch k {
		case "Version":
			var v string
			if err := json.Unmarshal(raw, &v); err != nil || (v != Version2012 && v != Version2008) {
				return nil, errorf("Version", "%s must be %q or %q", compact(raw), Version2012, Version2008)
			}
			p.version = v
		case "Id":
			var v string
			if err := json.Unmarshal(raw, &v); err != nil {
				return nil, errorf("Id", "must be a string")
			}
		case "Statement":
		default:
			return nil, errorf(k, "is not a policy element (Version, Id, Statement)")
		}
	}
	raw, ok := top["Statement"]
	if !ok {
		return nil, errorf("Statement", "is required")
	}
	var list []json.RawMessage
	if t := bytes.TrimSpace(raw); len(t) > 0 && t[0] == '{' {
		list = []json.RawMessage{raw}
	} else if err := json.Unmarshal(raw, &list); err != nil {
		return nil, errorf("Statement", "must be a statement object or a list of them")
	}
	if len(list) == 0 {
		return nil, errorf("Statement", "is empty")
	}
	vars := map[string]bool{}
	sids := map[string]int{}
	for i, r := range list {
		path := fmt.Sprintf("Statement[%d]", i)
		st, err := parseStatement(path, r, p.version, vars)
		if err != nil {
			return nil, err
		}
		st.index = i
		if st.sid != "" {
			if j, dup := sids[st.sid]; dup {
				return nil, errorf(path+".Sid", "%q is also the Sid of Statement[%d]", st.sid, j)
			}
			sids[st.sid] = i
		}
		p.statements = append(p.statements, st)
	}
	for v := range vars {
		p.vars = append(p.vars, v)
	}
	slices.Sort(p.vars)
	return p, nil
}

// Variables returns the policy variables the policy uses (canonical spelling, sorted), so that
// the caller can refuse a policy whose variables it cannot supply.
func (p *Policy) Variables() []string { return slices.Clone(p.vars) }

func parseStatement(path string, raw json.RawMessage, version string, vars map[string]bool) (statement, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return statement{}, errorf(path, "must be an object")
	}
	var st statement
	has := func(k string) bool { _, ok := m[k]; return ok }
	for k := range m {
		switch k {
		case "Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition":
		case "Principal", "NotPrincipal":
			return st, errorf(path+"."+k, "a session policy has no principal: it applies to the user's session")
		default:
			return st, errorf(path+"."+k, "is not a statement element (Sid, Effect, Action, NotAction, Resource, NotResource, Condition)")
		}
	}
	if has("Sid") {
		if err := json.Unmarshal(m["Sid"], &st.sid); err != nil {
			return st, errorf(path+".Sid", "must be a string")
		}
	}
	var effect string
	if err := json.Unmarshal(m["Effect"], &effect); err != nil {
		return st, errorf(path+".Effect", "is required: Allow or Deny")
	}
	switch effect {
	case "Allow":
		st.allow = true
	case "Deny":
	default:
		return st, errorf(path+".Effect", "%q must be Allow or Deny", effect)
	}
	switch {
	case has("Action") && has("NotAction"):
		return st, errorf(path, "has both Action and NotAction")
	case has("Action"), has("NotAction"):
	default:
		return st, errorf(path, "needs Action or NotAction")
	}
	actKey := "Action"
	if has("NotAction") {
		actKey, st.notAct = "NotAction", true
	}
	acts, err := stringList(path+"."+actKey, m[actKey])
	if err != nil {
		return st, err
	}
	for i, a := range acts {
		if a != "*" {
			svc, name, ok := strings.Cut(a, ":")
			if !ok || svc == "" || name == "" || strings.ContainsAny(svc, "*?") {
				return st, errorf(fmt.Sprintf("%s.%s[%d]", path, actKey, i), "%q is not an action (service:Action, e.g. s3:GetObject)", a)
			}
		}
		st.actions = append(st.actions, strings.ToLower(a))
	}
	switch {
	case has("Resource") && has("NotResource"):
		return st, errorf(path, "has both Resource and NotResource")
	case has("Resource"), has("NotResource"):
	default:
		return st, errorf(path, "needs Resource or NotResource")
	}
	resKey := "Resource"
	if has("NotResource") {
		resKey, st.notRes = "NotResource", true
	}
	res, err := stringList(path+"."+resKey, m[resKey])
	if err != nil {
		return st, err
	}
	for i, r := range res {
		rp := fmt.Sprintf("%s.%s[%d]", path, resKey, i)
		if r != "*" && !strings.HasPrefix(r, "arn:") {
			return st, errorf(rp, "%q is not a resource ARN (arn:aws:s3:::bucket/key) or *", r)
		}
		if err := checkVariables(rp, r, version, vars); err != nil {
			return st, err
		}
	}
	st.resource = res
	if has("Condition") {
		if st.conds, err = parseConditions(path+".Condition", m["Condition"], version, vars); err != nil {
			return st, err
		}
	}
	return st, nil
}

func parseConditions(path string, raw json.RawMessage, version string, vars map[string]bool) ([]condition, error) {
	var ops map[string]map[string]json.RawMessage
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' {
		return nil, errorf(path, "must map condition operators to {key: value(s)}")
	}
	if err := json.Unmarshal(raw, &ops); err != nil {
		return nil, errorf(path, "must map condition operators to {key: value(s)}")
	}
	var out []condition
	for opName, keys := range ops {
		opPath := path + "." + opName
		if keys == nil {
			return nil, errorf(opPath, "must map condition keys to value(s)")
		}
		name := strings.ToLower(opName)
		c := condition{path: opPath}
		for _, q := range []string{"forallvalues:", "foranyvalue:"} {
			if rest, ok := strings.CutPrefix(name, q); ok {
				c.set, name = strings.TrimSuffix(q, ":"), rest
			}
		}
		if rest, ok := strings.CutSuffix(name, "ifexists"); ok && name != "null" {
			c.ifExists, name = true, rest
		}
		op, ok := operators[name]
		if !ok {
			return nil, errorf(opPath, "is not a condition operator transferd evaluates (StringEquals, StringNotEquals, StringEqualsIgnoreCase, StringNotEqualsIgnoreCase, StringLike, StringNotLike, IpAddress, NotIpAddress, Null, with IfExists or ForAnyValue:/ForAllValues:)")
		}
		if op == opNull && (c.ifExists || c.set != "") {
			return nil, errorf(opPath, "Null takes neither IfExists nor a set qualifier")
		}
		c.op = op
		if len(keys) == 0 {
			return nil, errorf(opPath, "names no condition key")
		}
		for key, rv := range keys {
			kp := opPath + "." + key
			canon, ok := knownKeys[strings.ToLower(key)]
			if !ok {
				return nil, errorf(kp, "is not a condition key transferd can supply (s3:prefix, s3:delimiter, aws:SourceIp)")
			}
			vals, err := stringList(kp, rv)
			if err != nil {
				return nil, err
			}
			cc := c
			cc.key, cc.values, cc.path = canon, vals, kp
			switch op {
			case opIPAddress, opNotIPAddress:
				if canon != KeySourceIP {
					return nil, errorf(kp, "%s compares IP addresses; use it with aws:SourceIp", opName)
				}
				for _, v := range vals {
					pfx, err := transfer.ParseNetwork(v)
					if err != nil {
						return nil, errorf(kp, "%q is not an IP address or CIDR block", v)
					}
					cc.prefixes = append(cc.prefixes, pfx)
				}
			case opNull:
				for _, v := range vals {
					if v != "true" && v != "false" {
						return nil, errorf(kp, "%q must be true or false", v)
					}
				}
			default:
				for i, v := range vals {
					if err := checkVariables(fmt.Sprintf("%s[%d]", kp, i), v, version, vars); err != nil {
						return nil, err
					}
				}
			}
			out = append(out, cc)
		}
	}
	return out, nil
}

// stringList reads a string or a list of strings; numbers and booleans are taken as their text,
// as IAM takes them.
func stringList(path string, raw json.RawMessage) ([]string, error) {
	var items []any
	t := bytes.TrimSpace(raw)
	dec := json.NewDecoder(bytes.NewReader(t))
	dec.UseNumber()
	if len(t) > 0 && t[0] == '[' {
		if err := dec.Decode(&items); err != nil {
			return nil, errorf(path, "must be a string or a list of strings")
		}
	} else {
		var one any
		if err := dec.Decode(&one); err != nil {
			return nil, errorf(path, "must be a string or a list of strings")
		}
		items = []any{one}
	}
	if len(items) == 0 {
		return nil, errorf(path, "is empty")
	}
	out := make([]string, 0, len(items))
	for _, v := range items {
		switch v := v.(type) {
		case string:
			out = append(out, v)
		case json.Number:
			out = append(out, v.String())
		case bool:
			out = append(out, fmt.Sprint(v))
		default:
			return nil, errorf(path, "must be a string or a list of strings")
		}
	}
	return out, nil
}

// checkVariables checks the ${...} references of s: with Version 2012-10-17 each must be a known
// variable or ${*}, ${?}, ${$}; with 2008-10-17 there are no variables, so a reference is refused
// rather than matched as literal text.
func checkVariables(path, s, version string, vars map[string]bool) error {
	for rest := s; ; {
		i := strings.Index(rest, "${")
		if i < 0 {
			return nil
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return errorf(path, "%q has an unterminated ${", s)
		}
		name := rest[i+2 : i+j]
		rest = rest[i+j+1:]
		if version != Version2012 {
			return errorf(path, "${%s}: policy variables need \"Version\": %q", name, Version2012)
		}
		switch name {
		case "*", "?", "$":
			continue
		}
		canon, ok := knownVars[strings.ToLower(name)]
		if !ok {
			return errorf(path, "${%s} is not a variable transferd can supply (${transfer:UserName}, ${transfer:HomeDirectory}, ${transfer:HomeBucket}, ${transfer:HomeFolder})", name)
		}
		vars[canon] = true
	}
}

func compact(raw json.RawMessage) string {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	return b.String()
}
