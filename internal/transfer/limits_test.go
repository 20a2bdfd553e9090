package transfer

import (
	"strings"
	"testing"
	"time"
)

func TestLimitsFromTags(t *testing.T) {
	l, err := LimitsFromTags([]Tag{
		{Key: "env", Value: "x"},
		{Key: "transferd:MaxHandlesPerSession", Value: "64"},
		{Key: "transferd:MaxStartups", Value: "20:50:60"},
		{Key: "transferd:LoginGraceTimeSeconds", Value: "30"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultLimits
	want.MaxHandlesPerSession, want.MaxStartups, want.LoginGraceTime = 64, Startups{20, 50, 60}, 30*time.Second
	if l != want {
		t.Errorf("LimitsFromTags = %+v, want %+v", l, want)
	}
	for _, name := range LimitNames() {
		if got := want.Limit(name); got == "" {
			t.Errorf("Limit(%s) is empty", name)
		} else if err := new(Limits).SetLimit(name, got); err != nil {
			t.Errorf("SetLimit(%s, Limit(%s) = %q): %v", name, name, got, err)
		}
	}
	// A bad stored value keeps its default and says so.
	l, err = LimitsFromTags([]Tag{{Key: "transferd:MaxConnections", Value: "lots"}, {Key: "transferd:MaxConnectionsPerUser", Value: "3"}})
	if err == nil || !strings.Contains(err.Error(), "transferd:MaxConnections: \"lots\"") || l.MaxConnections != DefaultLimits.MaxConnections || l.MaxConnectionsPerUser != 3 {
		t.Errorf("LimitsFromTags with a bad value = %+v, %v", l, err)
	}
}

func TestParseStartups(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Startups
		err  string
	}{
		{"10:30:100", Startups{10, 30, 100}, ""},
		{"50", Startups{50, 100, 50}, ""},
		{"10:30", Startups{}, "start:rate:full"},
		{"10:0:100", Startups{}, "rate must be"},
		{"10:30:5", Startups{}, "full must be at least start"},
		{"0:30:5", Startups{}, "start must be at least 1"},
		{"a:b:c", Startups{}, "start:rate:full"},
	} {
		got, err := ParseStartups(tc.in)
		if got != tc.want || (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("ParseStartups(%q) = %+v, %v; want %+v, %q", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestValidateServerTagsLimits(t *testing.T) {
	for _, tc := range []struct {
		tag Tag
		err string
	}{
		{Tag{Key: "transferd:MaxConnections", Value: "500"}, ""},
		{Tag{Key: "transferd:MaxConnections", Value: "0"}, `Tags[0].Value: transferd:MaxConnections: "0" must be a whole number from 1`},
		{Tag{Key: "transferd:MaxStartups", Value: "1:2"}, "Tags[0].Value: transferd:MaxStartups"},
		{Tag{Key: "transferd:Typo", Value: "1"}, `Tags[0].Key: "transferd:Typo" is not one of transferd's server settings`},
		{Tag{Key: "transferdish", Value: "1"}, ""},
	} {
		err := ValidateServerTags("Tags", []Tag{tc.tag}, 1)
		if (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("ValidateServerTags(%+v) = %v, want %q", tc.tag, err, tc.err)
		}
	}
}

func TestLimitsWithDefaults(t *testing.T) {
	if got := (Limits{}).WithDefaults(); got != DefaultLimits {
		t.Errorf("zero limits with defaults = %+v, want %+v", got, DefaultLimits)
	}
	l := Limits{MaxHandlesPerSession: 3, MaxStartups: Startups{1, 50, 2}}.WithDefaults()
	want := DefaultLimits
	want.MaxHandlesPerSession, want.MaxStartups = 3, Startups{1, 50, 2}
	if l != want {
		t.Errorf("WithDefaults kept %+v, want %+v", l, want)
	}
}
