// Package identity calls Transfer Family's custom identity providers, with Transfer Family's
// contracts: API_GATEWAY (GET {Url}/servers/{serverId}/users/{username}/config over HTTP or
// HTTPS, the password in a Password header, SigV4-signed when the server has an InvocationRole)
// and AWS_LAMBDA (the Lambda Invoke API, with the event {username, password, protocol, serverId,
// sourceIp}). It turns the provider's answer into a user, validated exactly as CreateUser
// validates the same fields, and classifies every failure as a refusal, an unreachable provider
// or a bad response. Calls are bounded in time and, per server, in number. Passwords are sent to
// the provider and nowhere else: never logged, never in an error.
package identity

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/transferd/transferd/internal/transfer"
)

// Defaults of Options.
const (
	DefaultTimeout          = 10 * time.Second
	DefaultMaxConcurrent    = 16
	DefaultMaxResponseBytes = 1 << 20
	DefaultRegion           = "us-east-1"
)

// Options configure a Client. The zero value of each field means its default.
type Options struct {
	// Timeout bounds one call to a provider (DefaultTimeout); a login's own deadline (its
	// grace time) bounds it too.
	Timeout time.Duration
	// MaxConcurrent bounds the calls in flight to one server's provider (DefaultMaxConcurrent);
	// further logins wait for a place until their deadline.
	MaxConcurrent int
	// MaxResponseBytes bounds a provider's answer (DefaultMaxResponseBytes); a longer one is a
	// bad response.
	MaxResponseBytes int64
	// RootCAs are the certificates trusted for HTTPS providers; nil means the system's roots.
	RootCAs *x509.CertPool
	// LambdaEndpoint is a Lambda-compatible endpoint URL used instead of AWS's.
	LambdaEndpoint string
	// Region signs API Gateway calls and locates Lambda functions when the URL or ARN does not
	// say (DefaultRegion).
	Region string
	// Credentials sign API Gateway calls of servers with an InvocationRole, and Lambda calls.
	// Nil means none: such calls are then refused with an error that says so.
	Credentials aws.CredentialsProvider
	Logger      *slog.Logger
}

// Client calls the custom identity providers of any number of servers. It is safe for
// concurrent use.
type Client struct {
	opts   Options
	http   *http.Client
	signer *v4.Signer
	log    *slog.Logger

	mu       sync.Mutex
	slots    map[string]chan struct{} // per server: a place per call in flight
	lambdas  map[string]invoker       // per region
	steps    map[string]invoker       // per region, for workflow steps (see stepClient)
	stepHTTP *http.Client             // made at the first step
}

