package sshd

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"log/slog"
	"net"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/transferd/transferd/internal/activity"
	"github.com/transferd/transferd/internal/negotiate"
	"github.com/transferd/transferd/internal/policy"
	"github.com/transferd/transferd/internal/transfer"
)

// recorder keeps activity records.
type recorder struct {
	mu   sync.Mutex
	recs []activity.Record
}

func (r *recorder) Log(rec *activity.Record) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, *rec)
}

// wait returns the first record of type typ, waiting a little for it.
func (r *recorder) wait(t *testing.T, typ string) activity.Record {
	t.Helper()
	for range 200 {
		r.mu.Lock()
		for _, rec := range r.recs {
			if rec.ActivityType == typ {
				r.mu.Unlock()
				return rec
			}
		}
		r.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no %s record", typ)
	return activity.Record{}
}

// levels counts log lines at Warn and above.
type levels struct {
	slog.Handler
	mu   sync.Mutex
	msgs []string
}

func (l *levels) Enabled(_ context.Context, lv slog.Level) bool { return lv >= slog.LevelWarn }
func (l *levels) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	b.WriteString(r.Level.String() + " " + r.Message)
	r.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.String())
		return true
	})
	l.msgs = append(l.msgs, b.String())
	return nil
}
func (l *levels) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *levels) WithGroup(string) slog.Handler      { return l }

type oneUser struct{ u *transfer.User }

func (o oneUser) Lookup(_ context.Context, q LoginQuery) (*LoginAnswer, error) {
	if q.UserName != o.u.UserName || q.HasPassword {
		return nil, transfer.NotFound("User", q.UserName, "unknown user")
	}
	return &LoginAnswer{User: *o.u}, nil
}

type testKeys struct {
	once   sync.Once
	host   map[string]ssh.Signer
	client ssh.Signer
}

var keys testKeys

func (k *testKeys) get() *testKeys {
	k.once.Do(func() {
		k.host = map[string]ssh.Signer{}
		rk, _ := rsa.GenerateKey(rand.Reader, 2048)
		_, ek, _ := ed25519.GenerateKey(rand.Reader)
		ck, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		for _, priv := range []any{rk, ek, ck} {
			s, err := ssh.NewSignerFromKey(priv)
			if err != nil {
				panic(err)
			}
			k.host[s.PublicKey().Type()] = s
		}
		_, uk, _ := ed25519.GenerateKey(rand.Reader)
		k.client, _ = ssh.NewSignerFromKey(uk)
	})
	return k
}

// testServer serves one sshd.Server for a policy and host key types on loopback.
type testServer struct {
	addr string
	recs *recorder
	logs *levels
}

func startServer(t *testing.T, policyName string, keyTypes []string, recordOffer bool) *testServer {
	t.Helper()
	return startServerWith(t, policyName, keyTypes, func(c *Config) { c.RecordClientOffer = recordOffer })
}

// startServerWith is startServer with the configuration changed by change.
func startServerWith(t *testing.T, policyName string, keyTypes []string, change func(*Config)) *testServer {
	t.Helper()
	cat, err := policy.NewCatalog()
	if err != nil {
		t.Fatal(err)
	}
	p, err := cat.Lookup(policyName)
	if err != nil {
		t.Fatal(err)
	}
	k := keys.get()
	var hostKeys []ssh.Signer
	for _, kt := range keyTypes {
		hostKeys = append(hostKeys, k.host[kt])
	}
	sup := p.Support()
	ts := &testServer{recs: &recorder{}, logs: &levels{}}
	cfg := Config{
		Server: transfer.Server{ServerID: "s-0123456789abcdef0", SecurityPolicyName: policyName},
		Algorithms: Algorithms{KeyExchanges: sup.Kexs.Offered, Ciphers: sup.Ciphers.Offered, MACs: sup.Macs.Offered,
			HostKeyAlgorithms: sup.HostKeyAlgorithms.Offered},
		HostKeys: hostKeys,
		Auth: oneUser{&transfer.User{UserName: "alice", HomeDirectoryType: transfer.HomeLogical,
			SSHPublicKeys: []transfer.SSHPublicKey{{Fingerprint: ssh.FingerprintSHA256(k.client.PublicKey())}}}},
		Activity: ts.recs,
		Logger:   slog.New(ts.logs),
	}
	change(&cfg)
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		srv.Close()
		ts.logs.mu.Lock()
		defer ts.logs.mu.Unlock()
		for _, m := range ts.logs.msgs {
			t.Errorf("server logged: %s", m)
		}
	})
	ts.addr = ln.Addr().String()
	return ts
}

// clientTap records what the client writes, for its KEXINIT.
type clientTap struct {
	net.Conn
	mu sync.Mutex
	s  negotiate.Stream
}

func (c *clientTap) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.s.Feed(p)
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// dial connects as alice with cc's algorithms and returns the client's KEXINIT, what the client
// negotiated and its error.
func dial(t *testing.T, addr string, cc ssh.Config, hostKeyAlgs []string) (*negotiate.Offer, error) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	tap := &clientTap{Conn: nc}
	cfg := &ssh.ClientConfig{User: "alice", Auth: []ssh.AuthMethod{ssh.PublicKeys(keys.get().client)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), HostKeyAlgorithms: hostKeyAlgs, Config: cc}
	c, _, _, err := ssh.NewClientConn(tap, addr, cfg)
	if err == nil {
		c.Close()
	}
	o, oerr := tap.s.Offer()
	if oerr != nil {
		t.Fatalf("the client's KEXINIT: %v", oerr)
	}
	return o, err
}

