// Package control is transferd's control plane: the operations on servers, users, SSH keys, host
// keys, security policies and tags, with Transfer Family's validation rules and error kinds. The
// management API and the config file bootstrap both go through it, so both validate alike, and it
// tells the running daemon about every change so that changes take effect at once.
package control

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/transferd/transferd/internal/metastore"
	"github.com/transferd/transferd/internal/policy"
	"github.com/transferd/transferd/internal/transfer"
)

// Notifier is told when a server or its users changed, so the running daemon can start, stop or
// reconfigure its listener. Users are looked up on every login, so user changes need no notice.
type Notifier interface {
	ServerChanged(ctx context.Context, serverID string)
}

// Options configure a Service.
type Options struct {
	Store   *metastore.Store
	Catalog *policy.Catalog
	// Account shapes ARNs; it must be the Account the Store was opened with, which keeps tags
	// under those ARNs.
	Account transfer.Account
	// Notifier is told about server changes; nil tells nobody.
	Notifier Notifier
	// Endpoints chooses the listen address of a server created without one; nil means such
	// servers are refused.
	Endpoints EndpointAllocator
	Logger    *slog.Logger
	// Now is the clock that stamps CreatedAt and DateImported; nil means time.Now.
	Now func() time.Time
	// IdentityTester calls servers' custom identity providers for TestIdentityProvider; nil
	// refuses that operation.
	IdentityTester IdentityTester
}

// IdentityTester calls a server's custom identity provider once, as a login would, and reports
// what it answered.
type IdentityTester interface {
	TestIdentityProvider(ctx context.Context, srv *transfer.Server, q IdentityTest) IdentityTestResult
}

// IdentityTest is TestIdentityProvider's request after its checks.
type IdentityTest struct {
	UserName, Password, Protocol, SourceIP string
}

// IdentityTestResult is TestIdentityProvider's answer: the provider's response body, its HTTP
// status (200 for a Lambda function that ran), a message that says whether and why the login
// would succeed or fail, and the URL called (the function ARN for AWS_LAMBDA).
type IdentityTestResult struct {
	Response   string
	StatusCode int
	Message    string
	URL        string
}

// EndpointAllocator picks a free listen address for a new server, given those in use.
type EndpointAllocator interface {
	Allocate(inUse []string) (string, error)
}

// Service runs control-plane operations. It is safe for concurrent use.
type Service struct {
	store   *metastore.Store
	catalog *policy.Catalog
	account transfer.Account
	notify  Notifier
	alloc   EndpointAllocator
	log     *slog.Logger
	now     func() time.Time
	tester  IdentityTester

	// mu serializes the operations that check the state and then change it (free endpoints,
	// a server's last host key, a user's key count, a resource's tag count, server states), so
	// that two requests cannot both pass a check that only one of them should; exclusive also
	// runs them in a transaction that keeps out those of other transferd processes sharing the
	// store. The Notifier is called after mu is released, so it may call back into the Service.
	mu sync.Mutex

	managedMu sync.RWMutex
	managed   configManaged // what the config file applied last manages (see managed.go)
}

