package sshd

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/transferd/transferd/internal/activity"
	"github.com/transferd/transferd/internal/limits"
	"github.com/transferd/transferd/internal/transfer"
)

// Keys of ssh.Permissions.ExtraData set by a successful login.
type (
	answerKey struct{} // *LoginAnswer
	pubKeyKey struct{} // ssh.PublicKey, absent for a password-only login
	sigAlgKey struct{} // string: the signature algorithm that proved the key (rsa-sha2-512 ...)
	methodKey struct{} // string: publickey, password, keyboard-interactive, publickey,password ...
)

// login is one connection's authentication: the callbacks x/crypto calls, all from the
// connection's handshake goroutine, one at a time.
type login struct {
	b        *built
	conn     *conn
	ctx      context.Context // ends with the login grace time
	sourceIP string

	// The last key lookup: a client offers its keys one by one for one user name, and the
	// provider is asked once.
	keyUser   string
	keyAnswer *LoginAnswer
	keyErr    error

	// key passed the first step of PUBLIC_KEY_AND_PASSWORD, for keyUser, signing with keySigAlg.
	key       ssh.PublicKey
	keySigAlg string

	// offence is the worst a failed attempt did, for the penalty; limited: an attempt was
	// refused by MaxConnectionsPerUser.
	offence limits.Offence
	limited bool
}

// serverConfig returns the server's SSH configuration with this login's callbacks, as the
// server's authentication methods allow them.
func (l *login) serverConfig() *ssh.ServerConfig {
	sc := *l.b.ssh
	sc.AuthLogCallback = l.authLog
	methods := l.b.cfg.Methods
	if methods != transfer.AuthPassword {
		sc.PublicKeyCallback = l.publicKey
		sc.VerifiedPublicKeyCallback = l.verifiedKey
	}
	switch methods {
	case transfer.AuthPassword, transfer.AuthPublicKeyOrPassword:
		sc.PasswordCallback = l.password
		sc.KeyboardInteractiveCallback = l.keyboardInteractive
	case transfer.AuthPublicKeyAndPassword:
		sc.VerifiedPublicKeyCallback = l.keyThenPassword
	}
	return &sc
}

// latencyReporter is a refusal that says how long the identity provider took to answer: an
// identity provider's own error, or answered below. Its AUTH_FAILURE record carries the latency.
type latencyReporter interface {
	error
	IdPLatency() time.Duration
}

// answered is a refusal made from what an identity provider answered.
type answered struct {
	error
	latency time.Duration
}

func (a answered) IdPLatency() time.Duration { return a.latency }
func (a answered) Unwrap() error             { return a.error }

// lookup asks the authenticator. An identity provider's error is returned as it is (it says what
// went wrong, and how long it took); the store's are summed up.
func (l *login) lookup(q LoginQuery) (*LoginAnswer, error) {
	q.SourceIP = l.sourceIP
	ans, err := l.b.cfg.Auth.Lookup(l.ctx, q)
	if err == nil {
		return ans, nil
	}
	if _, ok := errors.AsType[latencyReporter](err); ok {
		return nil, err
	}
	switch transfer.KindOf(err) {
	case transfer.KindNotFound:
		return nil, errUnknownUser
	case transfer.KindUnavailable:
		l.b.cfg.Logger.Warn("login refused: the state store is unreachable", "server-id", l.b.cfg.Server.ServerID, "user", cut(q.UserName, maxRecordUser), "err", err)
		return nil, errStoreUnreachable
	}
	l.b.cfg.Logger.Error("looking up a user failed", "server-id", l.b.cfg.Server.ServerID, "user", cut(q.UserName, maxRecordUser), "err", err)
	return nil, errors.New("user lookup failed")
}

