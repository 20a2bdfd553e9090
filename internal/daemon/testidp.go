package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"golang.org/x/crypto/ssh"

	"github.com/transferd/transferd/internal/config"
	"github.com/transferd/transferd/internal/identity"
	"github.com/transferd/transferd/internal/transfer"
)

// IdPTest is one question to a server's custom identity provider, asked as a login would ask
// it, for `transferd test-idp`.
type IdPTest struct {
	// DataDir and ConfigPath are those of `transferd serve`: the server comes from the state
	// store, the way to call its provider from the config file's IdentityProviders.
	DataDir, ConfigPath string
	State               State
	ServerID, UserName  string
	// Password is asked about when HasPassword is set; otherwise this is a key login.
	Password    string
	HasPassword bool
	// PublicKey, for a key login, is an authorized_keys line whose key the answer must list.
	PublicKey string
	SourceIP  string
	Protocol  string
}

// IdPTestResult is what the provider answered and what transferd makes of it.
type IdPTestResult struct {
	URL        string
	StatusCode int
	Response   string
	LatencyMs  float64
	// Outcome is authenticated, refused, unreachable or bad response.
	Outcome string
	Message string
	// User is the user the answer describes, when it is valid.
	User *IdPTestUser `json:",omitempty"`
	// KeyAccepted says, for a key login with PublicKey, whether the answer lists that key.
	KeyAccepted *bool `json:",omitempty"`
}

// IdPTestUser is the session a valid answer gives.
type IdPTestUser struct {
	Role                  string
	HomeDirectoryType     string
	HomeDirectory         string                 `json:",omitempty"`
	HomeDirectoryMappings []transfer.Mapping     `json:",omitempty"`
	Policy                string                 `json:",omitempty"`
	PosixProfile          *transfer.PosixProfile `json:",omitempty"`
	PublicKeys            []string               `json:",omitempty"` // fingerprints
}

// Outcomes of TestIdP.
const (
	OutcomeAuthenticated = "authenticated"
	OutcomeRefused       = "refused"
	OutcomeUnreachable   = "unreachable"
	OutcomeBadResponse   = "bad response"
)

// TestIdP asks a server's custom identity provider one question with the settings `transferd
// serve` would use, without the server running. Errors are about the question (no such server,
// not a custom provider, an unreadable config); the provider's own failures are in the result.
func TestIdP(ctx context.Context, q IdPTest, log *slog.Logger) (*IdPTestResult, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg, err := config.Load(q.ConfigPath, config.Options{})
	if err != nil {
		return nil, err
	}
	store, err := q.State.open(ctx, q.DataDir, cfg.Account(), false)
	if err != nil {
		return nil, err
	}
	defer store.Close()
	srv, err := store.GetServer(ctx, q.ServerID)
	if err != nil {
		return nil, err
	}
	if !srv.CustomIdentity() {
		return nil, fmt.Errorf("server %s has IdentityProviderType %s: there is no identity provider to ask", srv.ServerID, srv.IdentityProviderType)
	}
	var want ssh.PublicKey
	if q.PublicKey != "" {
		if q.HasPassword {
			return nil, errors.New("give a password or a public key, not both: a login asks the provider about one of them at a time")
		}
		if want, _, _, _, err = ssh.ParseAuthorizedKey([]byte(q.PublicKey)); err != nil {
			return nil, fmt.Errorf("the public key: %w", err)
		}
	}
	client, err := newIdentityClient(&cfg.IdentityProviders, log)
	if err != nil {
		return nil, fmt.Errorf("%s: IdentityProviders: %w", q.ConfigPath, err)
	}
	defer client.Close()
	ans, err := client.Lookup(ctx, srv, identity.Query{UserName: q.UserName, Password: q.Password, HasPassword: q.HasPassword,
		Protocol: q.Protocol, SourceIP: q.SourceIP})
	if err != nil {
		var e *identity.Error
		if !errors.As(err, &e) {
			return nil, err
		}
		outcome := map[identity.Kind]string{identity.Refused: OutcomeRefused, identity.Unreachable: OutcomeUnreachable,
			identity.BadResponse: OutcomeBadResponse}[e.Kind]
		return &IdPTestResult{URL: e.URL, StatusCode: e.StatusCode, Response: string(e.Body), LatencyMs: ms(e.Latency),
			Outcome: outcome, Message: err.Error()}, nil
	}
	u := &ans.User
	res := &IdPTestResult{URL: ans.URL, StatusCode: ans.StatusCode, Response: string(ans.Body), LatencyMs: ms(ans.Latency),
		Outcome: OutcomeAuthenticated, User: &IdPTestUser{Role: u.Role, HomeDirectoryType: u.HomeDirectoryType,
			HomeDirectory: u.HomeDirectory, HomeDirectoryMappings: u.HomeDirectoryMappings, Policy: u.Policy, PosixProfile: u.PosixProfile}}
	for _, k := range u.SSHPublicKeys {
		res.User.PublicKeys = append(res.User.PublicKeys, k.Fingerprint)
	}
	res.Message = "the identity provider accepted the password"
	if !q.HasPassword {
		res.Message = fmt.Sprintf("the identity provider returned %d public keys", len(u.SSHPublicKeys))
	}
	if want != nil {
		fp := ssh.FingerprintSHA256(want)
		ok := false
		for _, k := range u.SSHPublicKeys {
			ok = ok || k.Fingerprint == fp
		}
		res.KeyAccepted = &ok
		if !ok {
			res.Outcome = OutcomeRefused
			res.Message = fmt.Sprintf("the identity provider returned %d public keys, and %s is not one of them", len(u.SSHPublicKeys), fp)
		} else {
			res.Message = fmt.Sprintf("the identity provider lists the key %s", fp)
		}
	}
	return res, nil
}

func ms(d interface{ Microseconds() int64 }) float64 { return float64(d.Microseconds()) / 1000 }
