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
