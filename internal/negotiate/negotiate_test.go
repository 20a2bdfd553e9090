package negotiate

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	mrand "math/rand/v2"
	"net"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// offer builds an offer with the same lists in both directions.
func offer(kex, hostKeys, ciphers, macs []string) *Offer {
	return &Offer{
		KexAlgorithms: kex, ServerHostKeyAlgorithms: hostKeys,
		EncryptionAlgorithmsClientToServer: ciphers, EncryptionAlgorithmsServerToClient: ciphers,
		MACAlgorithmsClientToServer: macs, MACAlgorithmsServerToClient: macs,
		CompressionAlgorithmsClientToServer: []string{"none"}, CompressionAlgorithmsServerToClient: []string{"none"},
	}
}

func l(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func TestNegotiate(t *testing.T) {
	server := offer(l("curve25519-sha256,ecdh-sha2-nistp256,kex-strict-s-v00@openssh.com"), l("rsa-sha2-256,rsa-sha2-512"),
		l("aes128-gcm@openssh.com,aes128-ctr,aes256-ctr"), l("hmac-sha2-256-etm@openssh.com,hmac-sha2-512"))
	for _, tc := range []struct {
		name   string
		client *Offer
		want   Algorithms
		// failure is the category the OpenSSH client reports; serverFailure the one transferd
		// records ("" for the same).
		failure, serverFailure string
		rule                   map[string]string // category -> substring of its rule
	}{
		{
			name:   "client order decides",
			client: offer(l("ecdh-sha2-nistp256,curve25519-sha256,ext-info-c"), l("rsa-sha2-512,rsa-sha2-256"), l("aes256-ctr,aes128-ctr"), l("hmac-sha2-512,hmac-sha2-256-etm@openssh.com")),
			want: Algorithms{KeyExchange: "ecdh-sha2-nistp256", HostKey: "rsa-sha2-512",
				ClientToServer: Direction{"aes256-ctr", "hmac-sha2-512", "none"}, ServerToClient: Direction{"aes256-ctr", "hmac-sha2-512", "none"}},
			rule: map[string]string{
				KeyExchange: "the client's first choice (the server's #2); ext-info-c, kex-strict-s-v00@openssh.com: markers, not algorithms; it needs a host key algorithm both accept: rsa-sha2-512",
				HostKey:     "the client's first choice (the server's #2)",
			},
		},
		{
			name:   "skips what the server lacks",
			client: offer(l("sntrup761x25519-sha512@openssh.com,curve25519-sha256"), l("ssh-ed25519,rsa-sha2-256"), l("chacha20-poly1305@openssh.com,aes128-ctr"), l("umac-64-etm@openssh.com,hmac-sha2-256-etm@openssh.com")),
			want: Algorithms{KeyExchange: "curve25519-sha256", HostKey: "rsa-sha2-256",
				ClientToServer: Direction{"aes128-ctr", "hmac-sha2-256-etm@openssh.com", "none"}, ServerToClient: Direction{"aes128-ctr", "hmac-sha2-256-etm@openssh.com", "none"}},
			rule: map[string]string{
				KeyExchange:          "the client's #2, the first of its choices the server also offers (the server's #1)",
				CipherClientToServer: "the client's #2",
			},
		},
		{
			name:   "AEAD makes the MAC implicit",
			client: offer(l("curve25519-sha256"), l("rsa-sha2-256"), l("aes128-gcm@openssh.com"), l("hmac-sha1")),
			want: Algorithms{KeyExchange: "curve25519-sha256", HostKey: "rsa-sha2-256",
				ClientToServer: Direction{"aes128-gcm@openssh.com", Implicit, "none"}, ServerToClient: Direction{"aes128-gcm@openssh.com", Implicit, "none"}},
			rule: map[string]string{MACClientToServer: "aes128-gcm@openssh.com is an AEAD cipher"},
		},
		{
			name:    "markers are not key exchanges",
			client:  offer(l("ext-info-c,kex-strict-c-v00@openssh.com,kex-strict-s-v00@openssh.com"), l("rsa-sha2-256"), l("aes128-ctr"), l("hmac-sha2-512")),
			failure: KeyExchange,
			rule:    map[string]string{KeyExchange: "none: the client offers no algorithm"},
		},
		{
			name:    "no host key",
			client:  offer(l("curve25519-sha256"), l("ssh-ed25519"), l("aes128-ctr"), l("hmac-sha2-512")),
			failure: HostKey,
			rule:    map[string]string{KeyExchange: "it needs a host key algorithm both accept, and there is none", HostKey: "none: the server does not offer the client's only algorithm"},
		},
		{
			name:    "no MAC",
			client:  offer(l("curve25519-sha256"), l("rsa-sha2-256"), l("aes128-ctr"), l("hmac-sha1,umac-64@openssh.com")),
			failure: MACServerToClient, serverFailure: MACClientToServer,
			rule: map[string]string{MACClientToServer: "none: the server offers none of the client's 2 algorithms"},
		},
		{
			name: "directions differ: OpenSSH checks server to client first, transferd client to server",
			client: &Offer{KexAlgorithms: l("curve25519-sha256"), ServerHostKeyAlgorithms: l("rsa-sha2-256"),
				EncryptionAlgorithmsClientToServer: l("aes192-ctr"), EncryptionAlgorithmsServerToClient: l("aes128-ctr"),
				MACAlgorithmsClientToServer: l("hmac-sha2-512"), MACAlgorithmsServerToClient: l("hmac-sha1"),
				CompressionAlgorithmsClientToServer: l("none"), CompressionAlgorithmsServerToClient: l("none")},
			failure: MACServerToClient, serverFailure: CipherClientToServer,
		},
		{
			name: "compression",
			client: &Offer{KexAlgorithms: l("curve25519-sha256"), ServerHostKeyAlgorithms: l("rsa-sha2-256"),
				EncryptionAlgorithmsClientToServer: l("aes128-ctr"), EncryptionAlgorithmsServerToClient: l("aes128-ctr"),
				MACAlgorithmsClientToServer: l("hmac-sha2-512"), MACAlgorithmsServerToClient: l("hmac-sha2-512"),
				CompressionAlgorithmsClientToServer: l("zlib@openssh.com"), CompressionAlgorithmsServerToClient: l("zlib@openssh.com,none")},
			failure: CompressionClientToServer,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := Negotiate(tc.client, server)
			if len(o.Choices) != 8 {
				t.Fatalf("%d choices, want 8: %+v", len(o.Choices), o.Choices)
			}
			switch {
			case tc.failure == "":
				if o.Failure != nil || o.ServerFailure != nil {
					t.Fatalf("failure %+v / %+v, want none", o.Failure, o.ServerFailure)
				}
				if got := o.Algorithms(); got != tc.want {
					t.Errorf("algorithms\ngot  %+v\nwant %+v", got, tc.want)
				}
			default:
				if o.Failure == nil || o.Failure.Category != tc.failure {
					t.Fatalf("failure %+v, want category %q", o.Failure, tc.failure)
				}
				want := tc.serverFailure
				if want == "" {
					want = tc.failure
				}
				if o.ServerFailure == nil || o.ServerFailure.Category != want {
					t.Errorf("server failure %+v, want category %q", o.ServerFailure, want)
				}
				c := o.Choice(tc.failure)
				if o.Failure.Message != Message(tc.failure) || !slices.Equal(o.Failure.ClientOffered, c.Client) || !slices.Equal(o.Failure.ServerOffered, c.Server) {
					t.Errorf("failure %+v does not carry the category's message and lists %+v", o.Failure, c)
				}
				wantMsg := Message(tc.failure) + ". Their offer: " + strings.Join(c.Server, ",")
				if got := o.Failure.ClientMessage(); got != wantMsg {
					t.Errorf("ClientMessage %q, want %q", got, wantMsg)
				}
			}
			for cat, sub := range tc.rule {
				if r := o.Choice(cat).Rule; !strings.Contains(r, sub) {
					t.Errorf("%s rule %q lacks %q", cat, r, sub)
				}
			}
		})
	}
}

