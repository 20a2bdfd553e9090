// Package sshd is transferd's SSH transport: one Server per Transfer Family server, with a
// listener, handshakes restricted to the server's security policy, authentication by public key,
// password and keyboard-interactive as the server's identity provider allows (each login asks an
// Authenticator the daemon supplies), activity records for connections (CONNECTED with the
// negotiated algorithms and the login method, KEX_FAILURE, AUTH_FAILURE, DISCONNECTED) and dispatch
// of the sftp subsystem. Shells, commands and forwarding are refused.
package sshd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/transferd/transferd/internal/activity"
	"github.com/transferd/transferd/internal/limits"
	"github.com/transferd/transferd/internal/metrics"
	"github.com/transferd/transferd/internal/negotiate"
	"github.com/transferd/transferd/internal/procs"
	"github.com/transferd/transferd/internal/transfer"
)

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("sshd: server closed")

// Authenticator answers who a login is, for one server: the state store for service-managed
// users, a custom identity provider otherwise. It is asked on every login, so changes take
// effect at once.
type Authenticator interface {
	// Lookup returns the user a login names. For a key login (HasPassword false) the user's
	// SSHPublicKeys are the keys it may log in with; for a password login an answer means the
	// password was accepted. An error of kind transfer.KindNotFound is an unknown user; an error
	// that has an IdPLatency() time.Duration method took an identity provider call that long.
	Lookup(ctx context.Context, q LoginQuery) (*LoginAnswer, error)
}

// LoginQuery is one login attempt's question.
type LoginQuery struct {
	UserName    string
	Password    string
	HasPassword bool
	SourceIP    string
}

// LoginAnswer is who logs in.
type LoginAnswer struct {
	User transfer.User
	// IdPLatency is how long the identity provider took to answer (0 for service-managed users).
	IdPLatency time.Duration
}

// SubsystemHandler serves one subsystem channel of an authenticated session until the channel or
// ctx ends.
type SubsystemHandler func(ctx context.Context, s *transfer.Session, ch io.ReadWriteCloser) error

// Algorithms is what a server offers, in preference order.
type Algorithms struct {
	KeyExchanges []string
	Ciphers      []string
	MACs         []string
	// HostKeyAlgorithms are the host key signature algorithms allowed (e.g. rsa-sha2-512); each host
	// key is offered with those of them that fit its type.
	HostKeyAlgorithms []string
	// UserSSHRSA accepts ssh-rsa (SHA-1) signatures from users' RSA keys, as the legacy security
	// policies do (policy.Policy.AcceptsSSHRSA); otherwise RSA keys must sign with SHA-2.
	UserSSHRSA bool
}

// Config is everything one Server needs. Zero values mean defaults where a default exists.
type Config struct {
	Server      transfer.Server
	ResourceARN string
	Algorithms  Algorithms
	HostKeys    []ssh.Signer
	Auth        Authenticator
	// Methods is how users log in: transfer.AuthPublicKey (service-managed users, the default),
	// AuthPassword, AuthPublicKeyOrPassword or AuthPublicKeyAndPassword (a key, then a password).
	Methods  string
	Activity activity.Sink
	Logger   *slog.Logger
	// Subsystems maps a subsystem name ("sftp") to its handler.
	Subsystems map[string]SubsystemHandler
	// ServerVersion is the SSH identification string; default negotiate.ServerVersion.
	ServerVersion string
	// Limits are the server's resource limits; a zero field has its default
	// (transfer.DefaultLimits). Changed by Update, they apply to connections and handles already
	// held: a lowered cap refuses new ones until enough have ended.
	Limits transfer.Limits
	// Penalties is the process's table of penalised source addresses (nil: none are).
	Penalties *limits.Penalties
	// Metrics counts refusals (nil: nothing is counted). What records tell is counted from them.
	Metrics *metrics.Metrics
	// ProxyProtocolFrom are the networks of load balancers whose PROXY protocol headers name the
	// clients of the connections they relay (see proxy.go); none by default.
	ProxyProtocolFrom []netip.Prefix
	// HandlePool is what every session's handles in the process take from, beside their user's
	// budget (nil: no cap): the file descriptors left when those connections need are reserved.
	HandlePool *limits.Pool
	// IdleTimeout closes a connection with no traffic; default 30 minutes, as Transfer Family.
	IdleTimeout time.Duration
	// RecordClientOffer puts each client's whole first KEXINIT (all ten name-lists) in its
	// CONNECTED or KEX_FAILURE record as client-offer.
	RecordClientOffer bool
	// Procs counts a connection busy while it logs in (nil: not counted).
	Procs *procs.Governor
}