// New returns a Service.
func New(opts Options) *Service {
	s := &Service{store: opts.Store, catalog: opts.Catalog, account: opts.Account.WithDefaults(),
		notify: opts.Notifier, alloc: opts.Endpoints, log: opts.Logger, now: opts.Now, tester: opts.IdentityTester}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// exclusive runs fn, a check of the state and the change it allows, on a Service over one
// transaction of the store that no other such transaction overlaps: mu keeps out this process's,
// and the store (metastore.Store.Exclusive) those of other transferd processes sharing the
// database. fn's changes are kept only when it returns nil; the Notifier hears of the servers it
// changed after the commit.
func (s *Service) exclusive(ctx context.Context, fn func(ts *Service) error) error {
	var notes noteList
	s.mu.Lock()
	err := s.store.Exclusive(ctx, func(tx *metastore.Store) error {
		notes = notes[:0]
		return fn(s.over(tx, &notes, s.log))
	})
	s.mu.Unlock()
	if err == nil {
		for _, id := range notes {
			s.changed(ctx, id)
		}
	}
	return err
}

// over returns a Service like s on the store transaction tx, telling notify and logging to log.
// It manages nothing (see managed.go): checks of what the config file manages are made before.
func (s *Service) over(tx *metastore.Store, notify Notifier, log *slog.Logger) *Service {
	return &Service{store: tx, catalog: s.catalog, account: s.account, notify: notify, alloc: s.alloc,
		log: log, now: s.now, tester: s.tester}
}

// Account is where ARNs say resources live.
func (s *Service) Account() transfer.Account { return s.account }

// CreateServerInput is CreateServer's request. Empty fields take AWS's defaults: Domain S3,
// IdentityProviderType SERVICE_MANAGED, Protocols [SFTP], SecurityPolicyName
// TransferSecurityPolicy-2024-01, SetStatOption DEFAULT.
type CreateServerInput struct {
	// ServerID is set only by the config file; the API always generates one.
	ServerID string
	// Endpoint is the listen address; empty means the EndpointAllocator picks one.
	Endpoint                      string
	SecurityPolicyName            string
	PreAuthenticationLoginBanner  string
	PostAuthenticationLoginBanner string
	Domain                        string
	IdentityProviderType          string
	IdentityProviderDetails       transfer.IdentityProviderDetails
	Protocols                     []string
	SetStatOption                 string
	LoggingRole                   string
	// HostKey is a private key in PEM/OpenSSH form; empty generates an RSA-3072 key.
	HostKey string
	// WorkflowDetails are the workflows the server runs after uploads (nil: none).
	WorkflowDetails *transfer.WorkflowDetails
	Tags            []transfer.Tag
	// Source is transfer.SourceAPI or transfer.SourceConfig; empty means API.
	Source string
}

// UpdateServerInput is UpdateServer's request; nil fields are left as they are.
type UpdateServerInput struct {
	Endpoint                      *string
	SecurityPolicyName            *string
	PreAuthenticationLoginBanner  *string
	PostAuthenticationLoginBanner *string
	IdentityProviderType          *string
	// IdentityProviderDetails changes the members it sets (nil members stay as they are; all
	// start empty when IdentityProviderType changes).
	IdentityProviderDetails *IdentityDetailsUpdate
	Protocols               []string // nil: unchanged
	SetStatOption           *string
	LoggingRole             *string
	// HostKey replaces the server's host key of the same type (as AWS's UpdateServer HostKey).
	HostKey *string
	// WorkflowDetails replaces the server's workflows; an empty one removes them.
	WorkflowDetails *transfer.WorkflowDetails
}

// IdentityDetailsUpdate is UpdateServer's IdentityProviderDetails: nil members are left as they
// are, so that changing the Url does not quietly reset SftpAuthenticationMethods to its default.
type IdentityDetailsUpdate struct {
	URL                       *string
	InvocationRole            *string
	Function                  *string
	SftpAuthenticationMethods *string
}

// ServerDescription is DescribeServer's answer.
type ServerDescription struct {
	Server             transfer.Server
	ARN                string
	HostKeyFingerprint string // of the oldest host key, as ssh-keygen -l prints it
	UserCount          int
	Tags               []transfer.Tag
}

// ServerSummary is one entry of ListServers.
type ServerSummary struct {
	Server    transfer.Server
	ARN       string
	UserCount int
}

// UpdateUserInput is UpdateUser's request; nil fields are left as they are.
type UpdateUserInput struct {
	Role                  *string
	HomeDirectoryType     *string
	HomeDirectory         *string
	HomeDirectoryMappings []transfer.Mapping // nil: unchanged
	Policy                *string
	PosixProfile          *transfer.PosixProfile
	// RemovePosixProfile takes the user's POSIX profile away (the config file does, for a user
	// it no longer gives one); PosixProfile must then be nil.
	RemovePosixProfile bool
}

// UserDescription is DescribeUser's answer.
type UserDescription struct {
	User transfer.User
	ARN  string
	Tags []transfer.Tag
}

// UserSummary is one entry of ListUsers.
type UserSummary struct {
	User transfer.User
	ARN  string
}

// HostKeyDescription is DescribeHostKey's answer and one entry of ListHostKeys. HostKey.PrivateKey
// is always nil: the private key never leaves the Service. Tags are nil in ListHostKeys, which does
// not show them.
type HostKeyDescription struct {
	HostKey transfer.HostKey
	ARN     string
	Tags    []transfer.Tag
}

// Page asks for one page of a list: NextToken is what the previous page returned ("" for the
// first), MaxResults the page size: 1 to 1000, or 0 for 1000. A list's answer carries a next token
// only when more entries follow; a token is bound to the list (and server or resource) that
// returned it.
type Page struct {
	NextToken  string
	MaxResults int
}

// changed tells the Notifier that a server changed.
func (s *Service) changed(ctx context.Context, serverID string) {
	if s.notify != nil {
		s.notify.ServerChanged(ctx, serverID)
	}
}

// stamp returns the current time as the store keeps it: UTC, without a monotonic reading.
func (s *Service) stamp() time.Time { return s.now().UTC().Round(0) }
