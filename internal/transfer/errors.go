package transfer

import (
	"errors"
	"fmt"
)

// Kind classifies an error once, where it arises; protocols map kinds to their wire codes in one
// place each (SFTP status codes in sftpd, AWS error types in mgmtapi).
type Kind int

// The closed set of error kinds.
const (
	KindInternal Kind = iota
	KindNotFound
	KindExists
	KindInvalid
	KindConflict
	KindPermission
	KindNotSupported
	KindInvalidToken // a pagination token that this service did not hand out
	KindUnavailable  // a service transferd depends on (its state store) cannot be reached now
)

var kindNames = [...]string{"internal", "not found", "exists", "invalid", "conflict", "permission denied", "not supported", "invalid token", "unavailable"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Error is an error with a kind. Resource and ResourceType name what it is about (AWS's
// ResourceNotFoundException carries both); Field names the input field of an invalid request.
type Error struct {
	Kind         Kind
	Resource     string
	ResourceType string
	Field        string
	Message      string
	Err          error
}

func (e *Error) Error() string {
	msg := e.Message
	if e.Field != "" {
		msg = e.Field + ": " + msg
	}
	if e.Err != nil {
		if msg == "" {
			return e.Err.Error()
		}
		return msg + ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the kind of the first *Error in err's chain, or KindInternal.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// NotFound returns a KindNotFound error about a resource.
func NotFound(resourceType, resource, message string) error {
	return &Error{Kind: KindNotFound, ResourceType: resourceType, Resource: resource, Message: message}
}

// Exists returns a KindExists error about a resource.
func Exists(resourceType, resource, message string) error {
	return &Error{Kind: KindExists, ResourceType: resourceType, Resource: resource, Message: message}
}

// Invalid returns a KindInvalid error about an input field.
func Invalid(field, format string, args ...any) error {
	return &Error{Kind: KindInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// Conflict returns a KindConflict error: the request clashes with the resource's current state.
func Conflict(resourceType, resource, message string) error {
	return &Error{Kind: KindConflict, ResourceType: resourceType, Resource: resource, Message: message}
}
