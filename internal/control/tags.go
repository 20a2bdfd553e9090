package control

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/transferd/transferd/internal/transfer"
)

// ARN limits from the API model.
const (
	minARNLength = 20
	maxARNLength = 1600
)

// resource is what an ARN names: a server, a user, a host key or a workflow.
type resource struct {
	kind     string // typeServer, typeUser, typeHostKey or typeWorkflow
	serverID string // "" for a workflow
	name     string // user name, host key ID or workflow ID
	arn      string
}

// parseARN takes apart the ARN of a server, user or host key of this Service's account and
// region. Anything else is an invalid Arn.
func (s *Service) parseARN(arn string) (resource, error) {
	if n := len(arn); n < minARNLength || n > maxARNLength {
		return resource{}, transfer.Invalid("Arn", "%q is not an ARN (%d to %d characters)", arn, minARNLength, maxARNLength)
	}
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[1] != "aws" || parts[2] != "transfer" {
		return resource{}, transfer.Invalid("Arn", "%q is not a Transfer Family ARN (arn:aws:transfer:REGION:ACCOUNT:RESOURCE)", arn)
	}
	if parts[3] != s.account.Region || parts[4] != s.account.AccountID {
		return resource{}, transfer.Invalid("Arn", "%q names region %q and account %q; this transferd serves region %s and account %s",
			arn, parts[3], parts[4], s.account.Region, s.account.AccountID)
	}
	kind, rest, _ := strings.Cut(parts[5], "/")
	fields := strings.Split(rest, "/")
	r := resource{arn: arn}
	switch {
	case kind == "server" && len(fields) == 1 && transfer.ValidServerID(fields[0]):
		r.kind, r.serverID = typeServer, fields[0]
	case kind == "user" && len(fields) == 2 && transfer.ValidServerID(fields[0]) && fields[1] != "":
		r.kind, r.serverID, r.name = typeUser, fields[0], fields[1]
	case kind == "host-key" && len(fields) == 2 && transfer.ValidServerID(fields[0]) && transfer.ValidHostKeyID(fields[1]):
		r.kind, r.serverID, r.name = typeHostKey, fields[0], fields[1]
	case kind == "workflow" && len(fields) == 1 && transfer.ValidWorkflowID(fields[0]):
		r.kind, r.name = typeWorkflow, fields[0]
	default:
		return resource{}, transfer.Invalid("Arn", "%q names no resource transferd has: it tags servers (server/SERVERID), users (user/SERVERID/USERNAME), host keys (host-key/SERVERID/HOSTKEYID) and workflows (workflow/WORKFLOWID)", arn)
	}
	return r, nil
}

// requireResource returns a KindNotFound error when the resource does not exist, and the server
// when it is one.
func (s *Service) requireResource(ctx context.Context, r resource) (*transfer.Server, error) {
	var err error
	switch r.kind {
	case typeServer:
		return s.store.GetServer(ctx, r.serverID)
	case typeUser:
		_, err = s.store.GetUser(ctx, r.serverID, r.name)
	case typeHostKey:
		_, err = s.store.GetHostKey(ctx, r.serverID, r.name)
	case typeWorkflow:
		_, err = s.store.GetWorkflow(ctx, r.name)
	}
	return nil, err
}

// TagResource sets tags on a server, user or host key, replacing the values of keys it has. A
// resource has at most 50 tags. On a server, the tag transferd:RecordClientOffer must be true or
// false, a limit's tag (transferd:<Name>, transfer.Limits) must hold a valid value, and setting
// either reconfigures the running server (for new connections).
func (s *Service) TagResource(ctx context.Context, arn string, tags []transfer.Tag) error {
	r, err := s.parseARN(arn)
	if err != nil {
		return err
	}
	validate := transfer.ValidateTags
	if r.kind == typeServer {
		validate = transfer.ValidateServerTags
	}
	if err := validate("Tags", tags, 1); err != nil {
		return err
	}
	if err := s.managedResource(r, "TagResource"); err != nil {
		return err
	}
	if err := s.tagResource(ctx, r, tags); err != nil {
		return err
	}
	if r.kind == typeServer && slices.ContainsFunc(tags, func(t transfer.Tag) bool { return transfer.SettingTag(t.Key) }) {
		s.changed(ctx, r.serverID)
	}
	return nil
}

func (s *Service) tagResource(ctx context.Context, r resource, tags []transfer.Tag) error {
	return s.exclusive(ctx, func(ts *Service) error { return ts.tagResourceLocked(ctx, r, tags) })
}

func (s *Service) tagResourceLocked(ctx context.Context, r resource, tags []transfer.Tag) error {
	if _, err := s.requireResource(ctx, r); err != nil {
		return err
	}
	have, err := s.store.ListTags(ctx, r.arn)
	if err != nil {
		return err
	}
	keys := map[string]bool{}
	for _, t := range have {
		keys[t.Key] = true
	}
	for _, t := range tags {
		keys[t.Key] = true
	}
	if len(keys) > transfer.MaxTags {
		return transfer.Invalid("Tags", "would give the resource %d tags; at most %d are allowed", len(keys), transfer.MaxTags)
	}
	return s.store.TagResource(ctx, r.arn, tags)
}

// UntagResource removes tags by key from a server, user or host key; keys it does not have are
// ignored. Removing transferd:RecordClientOffer from a server turns offer recording off; removing
// a limit's tag returns the limit to its default.
func (s *Service) UntagResource(ctx context.Context, arn string, keys []string) error {
	r, err := s.parseARN(arn)
	if err != nil {
		return err
	}
	if len(keys) == 0 || len(keys) > transfer.MaxTags {
		return transfer.Invalid("TagKeys", "must list 1 to %d keys", transfer.MaxTags)
	}
	for i, k := range keys {
		if n := utf8.RuneCountInString(k); n == 0 || n > transfer.MaxTagKeyLen {
			return transfer.Invalid(fmt.Sprintf("TagKeys[%d]", i), "must be 1 to %d characters", transfer.MaxTagKeyLen)
		}
		if err := transfer.NotDerived(fmt.Sprintf("TagKeys[%d]", i), k); err != nil {
			return err
		}
	}
	if err := s.managedResource(r, "UntagResource"); err != nil {
		return err
	}
	if _, err := s.requireResource(ctx, r); err != nil {
		return err
	}
	if err := s.store.UntagResource(ctx, arn, keys); err != nil {
		return err
	}
	if r.kind == typeServer && slices.ContainsFunc(keys, transfer.SettingTag) {
		s.changed(ctx, r.serverID)
	}
	return nil
}

// ListTagsForResource returns one page of the tags of a server, user or host key, sorted by key,
// and the token of the next page ("" on the last).
func (s *Service) ListTagsForResource(ctx context.Context, arn string, p Page) ([]transfer.Tag, string, error) {
	r, err := s.parseARN(arn)
	if err != nil {
		return nil, "", err
	}
	size, err := pageSize(p)
	if err != nil {
		return nil, "", err
	}
	list := tagsList(arn)
	after, err := pageCursor(p, list)
	if err != nil {
		return nil, "", err
	}
	srv, err := s.requireResource(ctx, r)
	if err != nil {
		return nil, "", err
	}
	tags, err := s.store.ListTags(ctx, arn)
	if err != nil {
		return nil, "", err
	}
	tags = s.shownTags(r, srv, tags)
	out := []transfer.Tag{}
	next := ""
	for _, t := range tags {
		if after != "" && t.Key <= after {
			continue
		}
		if len(out) == size {
			next = nextToken(list, out[size-1].Key)
			break
		}
		out = append(out, t)
	}
	return out, next, nil
}