func TestMessage(t *testing.T) {
	for cat, want := range map[string]string{
		KeyExchange:               "no matching key exchange method found",
		HostKey:                   "no matching host key type found",
		CipherServerToClient:      "no matching cipher found",
		MACClientToServer:         "no matching MAC found",
		CompressionServerToClient: "no matching compression method found",
	} {
		if got := Message(cat); got != want {
			t.Errorf("Message(%q) = %q, want %q", cat, got, want)
		}
	}
}

func TestHostKeyAlgorithmsFollowTheWireOrder(t *testing.T) {
	for _, tc := range []struct {
		keyType string
		allowed []string
		want    []string
	}{
		{"ssh-rsa", l("rsa-sha2-512,rsa-sha2-256,ssh-ed25519"), l("rsa-sha2-256,rsa-sha2-512")},
		{"ssh-rsa", l("ssh-rsa,rsa-sha2-512"), l("rsa-sha2-512,ssh-rsa")},
		{"ssh-ed25519", l("rsa-sha2-512,ssh-ed25519"), l("ssh-ed25519")},
		{"ecdsa-sha2-nistp384", l("ecdsa-sha2-nistp256"), nil},
	} {
		if got := HostKeyAlgorithms(tc.keyType, tc.allowed); !slices.Equal(got, tc.want) {
			t.Errorf("HostKeyAlgorithms(%s, %q) = %q, want %q", tc.keyType, tc.allowed, got, tc.want)
		}
	}
}

