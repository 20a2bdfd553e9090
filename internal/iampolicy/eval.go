package iampolicy

import (
	"fmt"
	"net/netip"
	"strings"
	"unicode/utf8"
)

// Vars are the values of the policy variables for one session, by canonical name (VarUserName,
// ...). A variable the policy uses must have a value: Bind refuses a policy otherwise.
type Vars map[string]string

// Bound is a policy with its variables replaced by one session's values, ready to evaluate. It is
// immutable and safe for concurrent use.
type Bound struct {
	statements []boundStatement
}

type boundStatement struct {
	sid      string
	index    int
	allow    bool
	notAct   bool
	actions  []pattern
	notRes   bool
	resource []pattern
	conds    []boundCondition
}

type boundCondition struct {
	condition
	patterns []pattern // the values with variables replaced, for the string operators
}

// Bind replaces the policy's variables with vars. The values are taken literally: a * or ? in a
// user name or home directory matches only itself.
func (p *Policy) Bind(vars Vars) (*Bound, error) {
	for _, v := range p.vars {
		if _, ok := vars[v]; !ok {
			return nil, errorf("", "${%s} has no value for this user", v)
		}
	}
	b := &Bound{statements: make([]boundStatement, 0, len(p.statements))}
	for _, st := range p.statements {
		bs := boundStatement{sid: st.sid, index: st.index, allow: st.allow, notAct: st.notAct, notRes: st.notRes}
		for _, a := range st.actions {
			bs.actions = append(bs.actions, compile(a, nil))
		}
		for _, r := range st.resource {
			bs.resource = append(bs.resource, compile(r, vars))
		}
		for _, c := range st.conds {
			bc := boundCondition{condition: c}
			if c.op != opIPAddress && c.op != opNotIPAddress && c.op != opNull {
				for _, v := range c.values {
					bc.patterns = append(bc.patterns, compile(v, vars))
				}
			}
			bs.conds = append(bs.conds, bc)
		}
		b.statements = append(b.statements, bs)
	}
	return b, nil
}

// Request is one action asked on one resource.
type Request struct {
	// Action is service:Action, e.g. s3:GetObject (case-insensitive).
	Action string
	// Resource is the ARN acted on, e.g. arn:aws:s3:::bucket/key.
	Resource string
	// Context holds the condition keys the request carries, by canonical name (KeyS3Prefix, ...);
	// a key that is absent is not in the map.
	Context map[string]string
}

// Decision is the outcome of an evaluation.
type Decision struct {
	Allowed bool
	// Explicit is set when a Deny statement matched.
	Explicit bool
	// Statement is the index of the statement that decided (the Deny, or the first Allow), or -1
	// when none matched; Sid is its Sid.
	Statement int
	Sid       string
}

func (d Decision) String() string {
	if d.Statement < 0 {
		return "no statement of the session policy allows it"
	}
	what := "allowed"
	if !d.Allowed {
		what = "explicitly denied"
	}
	s := fmt.Sprintf("%s by Statement[%d] of the session policy", what, d.Statement)
	if d.Sid != "" {
		s += fmt.Sprintf(" (Sid %s)", d.Sid)
	}
	return s
}

// Evaluate decides a request as IAM does: a matching Deny wins; otherwise a matching Allow
// allows; otherwise it is denied.
func (b *Bound) Evaluate(r Request) Decision {
	action := strings.ToLower(r.Action)
	allow := -1
	for i := range b.statements {
		st := &b.statements[i]
		if !st.matches(action, r) {
			continue
		}
		if !st.allow {
			return Decision{Explicit: true, Statement: st.index, Sid: st.sid}
		}
		if allow < 0 {
			allow = i
		}
	}
	if allow < 0 {
		return Decision{Statement: -1}
	}
	st := &b.statements[allow]
	return Decision{Allowed: true, Statement: st.index, Sid: st.sid}
}