// userAuthAlgorithms are the signature algorithms users may authenticate with: Transfer Family's key
// types, RSA with SHA-2 signatures (and ssh-rsa when Algorithms.UserSSHRSA says so).
var userAuthAlgorithms = []string{
	ssh.KeyAlgoED25519,
	ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521,
	ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256,
}

// built is a Config with its ssh.ServerConfig, swapped atomically by Update.
type built struct {
	cfg Config
	ssh *ssh.ServerConfig
	// offer is the KEXINIT the server sends, which records are computed from.
	offer *negotiate.Offer
}

// Server serves SSH connections for one Transfer Family server.
type Server struct {
	cur atomic.Pointer[built]

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	closed    bool
	wg        sync.WaitGroup

	// What the limits count, kept across Update.
	perIP    limits.Counter  // connections by source address
	starting limits.Counter  // connections not logged in yet, by source address
	perUser  limits.Counter  // logged-in connections by user name
	handles  limits.Counter  // open SFTP handles by user name
	rejected limits.Reporter // refusals before the handshake, by reason and address
}

// New checks cfg and returns a Server ready to Serve.
func New(cfg Config) (*Server, error) {
	s := &Server{listeners: map[net.Listener]struct{}{}, conns: map[*conn]struct{}{},
		rejected: limits.Reporter{Period: time.Minute, MaxKeys: 4096}}
	if err := s.Update(cfg); err != nil {
		return nil, err
	}
	return s, nil
}

// Update replaces the configuration for new connections; connections already open keep theirs.
func (s *Server) Update(cfg Config) error {
	b, err := build(cfg)
	if err != nil {
		return err
	}
	s.cur.Store(b)
	return nil
}

func build(cfg Config) (*built, error) {
	if cfg.Auth == nil {
		return nil, errors.New("sshd: no authenticator")
	}
	switch cfg.Methods {
	case "":
		cfg.Methods = transfer.AuthPublicKey
	case transfer.AuthPublicKey, transfer.AuthPassword, transfer.AuthPublicKeyOrPassword, transfer.AuthPublicKeyAndPassword:
	default:
		return nil, fmt.Errorf("sshd: server %s: unknown authentication methods %q", cfg.Server.ServerID, cfg.Methods)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Activity == nil {
		cfg.Activity = activity.Discard{}
	}
	if cfg.ServerVersion == "" {
		cfg.ServerVersion = negotiate.ServerVersion
	}
	cfg.Limits = cfg.Limits.WithDefaults()
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 30 * time.Minute
	}
	a := cfg.Algorithms
	if len(a.KeyExchanges) == 0 || len(a.Ciphers) == 0 || len(a.MACs) == 0 || len(a.HostKeyAlgorithms) == 0 {
		return nil, fmt.Errorf("sshd: server %s: the security policy leaves no key exchange, cipher, MAC or host key algorithm to offer", cfg.Server.ServerID)
	}
	userAlgs := userAuthAlgorithms
	if a.UserSSHRSA {
		userAlgs = append(slices.Clone(userAlgs), ssh.KeyAlgoRSA)
	}
	sc := &ssh.ServerConfig{
		Config: ssh.Config{
			KeyExchanges: a.KeyExchanges,
			Ciphers:      a.Ciphers,
			MACs:         a.MACs,
		},
		PublicKeyAuthAlgorithms: userAlgs,
		ServerVersion:           cfg.ServerVersion,
		MaxAuthTries:            6,
	}
	var keyTypes []string
	for _, hk := range cfg.HostKeys {
		algs := negotiate.HostKeyAlgorithms(hk.PublicKey().Type(), a.HostKeyAlgorithms)
		if len(algs) == 0 {
			cfg.Logger.Warn("host key not offered: the security policy allows none of its algorithms",
				"server-id", cfg.Server.ServerID, "key-type", hk.PublicKey().Type())
			continue
		}
		as, ok := hk.(ssh.AlgorithmSigner)
		if !ok {
			return nil, fmt.Errorf("sshd: server %s: host key of type %s cannot choose signature algorithms", cfg.Server.ServerID, hk.PublicKey().Type())
		}
		ms, err := ssh.NewSignerWithAlgorithms(as, algs)
		if err != nil {
			return nil, fmt.Errorf("sshd: server %s: host key of type %s: %w", cfg.Server.ServerID, hk.PublicKey().Type(), err)
		}
		sc.AddHostKey(ms)
		keyTypes = append(keyTypes, hk.PublicKey().Type())
	}
	if len(keyTypes) == 0 {
		return nil, fmt.Errorf("sshd: server %s: no host key can be offered under security policy %s", cfg.Server.ServerID, cfg.Server.SecurityPolicyName)
	}
	if banner := cfg.Server.PreAuthenticationLoginBanner; banner != "" {
		if !strings.HasSuffix(banner, "\n") {
			banner += "\n" // clients print the banner as it is; end its line
		}
		sc.BannerCallback = func(ssh.ConnMetadata) string { return banner }
	}
	b := &built{cfg: cfg, ssh: sc, offer: negotiate.ServerOffer(negotiate.ServerAlgorithms{
		KeyExchanges:      a.KeyExchanges,
		Ciphers:           a.Ciphers,
		MACs:              a.MACs,
		HostKeyAlgorithms: a.HostKeyAlgorithms,
	}, keyTypes)}
	return b, nil
}