// ---- golang.org/x/crypto/ssh agrees ----

// Names golang.org/x/crypto/ssh implements on both sides, and a few it does not.
var (
	xKexs     = l("mlkem768x25519-sha256,curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,diffie-hellman-group14-sha256,diffie-hellman-group14-sha1")
	xCiphers  = l("aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr")
	xMACs     = l("hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,hmac-sha2-256,hmac-sha2-512,hmac-sha1")
	xHostKeys = l("rsa-sha2-256,rsa-sha2-512,ssh-rsa,ssh-ed25519,ecdsa-sha2-nistp256")
)

type testKeys struct {
	once    sync.Once
	signers map[string]ssh.AlgorithmSigner // by key type
}

var hostKeys testKeys

func (k *testKeys) get(t *testing.T) map[string]ssh.AlgorithmSigner {
	k.once.Do(func() {
		k.signers = map[string]ssh.AlgorithmSigner{}
		rk, _ := rsa.GenerateKey(rand.Reader, 2048)
		_, ek, _ := ed25519.GenerateKey(rand.Reader)
		ck, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		for _, priv := range []any{rk, ek, ck} {
			s, err := ssh.NewSignerFromKey(priv)
			if err != nil {
				panic(err)
			}
			k.signers[s.PublicKey().Type()] = s.(ssh.AlgorithmSigner)
		}
	})
	return k.signers
}

// tap feeds what a connection writes to a Stream, so a test sees the KEXINIT on the wire.
type tap struct {
	net.Conn
	mu sync.Mutex
	s  Stream
}

func (c *tap) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.s.Feed(p)
	c.mu.Unlock()
	return c.Conn.Write(p)
}

func (c *tap) offer(t *testing.T) *Offer {
	c.mu.Lock()
	defer c.mu.Unlock()
	o, err := c.s.Offer()
	if err != nil {
		t.Fatalf("no KEXINIT on the wire: %v", err)
	}
	return o
}

type handshakeCase struct {
	server   ServerAlgorithms
	keyTypes []string
	client   ServerAlgorithms // the client's lists (HostKeyAlgorithms: what it accepts)
}

