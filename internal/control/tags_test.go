package control

import (
	"fmt"
	"slices"
	"testing"

	"github.com/transferd/transferd/internal/transfer"
)

func TestSecurityPolicies(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	all, next, err := f.svc.ListSecurityPolicies(f.ctx, Page{})
	if err != nil || next != "" || !slices.Equal(all, f.svc.catalog.Names()) {
		t.Fatalf("ListSecurityPolicies = %v, %q, %v; want the catalog's names in order", all, next, err)
	}
	if !slices.Contains(all, connectorPolicy(t)) {
		t.Errorf("connector policies are missing from %v", all)
	}
	var got []string
	var sizes []int
	p := Page{MaxResults: 5}
	for {
		page, next, err := f.svc.ListSecurityPolicies(f.ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, page...)
		sizes = append(sizes, len(page))
		if next == "" {
			break
		}
		p.NextToken = next
	}
	var wantSizes []int
	for n := len(all); n > 0; n -= 5 {
		wantSizes = append(wantSizes, min(n, 5))
	}
	if !slices.Equal(got, all) || !slices.Equal(sizes, wantSizes) {
		t.Errorf("paged %v in pages of %v, want %v in pages of %v", got, sizes, all, wantSizes)
	}
	for _, tc := range []struct {
		name string
		p    Page
		want want
	}{
		{"MaxResults 0", Page{MaxResults: 0}, want{}},
		{"MaxResults 1001", Page{MaxResults: 1001}, invalid("MaxResults", "")},
		{"unknown name in token", Page{NextToken: nextToken(policiesList(), "TransferSecurityPolicy-1999")}, invalidToken()},
		{"servers token", Page{NextToken: nextToken(serversList(), "s-0123456789abcdef0")}, invalidToken()},
	} {
		_, _, err := f.svc.ListSecurityPolicies(f.ctx, tc.p)
		check(t, tc.name, err, tc.want)
	}

	for _, tc := range []struct {
		name string
		want want
	}{
		{"TransferSecurityPolicy-2024-01", want{}},
		{connectorPolicy(t), want{}},
		{"TransferSecurityPolicy-2024-1", want{kind: transfer.KindNotFound, resourceType: "SecurityPolicy", resource: "TransferSecurityPolicy-2024-1",
			text: "did you mean TransferSecurityPolicy-2024-01?"}},
		{"Nothing-like-it-at-all", want{kind: transfer.KindNotFound, resourceType: "SecurityPolicy", text: "Unknown security policy"}},
		{"", invalid("SecurityPolicyName", "required")},
	} {
		p, err := f.svc.DescribeSecurityPolicy(f.ctx, tc.name)
		check(t, "describe "+tc.name, err, tc.want)
		if tc.want.ok() && (p == nil || p.SecurityPolicyName != tc.name || len(p.SshCiphers) == 0) {
			t.Errorf("describe %s: %+v", tc.name, p)
		}
	}
}

