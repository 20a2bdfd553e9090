// Package mgmtapi is the management API: Transfer Family's AWS JSON 1.1 protocol with SigV4,
// dispatching to the control plane, with AWS's error shapes.
//
// The official AWS CLI (aws transfer ... --endpoint-url http://HOST:PORT) and the AWS SDKs work
// against it unchanged. Every request is POST / with X-Amz-Target: TransferService.<Operation>
// and a JSON body whose members are named as in the Transfer API model; every answer is JSON
// with Content-Type application/x-amz-json-1.1 and an x-amzn-RequestId header. Errors are
// {"__type": CODE, "Message": ...} with the code also in X-Amzn-ErrorType.
//
// # Authentication
//
// Requests must carry a SigV4 Authorization header for the signing name "transfer", made with one
// of Options.Credentials; any region is accepted. The signature covers exactly the headers the
// client lists in SignedHeaders (which must include host and x-amz-date), so both the SDKs (which
// sign most headers) and the CLI (content-type;host;x-amz-date;x-amz-target) are accepted. The
// signature is recomputed with the AWS SDK's signer, which never signs Authorization, User-Agent,
// Expect, X-Amzn-Trace-Id or Transfer-Encoding; a client that signs one of these is refused.
// Presigned (query-string) requests and session tokens are refused: transferd issues only
// long-term keys. Failures use AWS's codes and messages:
//
//   - no Authorization header: 400 MissingAuthenticationTokenException (what AWS's JSON services
//     such as DynamoDB answer; REST APIs answer 403, which the SDKs treat no differently);
//   - a malformed header or scope, a missing or unparseable X-Amz-Date: 400
//     IncompleteSignatureException;
//   - an unknown access key or any session token: 403 UnrecognizedClientException;
//   - a signing time more than Options.MaxSkew away from the server's clock, a body that does not
//     match X-Amz-Content-Sha256, or a wrong signature: 403 InvalidSignatureException.
//
// Responses carry a Date header from the server's clock, so the SDKs' clock skew correction
// works. No secret key or signature is ever logged or put in a message.
//
// # Where a server listens
//
// AWS gives every server a DNS name; transferd gives it a listen address (host:port). CreateServer
// takes it from the tag transferd:Endpoint, for example
//
//	aws transfer create-server --tags Key=transferd:Endpoint,Value=127.0.0.1:2301 ...
//
// The tag is removed from the tags that are stored. Without it, or with an empty value, the control
// plane picks a free address. DescribeServer and ListServers report the address in the extension
// member Endpoint, which the SDKs and the CLI drop (they parse answers by their model), and
// DescribeServer and ListTagsForResource show it as the tag transferd:Endpoint, which they print.
//
// # Why a server is START_FAILED
//
// A server that could not start (its port is taken, say) is START_FAILED, and DescribeServer and
// ListTagsForResource show why as the derived tag transferd:StateReason; StartServer tries again.
//
// # What the config file manages
//
// Servers and users that the config file lists carry the derived tag transferd:ManagedBy=config;
// requests that would change them are refused with InvalidRequestException naming the file (see
// the control package). Derived tags cannot be set or removed.
//
// # Recording clients' offers
//
// The server tag transferd:RecordClientOffer (true or false; a transferd extension) makes a
// server put each client's whole first KEXINIT in its CONNECTED and KEX_FAILURE activity records
// as client-offer. Set it with CreateServer's Tags or with TagResource (UpdateServer has no Tags
// member in the API model); UntagResource turns recording off. Other values are refused with
// InvalidRequestException, and a change applies to the running server's new connections. Unlike
// the derived tags it is stored as a tag.
//
// # Limits
//
// The server tags transferd:MaxHandlesPerSession, MaxHandlesPerUser, MaxSessionsPerConnection,
// MaxConnectionsPerUser, MaxConnectionsPerSourceIp, MaxConnections, MaxStartups,
// MaxStartupsPerSourceIp and LoginGraceTimeSeconds (transferd extensions; transfer.Limits) set the
// server's resource limits; UntagResource returns one to its default. Bad values, and other keys
// beginning with transferd:, are refused with InvalidRequestException naming the tag; a change
// applies to the running server at once.
//
// # Users' roles, session policies and POSIX profiles
//
// CreateUser, UpdateUser and DescribeUser keep and return Role as given, and activity records
// show it, but transferd does not assume it: on AWS the role is what S3 checks; here one set of
// S3 credentials serves the whole process. The user's session Policy is the enforced boundary:
// transferd evaluates it for every SFTP request (IAM's logic, the S3 actions the request needs),
// and refuses a policy it cannot evaluate with InvalidRequestException naming the element. A
// PosixProfile (EFS-domain servers) decides ownership and access by mode bits. A Policy on an
// EFS-domain server, or a PosixProfile on an S3-domain one, is refused.
//
// # Custom identity providers
//
// CreateServer and UpdateServer take IdentityProviderType API_GATEWAY (IdentityProviderDetails
// Url, optional InvocationRole) and AWS_LAMBDA (Function), with SftpAuthenticationMethods;
// TestIdentityProvider calls the provider once, with Transfer Family's answer and its message for
// a service-managed server ("s-... not configured for external auth").
//
// # What transferd does not do
//
// Request members that would change behaviour transferd lacks are refused with
// InvalidRequestException "... is not supported by transferd" rather than ignored: EndpointType
// VPC and VPC_ENDPOINT, EndpointDetails, IpAddressType DUALSTACK, Certificate,
// IdentityProviderDetails.DirectoryId (AWS_DIRECTORY_SERVICE), non-empty WorkflowDetails and
// StructuredLogDestinations, and
// ProtocolDetails other than SetStatOption (AWS's defaults PassiveIp AUTO,
// TlsSessionResumptionMode ENFORCED and As2Transports [HTTP] are accepted). EndpointType PUBLIC,
// IpAddressType IPV4 and S3StorageOptions (a listing-speed hint for AWS's own S3 access) are
// accepted and have no effect. Members the model does not know are refused with
// SerializationException, as are members of the wrong JSON type.
package mgmtapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// MaxBodySize is the largest request body accepted, in bytes.
const MaxBodySize = 1 << 20