// handshake runs x/crypto/ssh's client and server over loopback and returns both KEXINITs as
// sent, what the server negotiated, and the server's error.
func handshake(t *testing.T, tc handshakeCase) (client, server *Offer, algs ssh.NegotiatedAlgorithms, err error) {
	t.Helper()
	ln, lerr := net.Listen("tcp", "127.0.0.1:0")
	if lerr != nil {
		t.Fatal(lerr)
	}
	defer ln.Close()
	keys := hostKeys.get(t)
	sc := &ssh.ServerConfig{Config: ssh.Config{KeyExchanges: tc.server.KeyExchanges, Ciphers: tc.server.Ciphers, MACs: tc.server.MACs}, NoClientAuth: true}
	for _, kt := range tc.keyTypes {
		algs := HostKeyAlgorithms(kt, tc.server.HostKeyAlgorithms)
		if len(algs) == 0 {
			continue
		}
		ms, merr := ssh.NewSignerWithAlgorithms(keys[kt], algs)
		if merr != nil {
			t.Fatal(merr)
		}
		sc.AddHostKey(ms)
	}
	type result struct {
		tap  *tap
		algs ssh.NegotiatedAlgorithms
		err  error
	}
	done := make(chan result, 1)
	go func() {
		nc, aerr := ln.Accept()
		if aerr != nil {
			done <- result{err: aerr}
			return
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(20 * time.Second))
		tp := &tap{Conn: nc}
		conn, _, _, serr := ssh.NewServerConn(tp, sc)
		r := result{tap: tp, err: serr}
		if serr == nil {
			r.algs = conn.Conn.(ssh.AlgorithmsConnMetadata).Algorithms()
			conn.Close()
		}
		done <- r
	}()
	nc, derr := net.Dial("tcp", ln.Addr().String())
	if derr != nil {
		t.Fatal(derr)
	}
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	ctap := &tap{Conn: nc}
	cc := &ssh.ClientConfig{User: "user", HostKeyCallback: ssh.InsecureIgnoreHostKey(), HostKeyAlgorithms: tc.client.HostKeyAlgorithms,
		Config: ssh.Config{KeyExchanges: tc.client.KeyExchanges, Ciphers: tc.client.Ciphers, MACs: tc.client.MACs}}
	c, _, _, cerr := ssh.NewClientConn(ctap, ln.Addr().String(), cc)
	if cerr == nil {
		defer c.Close()
	}
	nc.Close()
	r := <-done
	if r.tap == nil {
		t.Fatal(r.err)
	}
	return ctap.offer(t), r.tap.offer(t), r.algs, r.err
}

// check compares Negotiate's outcome and ServerOffer with what x/crypto did.
func check(t *testing.T, tc handshakeCase) {
	t.Helper()
	clientOffer, serverOffer, algs, err := handshake(t, tc)
	if want := ServerOffer(tc.server, tc.keyTypes); !reflect.DeepEqual(serverOffer, want) {
		t.Errorf("server %+v with keys %q sent\n%+v\nServerOffer says\n%+v", tc.server, tc.keyTypes, serverOffer, want)
	}
	o := Negotiate(clientOffer, serverOffer)
	var ne *ssh.AlgorithmNegotiationError
	switch {
	case err == nil:
		if o.Failure != nil {
			t.Errorf("x/crypto negotiated %+v; Negotiate fails: %+v\nclient %+v\nserver %+v", algs, o.Failure, clientOffer, serverOffer)
			return
		}
		mac := func(m string) string {
			if m == "" {
				return Implicit
			}
			return m
		}
		got := o.Algorithms()
		want := Algorithms{KeyExchange: algs.KeyExchange, HostKey: algs.HostKey,
			ClientToServer: Direction{algs.Read.Cipher, mac(algs.Read.MAC), "none"},
			ServerToClient: Direction{algs.Write.Cipher, mac(algs.Write.MAC), "none"}}
		if got != want {
			t.Errorf("Negotiate says %+v; x/crypto negotiated %+v\nclient %+v\nserver %+v", got, want, clientOffer, serverOffer)
		}
	case errors.As(err, &ne):
		f := o.ServerFailure
		if f == nil {
			t.Errorf("x/crypto failed (%v); Negotiate succeeds with %+v", err, o.Algorithms())
			return
		}
		if f.Category != ne.What || !slices.Equal(f.ClientOffered, ne.RequestedAlgorithms) || !slices.Equal(f.ServerOffered, ne.SupportedAlgorithms) {
			t.Errorf("x/crypto failed in %q (client %q, server %q); Negotiate in %q (client %q, server %q)",
				ne.What, ne.RequestedAlgorithms, ne.SupportedAlgorithms, f.Category, f.ClientOffered, f.ServerOffered)
		}
	default:
		t.Errorf("handshake %+v: %v", tc, err)
	}
}