func TestTags(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := f.server(t)
	f.user(t, id, "alice")
	keys, _, err := f.svc.ListHostKeys(f.ctx, id, Page{})
	if err != nil {
		t.Fatal(err)
	}
	a := testAccount()
	serverARN, userARN, hostKeyARN := a.ServerARN(id), a.UserARN(id, "alice"), a.HostKeyARN(id, keys[0].HostKey.HostKeyID)
	tags := []transfer.Tag{{Key: "env", Value: "test"}, {Key: "team", Value: "data"}}
	other := transfer.Account{Region: "us-west-2", AccountID: a.AccountID}
	for _, tc := range []struct {
		name string
		arn  string
		tags []transfer.Tag
		want want
	}{
		{"server", serverARN, tags, want{}},
		{"user", userARN, tags, want{}},
		{"host key", hostKeyARN, tags, want{}},
		{"missing server", a.ServerARN(unknownServer), tags, notFound("Server", unknownServer)},
		{"missing user", a.UserARN(id, "bob"), tags, notFound("User", "bob")},
		{"missing host key", a.HostKeyARN(id, "hostkey-00000000000000000"), tags, notFound("HostKey", "hostkey-00000000000000000")},
		{"other region", other.ServerARN(id), tags, invalid("Arn", "this transferd serves region eu-west-1")},
		{"other service", "arn:aws:s3:::my-bucket-name-here", tags, invalid("Arn", "not a Transfer Family ARN")},
		{"connector", "arn:aws:transfer:eu-west-1:123456789012:connector/c-0123456789abcdef0", tags, invalid("Arn", "names no resource transferd has")},
		{"short", "arn:aws", tags, invalid("Arn", "")},
		{"no tags", serverARN, nil, invalid("Tags", "at least 1")},
		{"aws tag", serverARN, []transfer.Tag{{Key: "aws:cloudformation:stack-name"}}, invalid("Tags[0].Key", "reserves")},
		{"bad characters", serverARN, []transfer.Tag{{Key: "a;b"}}, invalid("Tags[0].Key", "may hold only")},
		{"derived endpoint", serverARN, []transfer.Tag{{Key: transfer.EndpointTag, Value: "127.0.0.1:1"}}, invalid("Tags[0].Key", "derived by transferd")},
		{"derived manager", userARN, []transfer.Tag{{Key: transfer.ManagedByTag, Value: "config"}}, invalid("Tags[0].Key", "derived by transferd")},
	} {
		err := f.svc.TagResource(f.ctx, tc.arn, tc.tags)
		check(t, "tag "+tc.name, err, tc.want)
		if !tc.want.ok() {
			continue
		}
		want := tags
		if tc.arn == serverARN { // and the listen address, derived
			want = append(slices.Clone(tags), transfer.Tag{Key: transfer.EndpointTag, Value: "127.0.0.1:40000"})
		}
		got, next, err := f.svc.ListTagsForResource(f.ctx, tc.arn, Page{})
		if err != nil || next != "" || !slices.Equal(got, want) {
			t.Errorf("%s: tags %v, %q, %v; want %v", tc.name, got, next, err, want)
		}
	}

	// Tagging again replaces values; untagging removes keys and ignores unknown ones.
	if err := f.svc.TagResource(f.ctx, userARN, []transfer.Tag{{Key: "env", Value: "prod"}}); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.UntagResource(f.ctx, userARN, []string{"team", "nope"}); err != nil {
		t.Fatal(err)
	}
	got, _, _ := f.svc.ListTagsForResource(f.ctx, userARN, Page{})
	if want := []transfer.Tag{{Key: "env", Value: "prod"}}; !slices.Equal(got, want) {
		t.Errorf("user tags %v, want %v", got, want)
	}
	d, _ := f.svc.DescribeUser(f.ctx, id, "alice")
	if !slices.Equal(d.Tags, got) {
		t.Errorf("DescribeUser tags %v, want %v", d.Tags, got)
	}
	check(t, "untag nothing", f.svc.UntagResource(f.ctx, userARN, nil), invalid("TagKeys", ""))
	check(t, "untag empty key", f.svc.UntagResource(f.ctx, userARN, []string{""}), invalid("TagKeys[0]", ""))
	check(t, "untag derived", f.svc.UntagResource(f.ctx, serverARN, []string{"env", transfer.EndpointTag}), invalid("TagKeys[1]", "derived by transferd"))
	check(t, "untag missing", f.svc.UntagResource(f.ctx, a.UserARN(id, "bob"), []string{"env"}), notFound("User", "bob"))
	check(t, "untag foreign", f.svc.UntagResource(f.ctx, other.UserARN(id, "alice"), []string{"env"}), invalid("Arn", ""))

	// At most 50 per resource, counting those it has; pages of tags.
	var many []transfer.Tag
	for i := range 48 {
		many = append(many, transfer.Tag{Key: fmt.Sprintf("k%02d", i)})
	}
	if err := f.svc.TagResource(f.ctx, serverARN, many); err != nil {
		t.Fatalf("48 more tags on a server with 2: %v", err)
	}
	check(t, "51st tag", f.svc.TagResource(f.ctx, serverARN, []transfer.Tag{{Key: "one-more"}}), invalid("Tags", "at most 50"))
	check(t, "replacing at 50", f.svc.TagResource(f.ctx, serverARN, []transfer.Tag{{Key: "env", Value: "x"}}), want{})
	var paged []transfer.Tag
	p := Page{MaxResults: 20}
	for {
		page, next, err := f.svc.ListTagsForResource(f.ctx, serverARN, p)
		if err != nil {
			t.Fatal(err)
		}
		paged = append(paged, page...)
		if next == "" {
			break
		}
		_, _, err = f.svc.ListTagsForResource(f.ctx, userARN, Page{NextToken: next})
		check(t, "token of another resource", err, invalidToken())
		p.NextToken = next
	}
	all, _, _ := f.svc.ListTagsForResource(f.ctx, serverARN, Page{})
	if len(all) != 51 || !slices.Equal(paged, all) || all[50].Key != transfer.EndpointTag {
		t.Errorf("paged %d tags, want the 50 stored and transferd:Endpoint, in order", len(paged))
	}
	_, _, err = f.svc.ListTagsForResource(f.ctx, a.ServerARN(unknownServer), Page{})
	check(t, "list on missing", err, notFound("Server", unknownServer))
	_, _, err = f.svc.ListTagsForResource(f.ctx, serverARN, Page{MaxResults: 1001})
	check(t, "list MaxResults", err, invalid("MaxResults", ""))
	if notes := f.notes.take(); len(notes) != 0 {
		t.Errorf("tags told the notifier %v", notes)
	}
}
