package control

import (
	"slices"
	"testing"

	"github.com/transferd/transferd/internal/transfer"
)

// TestRecordClientOfferTag checks the server setting transferd:RecordClientOffer: validated on
// servers (true or false), a change reconfigures the running server, and the config file's
// RecordClientOffer field sets and clears it.
func TestRecordClientOfferTag(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tag := func(v string) []transfer.Tag { return []transfer.Tag{{Key: transfer.RecordClientOfferTag, Value: v}} }

	_, err := f.svc.CreateServer(f.ctx, CreateServerInput{HostKey: privatePEM(t, ed25519Key(t)), Tags: tag("yes")})
	check(t, "create with yes", err, invalid("Tags[0].Value", `"yes": transferd:RecordClientOffer must be true or false`))
	id, err := f.svc.CreateServer(f.ctx, CreateServerInput{HostKey: privatePEM(t, ed25519Key(t)), Tags: tag("true")})
	if err != nil {
		t.Fatal(err)
	}
	f.notes.take()
	d, err := f.svc.DescribeServer(f.ctx, id)
	if err != nil || !transfer.RecordsClientOffer(d.Tags) {
		t.Fatalf("DescribeServer tags %v, %v; want %s=true", d.Tags, err, transfer.RecordClientOfferTag)
	}

	arn := f.svc.Account().ServerARN(id)
	check(t, "tag with TRUE", f.svc.TagResource(f.ctx, arn, tag("TRUE")), invalid("Tags[0].Value", "must be true or false"))
	if notes := f.notes.take(); len(notes) != 0 {
		t.Errorf("a refused tag told the notifier %v", notes)
	}
	check(t, "tag with false", f.svc.TagResource(f.ctx, arn, tag("false")), want{})
	if notes := f.notes.take(); !slices.Equal(notes, []string{id}) {
		t.Errorf("setting the tag told the notifier %v, want [%s]", notes, id)
	}
	d, _ = f.svc.DescribeServer(f.ctx, id)
	if transfer.RecordsClientOffer(d.Tags) {
		t.Errorf("after tagging false: %v records offers", d.Tags)
	}
	check(t, "other tags", f.svc.TagResource(f.ctx, arn, []transfer.Tag{{Key: "env", Value: "x"}}), want{})
	if notes := f.notes.take(); len(notes) != 0 {
		t.Errorf("an ordinary tag told the notifier %v", notes)
	}
	check(t, "untag", f.svc.UntagResource(f.ctx, arn, []string{transfer.RecordClientOfferTag}), want{})
	if notes := f.notes.take(); !slices.Equal(notes, []string{id}) {
		t.Errorf("removing the tag told the notifier %v, want [%s]", notes, id)
	}
	// Users are not servers: the key means nothing there.
	f.user(t, id, "alice")
	check(t, "user tag", f.svc.TagResource(f.ctx, f.svc.Account().UserARN(id, "alice"), tag("yes")), want{})

	// The config file's field.
	yaml := func(record string) string {
		return "Servers:\n  - Endpoint: 127.0.0.1:2299\n    ServerId: s-0000000000000a11e\n" + record
	}
	offerTag := func() (string, bool) {
		tags, err := f.store.ListTags(f.ctx, f.svc.Account().ServerARN("s-0000000000000a11e"))
		if err != nil {
			t.Fatal(err)
		}
		for _, tg := range tags {
			if tg.Key == transfer.RecordClientOfferTag {
				return tg.Value, true
			}
		}
		return "", false
	}
	if err := f.applyYAML(t, yaml("    RecordClientOffer: true\n")); err != nil {
		t.Fatal(err)
	}
	if v, ok := offerTag(); v != "true" || !ok {
		t.Errorf("after RecordClientOffer: true, tag %q %v; want true", v, ok)
	}
	if err := f.applyYAML(t, yaml("    RecordClientOffer: true\n")); err != nil {
		t.Fatal(err)
	}
	if v, ok := offerTag(); v != "true" || !ok {
		t.Errorf("after applying RecordClientOffer: true again, tag %q %v; want true", v, ok)
	}
	f.notes.take()
	if err := f.applyYAML(t, yaml("")); err != nil {
		t.Fatal(err)
	}
	if v, ok := offerTag(); ok {
		t.Errorf("after leaving RecordClientOffer out, tag %q is still there", v)
	}
	if notes := f.notes.take(); !slices.Contains(notes, "s-0000000000000a11e") {
		t.Errorf("turning recording off told the notifier %v", notes)
	}
}