func TestXCryptoAgrees(t *testing.T) {
	t.Parallel()
	all := ServerAlgorithms{KeyExchanges: xKexs, Ciphers: xCiphers, MACs: xMACs, HostKeyAlgorithms: xHostKeys}
	for _, tc := range []struct {
		name string
		handshakeCase
	}{
		{"defaults", handshakeCase{server: all, keyTypes: l("ssh-rsa"), client: ServerAlgorithms{}}},
		{"curve25519 alias added", handshakeCase{
			server:   ServerAlgorithms{KeyExchanges: l("curve25519-sha256"), Ciphers: xCiphers, MACs: xMACs, HostKeyAlgorithms: xHostKeys},
			keyTypes: l("ssh-ed25519"), client: ServerAlgorithms{KeyExchanges: l("curve25519-sha256@libssh.org")}}},
		{"RSA key, policy order ignored on the wire", handshakeCase{
			server:   ServerAlgorithms{KeyExchanges: xKexs, Ciphers: xCiphers, MACs: xMACs, HostKeyAlgorithms: l("rsa-sha2-512,rsa-sha2-256")},
			keyTypes: l("ssh-rsa,ssh-ed25519"), client: ServerAlgorithms{HostKeyAlgorithms: l("ssh-ed25519,rsa-sha2-512")}}},
		{"host key failure", handshakeCase{server: all, keyTypes: l("ssh-rsa"), client: ServerAlgorithms{HostKeyAlgorithms: l("ssh-ed25519")}}},
		{"AEAD", handshakeCase{server: all, keyTypes: l("ecdsa-sha2-nistp256,ssh-rsa"), client: ServerAlgorithms{Ciphers: l("chacha20-poly1305@openssh.com"), MACs: l("hmac-sha1")}}},
	} {
		t.Run(tc.name, func(t *testing.T) { check(t, tc.handshakeCase) })
	}
	// Random lists on both sides, some with names the other side lacks.
	rng := mrand.New(mrand.NewPCG(1, 2))
	pick := func(from []string, min int) []string {
		out := slices.Clone(from)
		rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
		return out[:min+rng.IntN(len(out)-min+1)]
	}
	for i := range 60 {
		tc := handshakeCase{
			server:   ServerAlgorithms{KeyExchanges: pick(xKexs, 1), Ciphers: pick(xCiphers, 1), MACs: pick(xMACs, 1), HostKeyAlgorithms: pick(xHostKeys, 1)},
			keyTypes: pick(l("ssh-rsa,ssh-ed25519,ecdsa-sha2-nistp256"), 1),
			client:   ServerAlgorithms{KeyExchanges: pick(xKexs, 1), Ciphers: pick(xCiphers, 1), MACs: pick(xMACs, 1), HostKeyAlgorithms: pick(xHostKeys, 1)},
		}
		// x/crypto refuses to start a server without a host key it can offer.
		if len(ServerOffer(tc.server, tc.keyTypes).ServerHostKeyAlgorithms) == 0 {
			continue
		}
		t.Run("random", func(t *testing.T) {
			t.Logf("case %d: %+v", i, tc)
			check(t, tc)
		})
	}
}