// TestRecordsAgreeWithXCrypto connects x/crypto clients with assorted preferences to servers of
// several policies and checks that each CONNECTED or KEX_FAILURE record is what negotiate
// computes from both offers, that x/crypto agreed (the server logs no error), and that the
// server's offer on the wire is the one the records are computed from.
func TestRecordsAgreeWithXCrypto(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		policy   string
		keyTypes []string
		cfg      ssh.Config
		hostKeys []string
		fails    string // negotiation-category, "" for CONNECTED
	}{
		{"defaults", "TransferSecurityPolicy-2024-01", []string{"ssh-rsa"}, ssh.Config{}, nil, ""},
		{"client prefers aes256-ctr", "TransferSecurityPolicy-2024-01", []string{"ssh-rsa", "ssh-ed25519"},
			ssh.Config{Ciphers: []string{"aes256-ctr", "aes128-gcm@openssh.com"}, MACs: []string{"hmac-sha2-512-etm@openssh.com", "hmac-sha2-256-etm@openssh.com"}},
			[]string{"ssh-ed25519", "rsa-sha2-512"}, ""},
		{"AEAD", "TransferSecurityPolicy-2018-11", []string{"ssh-rsa"}, ssh.Config{Ciphers: []string{"chacha20-poly1305@openssh.com"}}, nil, ""},
		{"group14-sha1 on 2018-11", "TransferSecurityPolicy-2018-11", []string{"ssh-rsa"}, ssh.Config{KeyExchanges: []string{"diffie-hellman-group14-sha1"}}, []string{"ssh-rsa"}, ""},
		{"ecdsa host key", "TransferSecurityPolicy-FIPS-2024-01", []string{"ssh-rsa", "ecdsa-sha2-nistp384"}, ssh.Config{KeyExchanges: []string{"ecdh-sha2-nistp521"}},
			[]string{"ecdsa-sha2-nistp384"}, ""},
		{"no common key exchange", "TransferSecurityPolicy-FIPS-2024-01", []string{"ssh-rsa"}, ssh.Config{KeyExchanges: []string{"curve25519-sha256"}}, nil, "key exchange"},
		{"no common host key", "TransferSecurityPolicy-2024-01", []string{"ssh-rsa"}, ssh.Config{}, []string{"ssh-rsa"}, "host key"},
		{"no common cipher", "TransferSecurityPolicy-2024-01", []string{"ssh-rsa"}, ssh.Config{Ciphers: []string{"chacha20-poly1305@openssh.com"}}, nil, "client to server cipher"},
		{"no common MAC", "TransferSecurityPolicy-2024-01", []string{"ssh-rsa"}, ssh.Config{Ciphers: []string{"aes128-ctr"}, MACs: []string{"hmac-sha1"}}, nil, "client to server MAC"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, record := range []bool{false, true} {
				s := startServer(t, tc.policy, tc.keyTypes, record)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				hello, err := negotiate.Probe(ctx, s.addr)
				cancel()
				if err != nil {
					t.Fatal(err)
				}
				clientOffer, err := dial(t, s.addr, tc.cfg, tc.hostKeys)
				o := negotiate.Negotiate(clientOffer, hello.Offer)
				var want activity.Record
				if tc.fails == "" {
					if err != nil {
						t.Fatalf("connecting: %v", err)
					}
					a := o.Algorithms()
					want = activity.Record{Kex: a.KeyExchange, HostKeyAlgorithm: a.HostKey, Ciphers: a.Ciphers(), Macs: a.MACs()}
				} else {
					f := o.ServerFailure
					if err == nil || f == nil || f.Category != tc.fails {
						t.Fatalf("connecting: %v; negotiate's failure %+v, want one in %q", err, f, tc.fails)
					}
					want = activity.Record{Kex: strings.Join(f.ClientOffered, ","), Message: f.Message, NegotiationCategory: f.Category,
						ClientOffered: f.ClientOffered, ServerOffered: negotiate.WithoutMarkers(f.ServerOffered)}
				}
				if record {
					want.ClientOffer = clientOffer
				}
				typ := activity.Connected
				if tc.fails != "" {
					typ = activity.KexFailure
				}
				got := s.recs.wait(t, typ)
				got = activity.Record{Kex: got.Kex, HostKeyAlgorithm: got.HostKeyAlgorithm, Ciphers: got.Ciphers, Macs: got.Macs,
					Message: got.Message, NegotiationCategory: got.NegotiationCategory, ClientOffered: got.ClientOffered,
					ServerOffered: got.ServerOffered, ClientOffer: got.ClientOffer}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("record (recording offers: %v)\ngot  %+v\nwant %+v", record, got, want)
				}
			}
		})
	}
}

// TestServerOfferOnTheWire checks that what every server policy's server sends is the offer its
// records are computed from: the policy's negotiable lists and the host keys' algorithms in
// x/crypto's order.
func TestServerOfferOnTheWire(t *testing.T) {
	t.Parallel()
	cat, err := policy.NewCatalog()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range cat.Policies() {
		if !p.IsServer() {
			continue
		}
		t.Run(p.SecurityPolicyName, func(t *testing.T) {
			t.Parallel()
			keyTypes := []string{"ssh-rsa", "ssh-ed25519", "ecdsa-sha2-nistp384"}
			s := startServer(t, p.SecurityPolicyName, keyTypes, false)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			hello, err := negotiate.Probe(ctx, s.addr)
			if err != nil {
				t.Fatal(err)
			}
			sup := p.Support()
			want := negotiate.ServerOffer(negotiate.ServerAlgorithms{KeyExchanges: sup.Kexs.Offered, Ciphers: sup.Ciphers.Offered,
				MACs: sup.Macs.Offered, HostKeyAlgorithms: sup.HostKeyAlgorithms.Offered}, keyTypes)
			if !reflect.DeepEqual(hello.Offer, want) {
				t.Errorf("on the wire\n%+v\nwant\n%+v", hello.Offer, want)
			}
		})
	}
}