// Serve accepts connections on ln until Shutdown or Close; it always returns a non-nil error,
// ErrServerClosed after Shutdown or Close.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
	}()

	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.isClosed() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, errTooManyFiles) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.cur.Load().cfg.Logger.Warn("accept failed; retrying", "err", err, "delay", delay)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		b := s.cur.Load()
		if trustsProxy(b.cfg.ProxyProtocolFrom, nc.RemoteAddr()) {
			go s.acceptProxied(b, nc)
			continue
		}
		if c := s.start(b, nc); c != nil {
			go c.serve()
		} else if s.isClosed() {
			return ErrServerClosed
		}
	}
}

// start admits a new connection and tracks it, or closes it and returns nil.
func (s *Server) start(b *built, nc net.Conn) *conn {
	ip, ok := s.admit(b, nc)
	if !ok {
		nc.Close()
		return nil
	}
	c := &conn{srv: s, b: b, nc: newSniffConn(nc), ip: ip, starting: true}
	if !s.track(c) {
		c.release()
		nc.Close()
		return nil
	}
	return c
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *Server) track(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.wg.Done()
}

// StopAccepting closes the listeners at once; connections already open go on until Shutdown or
// Close.
func (s *Server) StopAccepting() { s.closeListeners() }

// closeListeners stops accepting.
func (s *Server) closeListeners() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for ln := range s.listeners {
		ln.Close()
	}
}

// Shutdown stops accepting connections, closes those with no file open at once, waits for the
// others to finish their transfers, and closes whatever remains when ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closeListeners()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if s.closeIdle() == 0 {
			s.wg.Wait()
			return nil
		}
		select {
		case <-ctx.Done():
			s.closeAll()
			s.wg.Wait()
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// closeIdle closes connections without open files and returns how many are still open.
func (s *Server) closeIdle() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.busy() {
			continue
		}
		c.close()
	}
	return len(s.conns)
}

func (s *Server) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.close()
	}
}

// Close stops the server at once, closing every connection.
func (s *Server) Close() error {
	s.closeListeners()
	s.closeAll()
	s.wg.Wait()
	return nil
}

// remoteIP returns the IP part of addr.
func remoteIP(addr net.Addr) string {
	if ta, ok := addr.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	return host
}

// recoverTo logs a panic instead of letting it end the process.
func recoverTo(log *slog.Logger, what string) {
	if r := recover(); r != nil {
		log.Error("recovered from a panic; the connection is closed", "in", what, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	}
}