// publicKey checks a key offered for a user against the keys the authenticator gives for it.
func (l *login) publicKey(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
	name := meta.User()
	if !transfer.LoginAllowed(name) {
		return nil, errUnknownUser
	}
	asked := false // the provider's latency goes with the attempt that asked it, not later ones
	if l.keyAnswer == nil && l.keyErr == nil || l.keyUser != name {
		l.keyUser = name
		l.keyAnswer, l.keyErr = l.lookup(LoginQuery{UserName: name})
		asked = true
	}
	if l.keyErr != nil {
		if !asked && !errors.Is(l.keyErr, errUnknownUser) {
			return nil, errors.New(l.keyErr.Error()) // without the latency: this attempt asked nothing
		}
		return nil, l.keyErr
	}
	fp := ssh.FingerprintSHA256(key)
	for _, k := range l.keyAnswer.User.SSHPublicKeys {
		if k.Fingerprint == fp {
			if transfer.HasKeyOptions(k.Body) {
				// Stored before they were refused: options would be ignored, so the key is.
				return nil, fmt.Errorf("public key %s was stored with authorized_keys options, which transferd does not enforce; import it again without them", fp)
			}
			return &ssh.Permissions{ExtraData: map[any]any{answerKey{}: l.keyAnswer, pubKeyKey{}: key, methodKey{}: "publickey"}}, nil
		}
	}
	err := fmt.Errorf("public key %s is %w", fp, errKeyNotAuthorized)
	if asked {
		return nil, answered{err, l.keyAnswer.IdPLatency}
	}
	return nil, err
}

// verifiedKey completes a key login once the client has signed: it notes how it signed.
func (l *login) verifiedKey(meta ssh.ConnMetadata, _ ssh.PublicKey, perms *ssh.Permissions, sigAlg string) (*ssh.Permissions, error) {
	if err := l.admitUser(meta.User()); err != nil {
		return nil, err
	}
	perms.ExtraData[sigAlgKey{}] = sigAlg
	return perms, nil
}

// keyThenPassword ends the first step of PUBLIC_KEY_AND_PASSWORD: the key is proven, and the
// client must now give the password (SSH's partial success).
func (l *login) keyThenPassword(meta ssh.ConnMetadata, key ssh.PublicKey, _ *ssh.Permissions, sigAlg string) (*ssh.Permissions, error) {
	l.key, l.keySigAlg = key, sigAlg
	return nil, &ssh.PartialSuccessError{Next: ssh.ServerAuthCallbacks{
		PasswordCallback:            l.password,
		KeyboardInteractiveCallback: l.keyboardInteractive,
	}}
}

// password checks a password with the authenticator.
func (l *login) password(meta ssh.ConnMetadata, password []byte) (*ssh.Permissions, error) {
	return l.checkPassword(meta, "password", string(password))
}

// keyboardInteractive asks for the password with one prompt, as OpenSSH's sshd does with PAM,
// and checks it as a password (WinSCP and FileZilla log in this way).
func (l *login) keyboardInteractive(meta ssh.ConnMetadata, challenge ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error) {
	answers, err := challenge("", "", []string{"Password: "}, []bool{false})
	if err != nil {
		return nil, err
	}
	if len(answers) != 1 {
		return nil, fmt.Errorf("%d answers to one prompt", len(answers))
	}
	return l.checkPassword(meta, "keyboard-interactive", answers[0])
}

func (l *login) checkPassword(meta ssh.ConnMetadata, method, password string) (*ssh.Permissions, error) {
	name := meta.User()
	if !transfer.LoginAllowed(name) {
		return nil, errUnknownUser
	}
	if l.key != nil {
		if name != l.keyUser {
			return nil, errors.New("the user name changed between the key and the password")
		}
		method = "publickey," + method
	}
	if strings.Trim(password, " \t") == "" {
		// Never asked: identity providers written for Transfer Family commonly take an empty
		// password for a key login and answer with the user's keys, which would let anyone in;
		// blanks alone arrive empty, as HTTP headers drop them.
		return nil, errors.New("empty passwords are refused")
	}
	ans, err := l.lookup(LoginQuery{UserName: name, Password: password, HasPassword: true})
	if err != nil {
		return nil, err
	}
	if err := l.admitUser(name); err != nil {
		return nil, answered{err, ans.IdPLatency}
	}
	ext := map[any]any{answerKey{}: ans, methodKey{}: method}
	if l.key != nil {
		ext[pubKeyKey{}] = l.key
		ext[sigAlgKey{}] = l.keySigAlg
	}
	return &ssh.Permissions{ExtraData: ext}, nil
}

