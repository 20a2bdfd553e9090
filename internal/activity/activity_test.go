package activity

import (
	"bytes"
	"flag"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transferd/transferd/internal/negotiate"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// TestJSONLines checks the wire format against a golden file: Transfer Family's field names,
// bytes as strings, one object per line, no empty fields.
func TestJSONLines(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	now := func() time.Time { return time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC) }
	s := NewJSONLines(&buf, now)
	s.Log(&Record{ActivityType: Connected, SessionID: "0049cd844c7536c06a89", ResourceARN: "arn:aws:transfer:us-east-1:000000000000:server/s-0123456789abcdef0",
		User: "alice", Client: "SSH-2.0-OpenSSH_9.2p1", SourceIP: "127.0.0.1", Role: "arn:aws:iam::123456789012:role/r", HomeDir: "LOGICAL",
		Method: "publickey", Kex: "curve25519-sha256", HostKeyAlgorithm: "rsa-sha2-512",
		Ciphers: "aes128-gcm@openssh.com,aes128-gcm@openssh.com", Macs: "<implicit>,<implicit>",
		SSHPublicKey: "AAAAC3Nz", SSHPublicKeyType: "ssh-ed25519", SSHPublicKeyFingerprint: "SHA256:abc"})
	s.Log(&Record{ActivityType: Open, SessionID: "0049cd844c7536c06a89", Path: "/bucket/alice/f", Mode: "CREATE|TRUNCATE|WRITE"})
	s.Log(&Record{ActivityType: Close, SessionID: "0049cd844c7536c06a89", Path: "/bucket/alice/f", BytesIn: "121"})
	s.Log(&Record{ActivityType: KexFailure, SourceIP: "127.0.0.1", Message: "no matching cipher found", Kex: "chacha20-poly1305@openssh.com",
		NegotiationCategory: "client to server cipher", ClientOffered: []string{"chacha20-poly1305@openssh.com"}, ServerOffered: []string{"aes128-gcm@openssh.com"}})
	s.Log(&Record{ActivityType: KexFailure, SourceIP: "127.0.0.1", Client: "SSH-2.0-OpenSSH_9.2p1", Message: "no matching host key type found", Kex: "ssh-ed25519",
		NegotiationCategory: "host key", ClientOffered: []string{"ssh-ed25519"}, ServerOffered: []string{"rsa-sha2-256", "rsa-sha2-512"},
		ClientOffer: &negotiate.Offer{
			KexAlgorithms: []string{"curve25519-sha256", "ext-info-c"}, ServerHostKeyAlgorithms: []string{"ssh-ed25519"},
			EncryptionAlgorithmsClientToServer: []string{"aes128-ctr"}, EncryptionAlgorithmsServerToClient: []string{"aes128-ctr"},
			MACAlgorithmsClientToServer: []string{"hmac-sha2-256"}, MACAlgorithmsServerToClient: []string{"hmac-sha2-256"},
			CompressionAlgorithmsClientToServer: []string{"none"}, CompressionAlgorithmsServerToClient: []string{"none"},
		}})
	golden := "testdata/records.golden"
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("got:\n%s\nwant:\n%s", buf.Bytes(), want)
	}
}

// TestJSONLinesConcurrent checks that concurrent records never interleave.
func TestJSONLinesConcurrent(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	s := NewJSONLines(&buf, nil)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				s.Log(&Record{ActivityType: Delete, Path: "/bucket/some/long/path/to/a/file"})
			}
		})
	}
	wg.Wait()
	lines := bytes.Split(bytes.TrimSuffix(buf.Bytes(), []byte("\n")), []byte("\n"))
	if len(lines) != 800 {
		t.Fatalf("got %d lines, want 800", len(lines))
	}
	for _, l := range lines {
		if !bytes.HasPrefix(l, []byte(`{"timestamp":`)) || !bytes.HasSuffix(l, []byte(`}`)) {
			t.Fatalf("broken line %q", l)
		}
	}
}

// Skim skips lines undecoded, and finds what a query that decodes every line finds: a
// DISCONNECTED line holds the word CONNECTED, and another server's ARN only its own ID.
func TestQuerySkim(t *testing.T) {
	lines := strings.Join([]string{
		`{"timestamp":"2026-12-05T10:00:00Z","activity-type":"CONNECTED","resource-arn":"arn:aws:transfer:us-east-1:000000000000:server/s-0123456789abcdef0","user":"a"}`,
		`{"timestamp":"2026-12-05T10:00:01Z","activity-type":"DISCONNECTED","resource-arn":"arn:aws:transfer:us-east-1:000000000000:server/s-0123456789abcdef0","user":"a"}`,
		`{"timestamp":"2026-12-05T10:00:02Z","activity-type":"CONNECTED","resource-arn":"arn:aws:transfer:us-east-1:000000000000:server/s-1111111111111111f","user":"b"}`,
		`{"timestamp":"2026-12-05T10:00:03Z","activity-type":"KEX_FAILURE","resource-arn":"arn:aws:transfer:us-east-1:000000000000:server/s-0123456789abcdef0"}`,
		`{"timestamp":"2026-12-05T10:00:04Z","activity-type":"CLOSE","resource-arn":"arn:aws:transfer:us-east-1:000000000000:server/s-0123456789abcdef0","path":"/CONNECTED"}`,
		`not a record`,
	}, "\n")
	for _, types := range [][]string{{"CONNECTED"}, {"CONNECTED", "KEX_FAILURE"}, {"CLOSE"}, nil} {
		for _, server := range []string{"s-0123456789abcdef0", ""} {
			var outs [2]strings.Builder
			var res [2]Result
			for i, skim := range []bool{false, true} {
				q := Query{Types: types, Server: server, Skim: skim}
				if err := q.Run(strings.NewReader(lines), &outs[i], &res[i], nil); err != nil {
					t.Fatal(err)
				}
			}
			if outs[0].String() != outs[1].String() || res[0].Matched != res[1].Matched {
				t.Errorf("types %v, server %q: skimmed %d records, decoded %d", types, server, res[1].Matched, res[0].Matched)
			}
		}
	}
}
