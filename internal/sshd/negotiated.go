package sshd

import (
	"errors"
	"log/slog"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/transferd/transferd/internal/activity"
	"github.com/transferd/transferd/internal/negotiate"
)

// The records of a connection's negotiation are computed by the negotiate package from the
// client's first KEXINIT (read off the wire by sniffConn) and the server's (built.offer), the
// same code that `transferd explain` predicts with. What x/crypto/ssh really negotiated
// (AlgorithmsConnMetadata, AlgorithmNegotiationError) is the cross-check: should the two ever
// disagree, an error names both and the record says what x/crypto did, which is what the client
// got.

// outcome negotiates the client's offer against the server's.
func (c *conn) outcome() (*negotiate.Outcome, *negotiate.Offer, error) {
	offer, err := c.nc.ClientOffer()
	if err != nil {
		return nil, nil, err
	}
	return negotiate.Negotiate(offer, c.b.offer), offer, nil
}

// recordAlgorithms fills in a CONNECTED record's kex, host-key-algorithm, ciphers and macs (and
// client-offer when the server records offers).
func (c *conn) recordAlgorithms(log *slog.Logger, r *activity.Record, sc *ssh.ServerConn) {
	var real *negotiate.Algorithms
	if am, ok := sc.Conn.(ssh.AlgorithmsConnMetadata); ok {
		real = fromXCrypto(am.Algorithms())
	}
	got := real
	o, offer, err := c.outcome()
	switch {
	case err != nil:
		log.Warn("the client's KEXINIT could not be read; the CONNECTED record takes the algorithms from x/crypto/ssh", "err", err)
	case o.Failure != nil:
		log.Error("negotiate predicts a failed key exchange, but x/crypto/ssh negotiated one",
			"negotiate", o.Failure.Category+": "+o.Failure.Message, "x/crypto", describe(real))
	case real != nil && o.Algorithms() != *real:
		a := o.Algorithms()
		log.Error("negotiate and x/crypto/ssh disagree on the negotiated algorithms; the record keeps x/crypto's",
			"negotiate", describe(&a), "x/crypto", describe(real))
	default:
		a := o.Algorithms()
		got = &a
	}
	if got != nil {
		r.Kex = got.KeyExchange
		r.HostKeyAlgorithm = got.HostKey
		r.Ciphers = got.Ciphers()
		r.Macs = got.MACs()
	}
	if c.b.cfg.RecordClientOffer {
		r.ClientOffer = offer
	}
}

// fromXCrypto is x/crypto's answer in negotiate's terms. For a server, Read is client to server
// and Write server to client; an AEAD cipher's MAC is "". x/crypto negotiates compression but
// implements only none.
func fromXCrypto(a ssh.NegotiatedAlgorithms) *negotiate.Algorithms {
	mac := func(m string) string {
		if m == "" {
			return negotiate.Implicit
		}
		return m
	}
	return &negotiate.Algorithms{
		KeyExchange:    a.KeyExchange,
		HostKey:        a.HostKey,
		ClientToServer: negotiate.Direction{Cipher: a.Read.Cipher, MAC: mac(a.Read.MAC), Compression: "none"},
		ServerToClient: negotiate.Direction{Cipher: a.Write.Cipher, MAC: mac(a.Write.MAC), Compression: "none"},
	}
}

func describe(a *negotiate.Algorithms) string {
	if a == nil {
		return "unknown"
	}
	return "kex " + a.KeyExchange + ", host key " + a.HostKey + ", ciphers " + a.Ciphers() + ", macs " + a.MACs() +
		", compression " + a.ClientToServer.Compression + "," + a.ServerToClient.Compression
}

// handshakeFailed writes KEX_FAILURE for a failed negotiation; other failures before
// authentication (scanners, probes, clients giving up, auth failures already logged) go to the
// debug log.
func (c *conn) handshakeFailed(log *slog.Logger, err error) {
	cfg := c.b.cfg
	var ne *ssh.AlgorithmNegotiationError
	if !errors.As(err, &ne) {
		log.Debug("handshake ended", "err", err)
		return
	}
	real := &negotiate.Failure{Category: ne.What, Message: negotiate.Message(ne.What),
		ClientOffered: ne.RequestedAlgorithms, ServerOffered: ne.SupportedAlgorithms}
	f := real
	o, offer, oerr := c.outcome()
	switch {
	case oerr != nil:
		log.Warn("the client's KEXINIT could not be read; the KEX_FAILURE record takes the failure from x/crypto/ssh", "err", oerr)
	case o.ServerFailure == nil:
		a := o.Algorithms()
		log.Error("negotiate predicts a successful key exchange, but x/crypto/ssh failed",
			"negotiate", describe(&a), "x/crypto", describeFailure(real))
	case !sameFailure(o.ServerFailure, real):
		log.Error("negotiate and x/crypto/ssh disagree on the failed negotiation; the record keeps x/crypto's",
			"negotiate", describeFailure(o.ServerFailure), "x/crypto", describeFailure(real))
	default:
		f = o.ServerFailure
	}
	r := &activity.Record{
		ActivityType:        activity.KexFailure,
		ResourceARN:         cfg.ResourceARN,
		SourceIP:            remoteIP(c.nc.RemoteAddr()),
		Client:              cut(c.nc.ClientVersion(), maxRecordClient),
		Message:             f.Message,
		Kex:                 strings.Join(f.ClientOffered, ","),
		NegotiationCategory: f.Category,
		ClientOffered:       f.ClientOffered,
		// Without the markers x/crypto appends (kex-strict-s-v00@openssh.com): the record shows
		// what the security policy offers.
		ServerOffered: negotiate.WithoutMarkers(f.ServerOffered),
	}
	if cfg.RecordClientOffer {
		r.ClientOffer = offer
	}
	cfg.Activity.Log(r)
	log.Info("key exchange failed", "message", f.Message, "category", f.Category, "client", r.Client)
}

func sameFailure(a, b *negotiate.Failure) bool {
	return a.Category == b.Category && a.Message == b.Message &&
		slices.Equal(a.ClientOffered, b.ClientOffered) && slices.Equal(a.ServerOffered, b.ServerOffered)
}

func describeFailure(f *negotiate.Failure) string {
	return f.Category + ": " + f.Message + "; client offered " + strings.Join(f.ClientOffered, ",") +
		"; server offered " + strings.Join(f.ServerOffered, ",")
}