// authLog writes AUTH_FAILURE for every failed attempt but the initial "none" probe and the key
// step of PUBLIC_KEY_AND_PASSWORD, which is a partial success.
func (l *login) authLog(meta ssh.ConnMetadata, method string, err error) {
	if err == nil || method == "none" {
		return
	}
	if _, ok := errors.AsType[*ssh.PartialSuccessError](err); ok {
		return
	}
	l.noteOffence(err)
	msg := "Invalid user name or password: " + err.Error()
	if errors.As(err, new(errUserConnections)) {
		msg = "Too many connections: " + err.Error()
	} else if method == "publickey" {
		msg = "Invalid user name or public key: " + err.Error()
		if alg, ok := refusedAlgorithm(err); ok {
			msg = fmt.Sprintf("Invalid user name or public key: the client signed with %s, which this server does not accept", alg)
			if alg == ssh.KeyAlgoRSA {
				msg = fmt.Sprintf("Invalid user name or public key: the client signed with ssh-rsa (RSA with SHA-1), which the server's security policy %s does not accept; RSA keys must sign with rsa-sha2-256 or rsa-sha2-512 (or choose a policy that accepts ssh-rsa)", l.b.cfg.Server.SecurityPolicyName)
			}
		}
	}
	r := &activity.Record{
		ActivityType: activity.AuthFailure,
		ResourceARN:  l.b.cfg.ResourceARN,
		User:         cut(meta.User(), maxRecordUser),
		Client:       cut(string(meta.ClientVersion()), maxRecordClient),
		SourceIP:     remoteIP(meta.RemoteAddr()),
		Method:       method,
		Message:      msg,
		Reason:       authReason(err),
		IdPLatencyMs: latencyMs(latencyOf(err)),
	}
	l.b.cfg.Activity.Log(r)
}

// Reasons a login fails that the code below tells apart.
var (
	errStoreUnreachable = errors.New("user lookup failed: the state store is unreachable; logins are refused until it is back")
	errKeyNotAuthorized = errors.New("not authorized for this user")
)

// loginReasoner is an error that names its reason (an identity provider's).
type loginReasoner interface {
	error
	LoginReason() string
}

// authReason is the reason field of an AUTH_FAILURE record: one word of a fixed set, for
// queries and metrics.
func authReason(err error) string {
	if r, ok := errors.AsType[loginReasoner](err); ok {
		return r.LoginReason() // an identity provider's
	}
	_, sigAlg := refusedAlgorithm(err)
	switch {
	case errors.As(err, new(errUserConnections)):
		return "MaxConnectionsPerUser"
	case errors.Is(err, errUnknownUser):
		return "UnknownUser"
	case errors.Is(err, errStoreUnreachable):
		return "StateStoreUnreachable"
	case errors.Is(err, errKeyNotAuthorized):
		return "KeyNotAuthorized"
	case sigAlg:
		return "SignatureAlgorithm"
	}
	return "Refused"
}

// latencyOf is how long the identity provider took to give the answer err refuses by; zero when
// none was asked for this attempt.
func latencyOf(err error) time.Duration {
	if r, ok := errors.AsType[latencyReporter](err); ok {
		return r.IdPLatency()
	}
	return 0
}

// latencyMs is an identity provider's latency for a record: nil when no provider was asked.
func latencyMs(d time.Duration) *float64 {
	if d <= 0 {
		return nil
	}
	ms := float64(d.Microseconds()) / 1000
	return &ms
}

// refusedAlgorithm is the signature algorithm x/crypto refused, when that is err: the key was not
// even looked at.
func refusedAlgorithm(err error) (string, bool) {
	s, ok := strings.CutPrefix(err.Error(), "ssh: algorithm ")
	if !ok {
		return "", false
	}
	if s, ok = strings.CutSuffix(s, " not accepted"); !ok {
		return "", false
	}
	alg, uerr := strconv.Unquote(s)
	return alg, uerr == nil
}