// DefaultMaxSkew is how far a request's signing time may be from the server's clock, either way,
// when Options.MaxSkew is zero. It is AWS's value.
const DefaultMaxSkew = 15 * time.Minute

const (
	contentTypeJSON11 = "application/x-amz-json-1.1"
	targetPrefix      = "TransferService."
	signingName       = "transfer"
)

// Options configure a Handler.
type Options struct {
	// Service runs the operations; *control.Service is the real one. It is required.
	Service Service
	// Credentials are the access keys that may call the API. None means every request is
	// refused with UnrecognizedClientException.
	Credentials []Credentials
	// Logger receives one debug line per request and an error line per internal error; nil
	// discards.
	Logger *slog.Logger
	// Now is the clock requests' signing times are checked against; nil means time.Now.
	Now func() time.Time
	// MaxSkew is how far a signing time may be from Now, either way; zero means DefaultMaxSkew.
	MaxSkew time.Duration
	// Observe, when set, is told of every request: its operation (one this API has, or
	// "Unknown") and "OK" or the AWS error code answered.
	Observe func(operation, code string)
	// Audit, when set, gets every request as an AuditEvent (CloudTrail's shape, secrets
	// redacted), accepted or refused; Region and Account go into its awsRegion and
	// recipientAccountId.
	Audit           func(AuditEvent)
	Region, Account string
}

// Handler serves the management API. It is an http.Handler, safe for concurrent use.
type Handler struct {
	svc     Service
	secrets map[string]string // access key ID -> secret access key
	log     *slog.Logger
	now     func() time.Time
	maxSkew time.Duration
	signer  *v4.Signer
	ops     map[string]operation
	observe func(operation, code string)
	audit   func(AuditEvent)
	region  string
	account string
}

