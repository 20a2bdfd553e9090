// Package transfer is the shared vocabulary of transferd: servers, users, keys, home directory
// mappings, sessions, identifiers, ARNs and the closed set of error kinds. It imports nothing of
// transferd's own, so every other package can use it.
package transfer

import (
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// Server states, as Transfer Family's DescribeServer reports them.
const (
	StateOnline      = "ONLINE"
	StateOffline     = "OFFLINE"
	StateStarting    = "STARTING"
	StateStopping    = "STOPPING"
	StateStartFailed = "START_FAILED"
	StateStopFailed  = "STOP_FAILED"
)

// Storage domains.
const (
	DomainS3  = "S3"
	DomainEFS = "EFS"
)

// Home directory types.
const (
	HomePath    = "PATH"
	HomeLogical = "LOGICAL"
)

// Mapping types.
const (
	MappingDirectory = "DIRECTORY"
	MappingFile      = "FILE"
)

// SetStat options (ProtocolDetails.SetStatOption).
const (
	SetStatDefault    = "DEFAULT"
	SetStatEnableNoOp = "ENABLE_NO_OP"
	// SetStatStoreMetadata is transferd's own: on S3 a SETSTAT's modification time and mode are
	// kept in the object's user metadata (x-amz-meta-mtime, as rclone keeps it, and
	// x-amz-meta-mode) and shown by STAT and listings. On local storage the file system keeps
	// them, as with DEFAULT.
	SetStatStoreMetadata = "STORE_METADATA"
)

// ValidateSetStatOption accepts the SetStat options.
func ValidateSetStatOption(v string) error {
	switch v {
	case SetStatDefault, SetStatEnableNoOp, SetStatStoreMetadata:
		return nil
	}
	return Invalid("ProtocolDetails.SetStatOption", "%q must be DEFAULT, ENABLE_NO_OP or STORE_METADATA", v)
}

// Identity provider types (IdentityProviderType).
const (
	// IdentityServiceManaged: users and their SSH keys are kept by the service; keys only.
	IdentityServiceManaged = "SERVICE_MANAGED"
	// IdentityAPIGateway: a custom identity provider reached over HTTP(S) at
	// IdentityProviderDetails.Url.
	IdentityAPIGateway = "API_GATEWAY"
	// IdentityLambda: a custom identity provider invoked as the Lambda function
	// IdentityProviderDetails.Function.
	IdentityLambda = "AWS_LAMBDA"
	// IdentityDirectoryService is AWS Managed Microsoft AD, which transferd does not offer.
	IdentityDirectoryService = "AWS_DIRECTORY_SERVICE"
)

// SFTP authentication methods of custom identity providers (SftpAuthenticationMethods).
const (
	AuthPassword             = "PASSWORD"
	AuthPublicKey            = "PUBLIC_KEY"
	AuthPublicKeyOrPassword  = "PUBLIC_KEY_OR_PASSWORD" // the default
	AuthPublicKeyAndPassword = "PUBLIC_KEY_AND_PASSWORD"
)

// IdentityProviderDetails are the settings of a custom identity provider.
type IdentityProviderDetails struct {
	// URL is an API_GATEWAY provider's base URL; transferd calls
	// GET {URL}/servers/{serverId}/users/{username}/config.
	URL string
	// InvocationRole is the IAM role AWS would call an API_GATEWAY provider with; when it is set,
	// transferd signs its calls with SigV4 (service execute-api) as API Gateway's IAM
	// authorization expects, with the credentials of its IdentityProviders settings.
	InvocationRole string
	// Function is an AWS_LAMBDA provider's function ARN.
	Function string
	// SftpAuthenticationMethods is how SFTP users of a custom provider log in: AuthPassword,
	// AuthPublicKey, AuthPublicKeyOrPassword (the default) or AuthPublicKeyAndPassword.
	SftpAuthenticationMethods string
}

// IsZero reports whether no detail is set.
func (d IdentityProviderDetails) IsZero() bool { return d == IdentityProviderDetails{} }

// CustomIdentity reports whether the server authenticates through a custom identity provider.
func (s *Server) CustomIdentity() bool {
	return s.IdentityProviderType == IdentityAPIGateway || s.IdentityProviderType == IdentityLambda
}

// DefaultSecurityPolicy is what AWS's API and CLI use when CreateServer names none.
const DefaultSecurityPolicy = "TransferSecurityPolicy-2024-01"

// Source tells who created a resource: the bootstrap config file or the management API. The config
// file reconciles only what it created. SourceReleased is a server the config file created and
// then stopped listing: it was stopped once and is the API's to start, change or delete, until the
// file lists it again and takes it back.
const (
	SourceConfig   = "config"
	SourceAPI      = "api"
	SourceReleased = "released"
)

// Tag is a key/value pair attached to a resource.
type Tag struct {
	Key   string
	Value string
}

// Server is one SFTP endpoint: what Transfer Family calls a server.
type Server struct {
	ServerID string
	// Endpoint is the address the server listens on (host:port).
	Endpoint                      string
	SecurityPolicyName            string
	PreAuthenticationLoginBanner  string
	PostAuthenticationLoginBanner string
	Domain                        string
	IdentityProviderType          string
	IdentityProviderDetails       IdentityProviderDetails
	Protocols                     []string
	SetStatOption                 string
	LoggingRole                   string
	State                         string
	// StateReason says why the server is in its State, when the daemon knows: what stopped a
	// START_FAILED server from listening (transferd; shown as the tag transferd:StateReason).
	StateReason string
	// WorkflowDetails names the workflows the server runs after uploads; nil runs none.
	WorkflowDetails *WorkflowDetails
	Tags            []Tag
	Source          string
	CreatedAt       time.Time
}

// HostKey is a server's private host key.
type HostKey struct {
	ServerID    string
	HostKeyID   string
	Description string
	// Type is the key's SSH type, e.g. ssh-rsa or ssh-ed25519.
	Type string
	// Fingerprint is SHA256:base64 without padding, as ssh-keygen -l prints it.
	Fingerprint  string
	PrivateKey   []byte // PEM
	DateImported time.Time
}

// Mapping maps an Entry the user sees onto a Target storage path (/bucket/prefix).
type Mapping struct {
	Entry  string
	Target string
	Type   string // DIRECTORY (default) or FILE
}

// PosixProfile is the POSIX identity of a user on EFS-like storage.
type PosixProfile struct {
	UID           uint32
	GID           uint32
	SecondaryGIDs []uint32
}

// SSHPublicKey is one of a user's public keys.
type SSHPublicKey struct {
	SSHPublicKeyID string
	// Body is the key in authorized_keys form: "type base64 [comment]".
	Body string
	// Fingerprint is SHA256:base64 without padding, as ssh-keygen -l prints it.
	Fingerprint  string
	DateImported time.Time
}

// User is a service-managed user of one server.
type User struct {
	ServerID              string
	UserName              string
	Role                  string
	HomeDirectoryType     string
	HomeDirectory         string
	HomeDirectoryMappings []Mapping
	Policy                string
	PosixProfile          *PosixProfile
	SSHPublicKeys         []SSHPublicKey
	Tags                  []Tag
	Source                string
}

// Session is one authenticated SSH connection: who, from where, onto which server.
type Session struct {
	// ID is a random hex string, as Transfer Family's session-id.
	ID            string
	Server        Server
	User          User
	ResourceARN   string
	RemoteIP      string
	ClientVersion string

	// MaxHandles caps the files and directories the session holds open at once (0: no cap), and
	// Handles is what the user's handles across its sessions, and the process's, may take (nil:
	// no cap): each open takes one from it, each close gives it back.
	MaxHandles int
	Handles    Budget

	// openFiles counts the file handles open in this session; a graceful shutdown waits while it
	// is above zero.
	openFiles atomic.Int64
}

// Budget is a count of something a session may take, shared with others.
type Budget interface {
	// Take takes one and reports whether there was one; when there was not, the error says
	// whose limit refused it.
	Take() error
	// Give gives back one that Take or Claim took.
	Give()
	// Claim takes one past any cap, for what is already taken and must be counted.
	Claim()
}

// FileOpened records that a file handle was opened.
func (s *Session) FileOpened() { s.openFiles.Add(1) }

// FileClosed records that a file handle was closed.
func (s *Session) FileClosed() { s.openFiles.Add(-1) }

// OpenFiles reports how many file handles are open.
func (s *Session) OpenFiles() int64 { return s.openFiles.Load() }

// ActivityHomeDir is what activity records show as home-dir: the expanded home directory of a PATH
// user ("/" when empty), and "LOGICAL" for LOGICAL users, as a real Transfer Family log shows.
func (u *User) ActivityHomeDir() string {
	if u.HomeDirectoryType == HomeLogical {
		return HomeLogical
	}
	if u.HomeDirectory == "" {
		return "/"
	}
	return ExpandTarget(u.HomeDirectory, u.UserName)
}

// Buckets are the buckets of storage the user's home directory names (the first element of a PATH
// home directory or of each LOGICAL target, with ${transfer:UserName} expanded), each once, in the
// order met.
func (u *User) Buckets() []string {
	dirs := []string{u.HomeDirectory}
	if u.HomeDirectoryType == HomeLogical {
		dirs = dirs[:0]
		for _, m := range u.HomeDirectoryMappings {
			dirs = append(dirs, m.Target)
		}
	}
	var out []string
	for _, d := range dirs {
		b, _, _ := strings.Cut(strings.TrimPrefix(ExpandTarget(d, u.UserName), "/"), "/")
		if b != "" && !slices.Contains(out, b) {
			out = append(out, b)
		}
	}
	return out
}

// LiveSession is a logged-in connection as an operator sees it (the console's live sessions):
// who, from where, since when, what it negotiated (as its CONNECTED record names it), the bytes
// that crossed the connection so far and the files it holds open.
type LiveSession struct {
	SessionID, ServerID, User, SourceIP, Client string
	Since                                       time.Time
	Kex, HostKeyAlgorithm, Ciphers, Macs        string
	BytesIn, BytesOut, OpenFiles                int64
}

// ServedHostKeys are the keys a server presents, of keys listed oldest first: the oldest of each
// type, as Transfer Family presents them. A newer key of a type is staged: it takes over when the
// older one is deleted.
func ServedHostKeys(keys []HostKey) []HostKey {
	seen := map[string]bool{}
	var served []HostKey
	for _, k := range keys {
		if !seen[k.Type] {
			seen[k.Type] = true
			served = append(served, k)
		}
	}
	return served
}
