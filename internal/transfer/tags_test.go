package transfer

import (
	"strings"
	"testing"
)

func TestRecordClientOfferTag(t *testing.T) {
	for _, tc := range []struct {
		tags   []Tag
		record bool
		err    string
	}{
		{nil, false, ""},
		{[]Tag{{Key: "env", Value: "true"}}, false, ""},
		{[]Tag{{Key: RecordClientOfferTag, Value: "true"}}, true, ""},
		{[]Tag{{Key: RecordClientOfferTag, Value: "false"}}, false, ""},
		{[]Tag{{Key: "env"}, {Key: RecordClientOfferTag, Value: "on"}}, false, `Tags[1].Value: "on": transferd:RecordClientOffer must be true or false`},
	} {
		if got := RecordsClientOffer(tc.tags); got != tc.record {
			t.Errorf("RecordsClientOffer(%v) = %v, want %v", tc.tags, got, tc.record)
		}
		err := ValidateServerTags("Tags", tc.tags, 0)
		if (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("ValidateServerTags(%v) = %v, want an error containing %q", tc.tags, err, tc.err)
		}
	}
}

func TestTagValue(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"listening on 127.0.0.1:2301: address already in use", "listening on 127.0.0.1:2301: address already in use"},
		{`open "x" (denied), then; stop`, `open  x   denied   then  stop`},
		{strings.Repeat("é", 300), strings.Repeat("é", MaxTagValueLen)},
	} {
		got := TagValue(tc.in)
		if got != tc.want {
			t.Errorf("TagValue(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if err := ValidateTags("Tags", []Tag{{Key: "k", Value: got}}, 1); err != nil {
			t.Errorf("TagValue(%q) = %q is not a valid value: %v", tc.in, got, err)
		}
	}
}