// New returns a Handler for opts.
func New(opts Options) *Handler {
	h := &Handler{
		svc:     opts.Service,
		secrets: make(map[string]string, len(opts.Credentials)),
		log:     opts.Logger,
		now:     opts.Now,
		maxSkew: opts.MaxSkew,
		signer:  v4.NewSigner(),
		observe: opts.Observe,
		audit:   opts.Audit,
		region:  opts.Region,
		account: opts.Account,
	}
	for _, c := range opts.Credentials {
		if c.AccessKeyID != "" && c.SecretAccessKey != "" {
			h.secrets[c.AccessKeyID] = c.SecretAccessKey
		}
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.maxSkew <= 0 {
		h.maxSkew = DefaultMaxSkew
	}
	h.ops = h.operations()
	return h
}

// call is what one request's log line and audit event say.
type call struct {
	requestID   string
	operation   string
	accessKeyID string
	body        []byte // the request's, once read
}

// ServeHTTP checks the request's protocol and signature, runs the operation and writes its answer.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	c := call{requestID: newRequestID()}
	hdr := w.Header()
	hdr.Set("Content-Type", contentTypeJSON11)
	hdr.Set("x-amzn-RequestId", c.requestID)
	hdr.Set("Date", h.now().UTC().Format(http.TimeFormat))

	status, body, aerr := h.serve(w, r, &c)
	if aerr != nil {
		status, body = aerr.status, aerr.body()
		hdr.Set("X-Amzn-ErrorType", aerr.code)
		if aerr.status == http.StatusMethodNotAllowed {
			hdr.Set("Allow", http.MethodPost)
		}
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
	if h.observe != nil {
		op, code := c.operation, "OK"
		if _, known := h.ops[op]; !known {
			op = "Unknown" // the X-Amz-Target is the client's: no label of its choosing
		}
		if aerr != nil {
			code = aerr.code
		}
		h.observe(op, code)
	}
	if h.audit != nil {
		h.audit(h.auditEvent(r, &c, status, body, aerr))
	}

	attrs := []slog.Attr{
		slog.String("request_id", c.requestID),
		slog.String("operation", c.operation),
		slog.Int("status", status),
		slog.Duration("duration", time.Since(start)),
	}
	if c.accessKeyID != "" {
		attrs = append(attrs, slog.String("access_key_id", c.accessKeyID))
	}
	if aerr != nil {
		attrs = append(attrs, slog.String("error_code", aerr.code))
		switch {
		case aerr.code == codeUnavailable:
			h.log.LogAttrs(r.Context(), slog.LevelWarn, "management API request failed: the state store is unreachable",
				append(attrs, slog.String("error", aerr.cause.Error()))...)
		case aerr.cause != nil:
			h.log.LogAttrs(r.Context(), slog.LevelError, "management API internal error",
				append(attrs, slog.String("error", aerr.cause.Error()))...)
		}
	}
	h.log.LogAttrs(r.Context(), slog.LevelDebug, "management API request", attrs...)
}

// serve runs a request and returns the status and body of a success, or the error to answer.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, c *call) (int, []byte, *apiError) {
	if r.URL.Path != "/" {
		return 0, nil, &apiError{status: http.StatusNotFound, code: codeUnknownOperation,
			message: "transferd's management API answers POST / only"}
	}
	if r.Method != http.MethodPost {
		return 0, nil, &apiError{status: http.StatusMethodNotAllowed, code: codeUnknownOperation,
			message: "transferd's management API answers POST / only"}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodySize))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return 0, nil, &apiError{status: http.StatusRequestEntityTooLarge, code: codeSerialization,
				message: fmt.Sprintf("the request body is larger than %d bytes", MaxBodySize)}
		}
		return 0, nil, serializationError("the request body could not be read")
	}
	c.body = body

	target := r.Header.Get("X-Amz-Target")
	name, ok := strings.CutPrefix(target, targetPrefix)
	op, known := h.ops[name]
	if ok && known {
		c.operation = name // logged also when authentication fails
	}

	akid, aerr := h.authenticate(r, body)
	c.accessKeyID = akid
	if aerr != nil {
		return 0, nil, aerr
	}
	if !ok || !known {
		if target == "" {
			return 0, nil, &apiError{status: http.StatusBadRequest, code: codeUnknownOperation,
				message: "Missing X-Amz-Target header: it names the operation, as TransferService.<Operation>"}
		}
		return 0, nil, &apiError{status: http.StatusBadRequest, code: codeUnknownOperation,
			message: fmt.Sprintf("Unknown operation %s: transferd serves %s<Operation> for the server, user, key, security policy and tag operations", quote(target), targetPrefix)}
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil ||
		mt != contentTypeJSON11 && mt != "application/json" {
		return 0, nil, serializationError("Content-Type must be " + contentTypeJSON11)
	}

	out, err := op(r.Context(), body)
	if err != nil {
		return 0, nil, toAPIError(err)
	}
	data, err := marshal(out)
	if err != nil {
		return 0, nil, toAPIError(fmt.Errorf("encode %s response: %w", name, err))
	}
	return http.StatusOK, data, nil
}

// operation decodes a request body and runs it.
type operation func(ctx context.Context, body []byte) (any, error)

// handle makes an operation of a function of a decoded input.
func handle[In any, Out any](fn func(ctx context.Context, in *In) (*Out, error)) operation {
	return func(ctx context.Context, body []byte) (any, error) {
		var in In
		if err := decode(body, &in); err != nil {
			return nil, err
		}
		return fn(ctx, &in)
	}
}

// marshal encodes v as compact JSON without HTML escaping.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// newRequestID returns a random UUID (version 4), as AWS's request IDs look.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails; see crypto/rand.Read
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