// New returns a Client.
func New(opts Options) *Client {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = DefaultMaxConcurrent
	}
	if opts.MaxResponseBytes <= 0 {
		opts.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if opts.Region == "" {
		opts.Region = DefaultRegion
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	transport := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: opts.Timeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       &tls.Config{RootCAs: opts.RootCAs, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   opts.Timeout,
		ResponseHeaderTimeout: opts.Timeout,
		MaxIdleConnsPerHost:   opts.MaxConcurrent,
		IdleConnTimeout:       90 * time.Second,
	}
	return &Client{
		opts: opts,
		http: &http.Client{
			Transport: transport,
			// A provider answers 200 itself; a redirect could carry the Password header elsewhere.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		signer:  v4.NewSigner(),
		log:     opts.Logger,
		slots:   map[string]chan struct{}{},
		lambdas: map[string]invoker{},
		steps:   map[string]invoker{},
	}
}

// Close releases idle connections.
func (c *Client) Close() error {
	c.http.CloseIdleConnections()
	return nil
}

// Query is one login's question to a provider.
type Query struct {
	UserName string
	// Password is set for password logins (HasPassword); key logins send none.
	Password    string
	HasPassword bool
	// Protocol is SFTP (TestIdentityProvider may ask for another).
	Protocol string
	SourceIP string
}

// Answer is what a provider said, and the user it describes.
type Answer struct {
	// User is the user built from the answer and validated; its SSHPublicKeys are the answer's
	// PublicKeys with their fingerprints.
	User transfer.User
	Call
}

// Call is what is known of one call to a provider, whatever its outcome.
type Call struct {
	// URL is what was called: the API Gateway URL (without its query), or the function ARN.
	URL string
	// StatusCode is the HTTP status of the answer (200 for a Lambda function that ran); 0 when
	// none came.
	StatusCode int
	// Body is the answer, up to the size limit.
	Body []byte
	// Latency is how long the call took.
	Latency time.Duration
}

// Kind classifies a failed lookup.
type Kind int

const (
	// Refused: the provider answered, and its answer lets the user in nowhere (no Role, no
	// keys for a key login, an empty answer).
	Refused Kind = iota
	// Unreachable: no answer in time (connection refused, timeout, TLS failure, too many calls
	// in flight).
	Unreachable
	// BadResponse: an answer that is not one (not HTTP 200, not JSON, too large, a field that
	// fails CreateUser's checks, a Lambda function error).
	BadResponse
)

// Error is a failed lookup. Its text starts with the kind, in the words AUTH_FAILURE records use.
type Error struct {
	Kind    Kind
	Message string
	Call
}

func (e *Error) Error() string {
	switch e.Kind {
	case Refused:
		return "identity provider refused the user: " + e.Message
	case Unreachable:
		return "identity provider unreachable: " + e.Message
	}
	return "bad response from the identity provider: " + e.Message
}

// LoginReason names the kind in AUTH_FAILURE records' reason field and in metrics.
func (e *Error) LoginReason() string {
	switch e.Kind {
	case Refused:
		return "IdentityProviderRefused"
	case Unreachable:
		return "IdentityProviderUnreachable"
	}
	return "IdentityProviderBadResponse"
}

func fail(kind Kind, call Call, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...), Call: call}
}

// Lookup asks srv's provider about q and returns the user it describes. Errors are *Error.
func (c *Client) Lookup(ctx context.Context, srv *transfer.Server, q Query) (*Answer, error) {
	if q.Protocol == "" {
		q.Protocol = "SFTP"
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	start := time.Now()
	release, err := c.acquire(ctx, srv.ServerID)
	if err != nil {
		return nil, fail(Unreachable, Call{Latency: time.Since(start)}, "%d calls to this server's identity provider are in flight already, and none ended in time", c.opts.MaxConcurrent)
	}
	defer release()
	var call Call
	switch srv.IdentityProviderType {
	case transfer.IdentityAPIGateway:
		call, err = c.callAPIGateway(ctx, srv, q)
	case transfer.IdentityLambda:
		call, err = c.callLambda(ctx, srv, q)
	default:
		return nil, fmt.Errorf("identity: server %s has identity provider type %s, not a custom one", srv.ServerID, srv.IdentityProviderType)
	}
	call.Latency = time.Since(start)
	if err != nil {
		if e, ok := errors.AsType[*Error](err); ok {
			e.Call = call
			return nil, e
		}
		return nil, fail(Unreachable, call, "%v", err)
	}
	u, err := parseAnswer(srv, q, call.Body)
	if err != nil {
		e, _ := errors.AsType[*Error](err)
		e.Call = call
		return nil, e
	}
	return &Answer{User: *u, Call: call}, nil
}

// acquire takes a place for a call to serverID's provider, waiting until ctx ends.
func (c *Client) acquire(ctx context.Context, serverID string) (func(), error) {
	c.mu.Lock()
	ch, ok := c.slots[serverID]
	if !ok {
		ch = make(chan struct{}, c.opts.MaxConcurrent)
		c.slots[serverID] = ch
	}
	c.mu.Unlock()
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// IdPLatency is how long the call took, for the AUTH_FAILURE record.
func (e *Error) IdPLatency() time.Duration { return e.Latency }
