package metrics

import (
	"testing"
	"time"

	"github.com/transferd/transferd/internal/activity"
)

type discard struct{ n int }

func (d *discard) Log(*activity.Record) { d.n++ }

func TestSinkCounts(t *testing.T) {
	m := New("n1")
	next := &discard{}
	s := m.Sink(next)
	arn := "arn:aws:transfer:us-east-1:000000000000:server/s-0123456789abcdef0"
	for _, r := range []*activity.Record{
		{ActivityType: activity.Connected, ResourceARN: arn, Kex: "curve25519-sha256", Ciphers: "aes128-gcm@openssh.com,aes128-gcm@openssh.com"},
		{ActivityType: activity.Close, ResourceARN: arn, BytesIn: "100"},
		{ActivityType: activity.Close, ResourceARN: arn, BytesIn: "50", BytesOut: "7"}, // a file opened read-write
		{ActivityType: activity.Close, ResourceARN: arn, BytesOut: "30"},
		{ActivityType: activity.PartialClose, ResourceARN: arn, BytesIn: "999"},
		{ActivityType: activity.AuthFailure, ResourceARN: arn, Method: "publickey", Reason: "UnknownUser"},
		{ActivityType: activity.AuthFailure, ResourceARN: arn, Method: "password"},
		{ActivityType: activity.KexFailure, ResourceARN: arn},
		{ActivityType: activity.Disconnected, ResourceARN: arn},
	} {
		s.Log(r)
	}
	m.Refused("s-0123456789abcdef0", "MaxStartups")
	m.APIRequest("ListServers", "OK")
	m.StorageRequest("s3", "PutObject", time.Millisecond, nil)
	if next.n != 9 {
		t.Errorf("the next sink got %d records, want 9", next.n)
	}
	got, err := m.Gather()
	if err != nil {
		t.Fatal(err)
	}
	srv := `server_id="s-0123456789abcdef0"`
	for sample, want := range map[string]float64{
		"transferd_bytes_in_total{" + srv + "}":                                              150,
		"transferd_bytes_out_total{" + srv + "}":                                             37,
		"transferd_files_in_total{" + srv + "}":                                              2,
		"transferd_files_out_total{" + srv + "}":                                             1,
		"transferd_sessions_total{" + srv + "}":                                              1,
		"transferd_sessions_active{" + srv + "}":                                             0,
		`transferd_negotiated_kex_total{algorithm="curve25519-sha256",` + srv + "}":          1,
		`transferd_auth_failures_total{method="publickey",reason="UnknownUser",` + srv + "}": 1,
		`transferd_auth_failures_total{method="password",reason="Refused",` + srv + "}":      1,
		`transferd_connections_refused_total{reason="Negotiation",` + srv + "}":              1,
		`transferd_connections_refused_total{reason="MaxStartups",` + srv + "}":              1,
		`transferd_api_requests_total{code="OK",operation="ListServers"}`:                    1,
		`transferd_node_info{node="n1"}`:                                                     1,
	} {
		if got[sample] != want {
			t.Errorf("%s = %v, want %v", sample, got[sample], want)
		}
	}
}

func TestNilCountsNothing(t *testing.T) {
	var m *Metrics
	m.Refused("s", "r")
	m.APIRequest("o", "c")
	m.StorageRequest("s3", "GetObject", time.Second, nil)
	next := &discard{}
	if s := m.Sink(next); s != activity.Sink(next) {
		t.Error("a nil Metrics' Sink is not the next sink itself")
	}
}

func TestServerID(t *testing.T) {
	for arn, want := range map[string]string{
		"arn:aws:transfer:us-east-1:000000000000:server/s-0123456789abcdef0": "s-0123456789abcdef0",
		"": "", "arn:aws:transfer:us-east-1:000000000000:user/s-1/alice": "",
	} {
		if got := ServerID(arn); got != want {
			t.Errorf("ServerID(%q) = %q, want %q", arn, got, want)
		}
	}
}
