package mgmtapi

import (
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"time"
)

// AuditEvent is one management call in CloudTrail's shape: every API request, accepted or
// refused, and every change the config file makes (see ConfigIdentity).
type AuditEvent struct {
	EventVersion       string         `json:"eventVersion"`
	UserIdentity       AuditIdentity  `json:"userIdentity"`
	EventTime          string         `json:"eventTime"`
	EventSource        string         `json:"eventSource"`
	EventName          string         `json:"eventName"`
	AWSRegion          string         `json:"awsRegion"`
	SourceIPAddress    string         `json:"sourceIPAddress"`
	UserAgent          string         `json:"userAgent"`
	ErrorCode          string         `json:"errorCode,omitempty"`
	ErrorMessage       string         `json:"errorMessage,omitempty"`
	RequestParameters  map[string]any `json:"requestParameters"`
	ResponseElements   map[string]any `json:"responseElements"`
	RequestID          string         `json:"requestID"`
	EventID            string         `json:"eventID"`
	ReadOnly           bool           `json:"readOnly"`
	EventType          string         `json:"eventType"`
	ManagementEvent    bool           `json:"managementEvent"`
	RecipientAccountID string         `json:"recipientAccountId"`
}

// AuditIdentity is who made a call: an access key of the API, or the config file.
type AuditIdentity struct {
	Type        string `json:"type"`
	PrincipalID string `json:"principalId,omitempty"`
	AccessKeyID string `json:"accessKeyId,omitempty"`
}

// ConfigIdentity is the identity type of the changes the config file makes.
const ConfigIdentity = "transferd:config"

// redacted stands for a secret in an audit event, as CloudTrail writes it.
const redacted = "HIDDEN_DUE_TO_SECURITY_REASONS"

// NewAuditEvent returns an event of the fields every event has, at now, in region and account,
// with new event and request IDs.
func NewAuditEvent(now time.Time, region, account, eventName string) AuditEvent {
	return AuditEvent{
		EventVersion:       "1.08",
		EventTime:          now.UTC().Format(time.RFC3339),
		EventSource:        "transfer.amazonaws.com",
		EventName:          eventName,
		AWSRegion:          region,
		EventID:            newRequestID(),
		RequestID:          newRequestID(),
		ReadOnly:           readOnly(eventName),
		EventType:          "AwsApiCall",
		ManagementEvent:    true,
		RecipientAccountID: account,
	}
}

// readOnly reports whether an operation only reads.
func readOnly(op string) bool {
	for _, p := range []string{"Describe", "List", "Test"} {
		if strings.HasPrefix(op, p) {
			return true
		}
	}
	return false
}

// secretField reports whether a request member holds a secret: a host private key or a password.
func secretField(name string) bool {
	return name == "HostKey" || name == "HostKeyBody" || strings.Contains(name, "Password") || strings.Contains(name, "PrivateKey")
}

// redact returns the JSON object body with its secrets replaced (nil when body is not an object).
func redact(body []byte) map[string]any {
	var m map[string]any
	if json.Unmarshal(body, &m) != nil {
		return nil
	}
	redactIn(m)
	return m
}

func redactIn(v any) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if secretField(k) {
				v[k] = redacted
			} else {
				redactIn(x)
			}
		}
	case []any:
		for _, x := range v {
			redactIn(x)
		}
	}
}

// auditEvent describes a request the handler answered.
func (h *Handler) auditEvent(r *http.Request, c *call, status int, resp []byte, aerr *apiError) AuditEvent {
	name := c.operation
	if name == "" {
		name, _ = strings.CutPrefix(r.Header.Get("X-Amz-Target"), targetPrefix)
		name = cutTo(name, 128)
	}
	ev := NewAuditEvent(h.now(), h.region, h.account, name)
	ev.UserIdentity = AuditIdentity{Type: "IAMUser", AccessKeyID: c.accessKeyID}
	if c.accessKeyID == "" {
		ev.UserIdentity.Type = "Unknown"
	}
	ev.SourceIPAddress = r.RemoteAddr
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		ev.SourceIPAddress = host
	}
	ev.UserAgent = cutTo(r.UserAgent(), 1024)
	ev.RequestID = c.requestID
	ev.RequestParameters = redact(c.body)
	if aerr != nil {
		ev.ErrorCode, ev.ErrorMessage = aerr.code, cutTo(aerr.message, 1024)
	} else if status == http.StatusOK && !ev.ReadOnly {
		ev.ResponseElements = redact(resp)
	}
	return ev
}

func cutTo(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