func (st *boundStatement) matches(action string, r Request) bool {
	if anyMatch(st.actions, action) == st.notAct {
		return false
	}
	if anyMatch(st.resource, r.Resource) == st.notRes {
		return false
	}
	for i := range st.conds {
		if !st.conds[i].holds(r.Context) {
			return false
		}
	}
	return true
}

func anyMatch(ps []pattern, s string) bool {
	for _, p := range ps {
		if p.match(s) {
			return true
		}
	}
	return false
}

// holds evaluates one operator on one key: the values are alternatives (any may match); a negated
// operator holds when none matches.
func (c *boundCondition) holds(ctx map[string]string) bool {
	v, present := ctx[c.key]
	if c.op == opNull {
		for _, want := range c.values {
			if (want == "true") != present {
				return true
			}
		}
		return false
	}
	if !present {
		switch {
		case c.ifExists, c.set == "forallvalues":
			return true
		case c.set == "foranyvalue":
			return false
		}
		return c.op.negated()
	}
	var matched bool
	switch c.op {
	case opIPAddress, opNotIPAddress:
		addr, err := netip.ParseAddr(v)
		if err == nil {
			addr = addr.Unmap()
			for _, p := range c.prefixes {
				if p.Contains(addr) {
					matched = true
					break
				}
			}
		}
	case opStringLike, opStringNotLike:
		matched = anyMatch(c.patterns, v)
	case opStringEqualsIgnoreCase, opStringNotEqualsIgnoreCase:
		for _, p := range c.patterns {
			if strings.EqualFold(p.literal(), v) {
				matched = true
				break
			}
		}
	default:
		for _, p := range c.patterns {
			if p.literal() == v {
				matched = true
				break
			}
		}
	}
	if c.op.negated() {
		return !matched
	}
	return matched
}

// pattern is a text with the wildcards * (any run of characters, / included) and ? (one
// character), as IAM matches actions, resources and StringLike values.
type pattern []token

type token struct {
	kind byte // 'l' literal text, '*' or '?'
	text string
}

// compile turns s into a pattern, replacing ${var} with vars' values as literal text. With nil
// vars (actions) there are no variables.
func compile(s string, vars Vars) pattern {
	var p pattern
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			p = append(p, token{kind: 'l', text: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '$' && vars != nil && strings.HasPrefix(s[i:], "${"):
			j := strings.IndexByte(s[i:], '}')
			name := s[i+2 : i+j]
			i += j
			switch name {
			case "*", "?", "$":
				lit.WriteString(name)
			default:
				lit.WriteString(vars[knownVars[strings.ToLower(name)]])
			}
		case c == '*' || c == '?':
			flush()
			p = append(p, token{kind: c}) // a run of * matches as one; literal() keeps them all
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	return p
}

// literal is the pattern as plain text, its wildcards taken as the characters * and ?.
func (p pattern) literal() string {
	var b strings.Builder
	for _, t := range p {
		if t.kind == 'l' {
			b.WriteString(t.text)
		} else {
			b.WriteByte(t.kind)
		}
	}
	return b.String()
}

// match reports whether s matches the whole pattern. It backtracks only to the last *, so it runs
// in O(len(s) * len(p)) at worst.
func (p pattern) match(s string) bool {
	ti, si := 0, 0
	starT, starS := -1, 0
	for {
		if ti < len(p) {
			switch t := p[ti]; t.kind {
			case '*':
				starT, starS = ti, si
				ti++
				continue
			case '?':
				if si < len(s) {
					_, size := utf8.DecodeRuneInString(s[si:])
					si += size
					ti++
					continue
				}
			default:
				if strings.HasPrefix(s[si:], t.text) {
					si += len(t.text)
					ti++
					continue
				}
			}
		} else if si == len(s) {
			return true
		}
		if starT < 0 || starS >= len(s) {
			return false
		}
		_, size := utf8.DecodeRuneInString(s[starS:])
		starS += size
		ti, si = starT+1, starS
	}
}
