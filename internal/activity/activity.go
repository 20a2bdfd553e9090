// Package activity writes Transfer Family's JSON activity records: one object per line with
// Transfer Family's field names and value formats (bytes as strings, ciphers and MACs as
// "client-to-server,server-to-client"), to any sink.
package activity

import (
	"bytes"
	"encoding/json"
	"io"
	"sync"
	"time"

	"github.com/transferd/transferd/internal/negotiate"
)

// Activity types.
const (
	Connected    = "CONNECTED"
	Disconnected = "DISCONNECTED"
	AuthFailure  = "AUTH_FAILURE"
	KexFailure   = "KEX_FAILURE"
	Open         = "OPEN"
	Close        = "CLOSE"
	PartialClose = "PARTIAL_CLOSE"
	Delete       = "DELETE"
	Rename       = "RENAME"
	Mkdir        = "MKDIR"
	Rmdir        = "RMDIR"
	Setstat      = "SETSTAT"
	Error        = "ERROR"
	// ConnectionRejected is a connection refused before its SSH handshake (transferd): by a
	// limit (MaxConnections, MaxConnectionsPerSourceIp, MaxStartups, MaxStartupsPerSourceIp) or
	// because its source address is penalised. One record stands for the refusals of its kind
	// from one address within a period (count); message says why.
	ConnectionRejected = "CONNECTION_REJECTED"
)

// Operations an ERROR record names besides the activity types above (transferd: Transfer Family
// documents only OPEN and CLOSE).
const (
	OperationRead  = "READ"
	OperationWrite = "WRITE"
	OperationStat  = "STAT"
	OperationList  = "LIST"
)

// Record is one activity record. Field names are Transfer Family's; fields marked "transferd" are
// additions that Transfer Family does not write.
type Record struct {
	// Timestamp is when the record was written (transferd: CloudWatch adds its own @timestamp).
	Timestamp    time.Time `json:"timestamp"`
	ActivityType string    `json:"activity-type"`
	// Node is the transferd process that wrote the record (transferd: its --node-name, by default
	// the host name), so that a session can be followed across nodes behind a load balancer.
	Node        string `json:"node,omitempty"`
	SessionID   string `json:"session-id,omitempty"`
	ResourceARN string `json:"resource-arn,omitempty"`
	User        string `json:"user,omitempty"`
	Client      string `json:"client,omitempty"`
	SourceIP    string `json:"source-ip,omitempty"`
	Role        string `json:"role,omitempty"`
	HomeDir     string `json:"home-dir,omitempty"`
	UserPolicy  string `json:"user-policy,omitempty"`
	Method      string `json:"method,omitempty"`
	// IdPLatencyMs is how long the custom identity provider took to answer, in milliseconds
	// (transferd), in CONNECTED and AUTH_FAILURE records of servers that have one.
	IdPLatencyMs *float64 `json:"idp-latency-ms,omitempty"`
	Kex          string   `json:"kex,omitempty"`
	// HostKeyAlgorithm is the negotiated host key signature algorithm (transferd).
	HostKeyAlgorithm string `json:"host-key-algorithm,omitempty"`
	Ciphers          string `json:"ciphers,omitempty"`
	Macs             string `json:"macs,omitempty"`

	SSHPublicKey            string `json:"ssh-public-key,omitempty"`
	SSHPublicKeyType        string `json:"ssh-public-key-type,omitempty"`
	SSHPublicKeyFingerprint string `json:"ssh-public-key-fingerprint,omitempty"`
	// SSHSignatureAlgorithm is how the client signed with its key (transferd): rsa-sha2-512,
	// rsa-sha2-256 or ssh-rsa for an RSA key, the key type for the others.
	SSHSignatureAlgorithm string `json:"ssh-signature-algorithm,omitempty"`

	Operation string `json:"operation,omitempty"`
	Path      string `json:"path,omitempty"`
	// NewPath is a RENAME's destination (transferd: Transfer Family's field name is undocumented).
	NewPath  string `json:"new-path,omitempty"`
	Mode     string `json:"mode,omitempty"`
	BytesIn  string `json:"bytes-in,omitempty"`
	BytesOut string `json:"bytes-out,omitempty"`
	Message  string `json:"message,omitempty"`
	// Reason is why a login or a connection was refused, one word of a fixed set (transferd), in
	// AUTH_FAILURE (UnknownUser, KeyNotAuthorized, BadPassword, SignatureAlgorithm,
	// MaxConnectionsPerUser, StateStoreUnreachable, IdentityProvider, Refused) and
	// CONNECTION_REJECTED records (the limit's name, Penalty or ProxyProtocol).
	Reason string `json:"reason,omitempty"`
	// Count is how many events one record stands for (transferd), where repeated ones are
	// written once: CONNECTION_REJECTED, and refusals by a limit within a session.
	Count int `json:"count,omitempty"`

	// Failed negotiation (transferd): which category had no common algorithm and each side's list.
	NegotiationCategory string   `json:"negotiation-category,omitempty"`
	ClientOffered       []string `json:"client-offered,omitempty"`
	ServerOffered       []string `json:"server-offered,omitempty"`

	// ClientOffer is the client's whole first KEXINIT, in CONNECTED and KEX_FAILURE records of
	// servers that record offers (transferd; the server setting RecordClientOffer).
	ClientOffer *negotiate.Offer `json:"client-offer,omitempty"`
}

// Sink receives activity records. Log must be safe for concurrent use and must not block for long.
type Sink interface {
	Log(r *Record)
}

// JSONLines writes each record as one JSON line to w, in one Write: a reader tailing the log
// sees whole records, and a file reopened between two records (log rotation) gets whole ones.
// It is safe for concurrent use.
type JSONLines struct {
	mu  sync.Mutex
	w   io.Writer
	buf bytes.Buffer
	now func() time.Time
	err error
	// Node, when set before the first Log, is written in records that name no node.
	Node string
}

// NewJSONLines returns a sink writing to w. now stamps records (time.Now when nil).
func NewJSONLines(w io.Writer, now func() time.Time) *JSONLines {
	if now == nil {
		now = time.Now
	}
	return &JSONLines{w: w, now: now}
}

// Log writes r as one line.
func (j *JSONLines) Log(r *Record) {
	if r.Timestamp.IsZero() {
		r.Timestamp = j.now().UTC()
	}
	if r.Node == "" {
		r.Node = j.Node
	}
	j.LogValue(r)
}

// LogValue writes v, any JSON-encodable value, as one line: the workflow records, which have
// Transfer Family's own shape, share the activity log.
func (j *JSONLines) LogValue(v any) {
	j.mu.Lock()
	defer j.mu.Unlock()
	// HTML escaping is off so that "<implicit>" reads as itself.
	j.buf.Reset()
	enc := json.NewEncoder(&j.buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		if j.err == nil {
			j.err = err
		}
		return
	}
	if _, err := j.w.Write(j.buf.Bytes()); err != nil && j.err == nil {
		j.err = err
	}
}

// Err returns the first write error, if any.
func (j *JSONLines) Err() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.err
}

// Discard drops every record.
type Discard struct{}

// Log does nothing.
func (Discard) Log(*Record) {}
