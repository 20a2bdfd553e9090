package control

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/transferd/transferd/internal/policy"
	"github.com/transferd/transferd/internal/transfer"
)

// ListSecurityPolicies returns one page of the names of all security policies, those for
// connectors included, in the catalog's order, and the token of the next page ("" on the last).
func (s *Service) ListSecurityPolicies(ctx context.Context, p Page) ([]string, string, error) {
	size, err := pageSize(p)
	if err != nil {
		return nil, "", err
	}
	after, err := pageCursor(p, policiesList())
	if err != nil {
		return nil, "", err
	}
	names := s.catalog.Names()
	if after != "" {
		i := slices.Index(names, after)
		if i < 0 {
			return nil, "", errInvalidToken()
		}
		names = names[i+1:]
	}
	next := ""
	if len(names) > size {
		names = names[:size]
		next = nextToken(policiesList(), names[size-1])
	}
	return names, next, nil
}

// DescribeSecurityPolicy returns a security policy as DescribeSecurityPolicy shows it. An unknown
// name is a KindNotFound error (ResourceNotFoundException), with the nearest name when one is
// close.
func (s *Service) DescribeSecurityPolicy(ctx context.Context, name string) (*policy.Policy, error) {
	if name == "" {
		return nil, transfer.Invalid("SecurityPolicyName", "is required")
	}
	p, err := s.catalog.Lookup(name)
	if upe, ok := errors.AsType[*policy.UnknownPolicyError](err); ok {
		msg := "Unknown security policy"
		if upe.Suggestion != "" {
			msg = fmt.Sprintf("Unknown security policy; did you mean %s?", upe.Suggestion)
		}
		return nil, transfer.NotFound(typePolicy, name, msg)
	}
	return p, err
}
