package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/transferd/transferd/internal/config"
	"github.com/transferd/transferd/internal/control"
	"github.com/transferd/transferd/internal/identity"
	"github.com/transferd/transferd/internal/metastore"
	"github.com/transferd/transferd/internal/sshd"
	"github.com/transferd/transferd/internal/transfer"
)

// newIdentityClient builds the client of custom identity providers from the config file's
// IdentityProviders settings: static credentials when it names them, else the standard AWS
// credential chain (read when a call first needs it).
func newIdentityClient(c *config.IdentityProviders, log *slog.Logger) (*identity.Client, error) {
	opts := identity.Options{
		Timeout:        time.Duration(c.TimeoutSeconds) * time.Second,
		MaxConcurrent:  c.MaxConcurrentCalls,
		LambdaEndpoint: c.LambdaEndpoint,
		Region:         c.Region,
		Logger:         log,
	}
	if c.CABundle != "" {
		pool, err := config.LoadCABundle(c.CABundle)
		if err != nil {
			return nil, fmt.Errorf("CABundle: %w", err)
		}
		opts.RootCAs = pool
	}
	if c.AccessKeyID != "" {
		opts.Credentials = credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, c.SessionToken)
	} else {
		opts.Credentials = &credentialChain{}
	}
	return identity.New(opts), nil
}

// credentialChain is the standard AWS credential chain, loaded when a call first needs it: a
// transferd whose servers never sign a call does not read the AWS configuration files at all.
type credentialChain struct {
	once  sync.Once
	creds aws.CredentialsProvider
	err   error
}

func (c *credentialChain) Retrieve(ctx context.Context) (aws.Credentials, error) {
	c.once.Do(func() {
		ac, err := awsconfig.LoadDefaultConfig(context.Background()) // reads files and the environment only
		if err != nil {
			c.err = fmt.Errorf("loading the AWS credential chain: %w", err)
			return
		}
		if ac.Credentials == nil {
			c.err = errors.New("the AWS credential chain found no credentials")
			return
		}
		c.creds = aws.NewCredentialsCache(ac.Credentials)
	})
	if c.err != nil {
		return aws.Credentials{}, c.err
	}
	return c.creds.Retrieve(ctx)
}

// authenticator is how sshd learns who logs in to server s.
func (d *Daemon) authenticator(s *transfer.Server) sshd.Authenticator {
	if s.CustomIdentity() {
		return providerAuth{client: d.idp, srv: *s}
	}
	return storeAuth{store: d.store, serverID: s.ServerID}
}

// loginMethods are the SSH authentication methods of server s: keys for service-managed users,
// the provider's SftpAuthenticationMethods otherwise.
func loginMethods(s *transfer.Server) string {
	if s.CustomIdentity() {
		return s.IdentityProviderDetails.SftpAuthenticationMethods
	}
	return transfer.AuthPublicKey
}

// storeAuth finds service-managed users in the state store; they log in with keys only.
type storeAuth struct {
	store    *metastore.Store
	serverID string
}

func (a storeAuth) Lookup(ctx context.Context, q sshd.LoginQuery) (*sshd.LoginAnswer, error) {
	if q.HasPassword {
		return nil, errors.New("service-managed users log in with keys only")
	}
	u, err := a.store.GetUser(ctx, a.serverID, q.UserName)
	if err != nil {
		return nil, err
	}
	return &sshd.LoginAnswer{User: *u}, nil
}

// providerAuth asks a server's custom identity provider.
type providerAuth struct {
	client *identity.Client
	srv    transfer.Server
}

func (a providerAuth) Lookup(ctx context.Context, q sshd.LoginQuery) (*sshd.LoginAnswer, error) {
	ans, err := a.client.Lookup(ctx, &a.srv, identity.Query{UserName: q.UserName, Password: q.Password,
		HasPassword: q.HasPassword, Protocol: "SFTP", SourceIP: q.SourceIP})
	if err != nil {
		return nil, err
	}
	return &sshd.LoginAnswer{User: ans.User, IdPLatency: ans.Latency}, nil
}

// idpTester runs TestIdentityProvider's one call to a provider.
type idpTester struct{ client *identity.Client }

func (t idpTester) TestIdentityProvider(ctx context.Context, srv *transfer.Server, q control.IdentityTest) control.IdentityTestResult {
	ans, err := t.client.Lookup(ctx, srv, identity.Query{UserName: q.UserName, Password: q.Password,
		HasPassword: q.Password != "", Protocol: q.Protocol, SourceIP: q.SourceIP})
	var call identity.Call
	msg := ""
	if err != nil {
		var e *identity.Error
		if !errors.As(err, &e) {
			return control.IdentityTestResult{Message: err.Error()}
		}
		call, msg = e.Call, err.Error()
	} else {
		call = ans.Call
		msg = fmt.Sprintf("The identity provider authenticated %s: Role %s, HomeDirectoryType %s, %d public keys", q.UserName,
			ans.User.Role, ans.User.HomeDirectoryType, len(ans.User.SSHPublicKeys))
	}
	return control.IdentityTestResult{Response: string(call.Body), StatusCode: call.StatusCode, Message: msg, URL: call.URL}
}
