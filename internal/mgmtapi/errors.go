package mgmtapi

import (
	"errors"
	"net/http"

	"github.com/transferd/transferd/internal/transfer"
)

// AWS error codes this API answers with.
const (
	codeInternal          = "InternalServiceError"
	codeInvalidRequest    = "InvalidRequestException"
	codeNotFound          = "ResourceNotFoundException"
	codeExists            = "ResourceExistsException"
	codeConflict          = "ConflictException"
	codeInvalidNextToken  = "InvalidNextTokenException"
	codeUnavailable       = "ServiceUnavailableException"
	codeSerialization     = "SerializationException"
	codeUnknownOperation  = "UnknownOperationException"
	codeMissingAuth       = "MissingAuthenticationTokenException"
	codeIncompleteSig     = "IncompleteSignatureException"
	codeUnrecognizedCli   = "UnrecognizedClientException"
	codeInvalidSignature  = "InvalidSignatureException"
	msgInternal           = "An internal error occurred. The request ID identifies it in the server's log."
	msgUnrecognizedClient = "The security token included in the request is invalid."
	msgSignatureMismatch  = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)

// apiError is an error answer: its HTTP status, AWS error code and message. Resource and
// ResourceType are set for ResourceNotFoundException and ResourceExistsException, which require
// them. cause is the internal error behind an InternalServiceError, for the log only.
type apiError struct {
	status       int
	code         string
	message      string
	withResource bool
	resource     string
	resourceType string
	cause        error
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

// body is the JSON error body: {"__type": code, "Message": message} and, for the resource
// errors, Resource and ResourceType.
func (e *apiError) body() []byte {
	type errorBody struct {
		Type         string  `json:"__type"`
		Message      string  `json:"Message"`
		Resource     *string `json:"Resource,omitempty"`
		ResourceType *string `json:"ResourceType,omitempty"`
	}
	b := errorBody{Type: e.code, Message: e.message}
	if e.withResource {
		b.Resource, b.ResourceType = &e.resource, &e.resourceType
	}
	data, err := marshal(b)
	if err != nil { // strings only: cannot happen
		return []byte(`{"__type":"` + codeInternal + `"}`)
	}
	return data
}

// toAPIError maps an error from decoding or from the control plane to its AWS error. This is the
// one place where error kinds become AWS error types.
func toAPIError(err error) *apiError {
	if ae, ok := errors.AsType[*apiError](err); ok {
		return ae
	}
	te, ok := errors.AsType[*transfer.Error](err)
	if !ok {
		return &apiError{status: http.StatusInternalServerError, code: codeInternal, message: msgInternal, cause: err}
	}
	switch te.Kind {
	case transfer.KindNotFound:
		return &apiError{status: http.StatusBadRequest, code: codeNotFound, message: te.Error(),
			withResource: true, resource: te.Resource, resourceType: te.ResourceType}
	case transfer.KindExists:
		return &apiError{status: http.StatusBadRequest, code: codeExists, message: te.Error(),
			withResource: true, resource: te.Resource, resourceType: te.ResourceType}
	case transfer.KindInvalid, transfer.KindNotSupported, transfer.KindPermission:
		return &apiError{status: http.StatusBadRequest, code: codeInvalidRequest, message: te.Error()}
	case transfer.KindConflict:
		return &apiError{status: http.StatusBadRequest, code: codeConflict, message: te.Error()}
	case transfer.KindInvalidToken:
		return &apiError{status: http.StatusBadRequest, code: codeInvalidNextToken, message: te.Error()}
	case transfer.KindUnavailable:
		return &apiError{status: http.StatusServiceUnavailable, code: codeUnavailable, message: te.Message, cause: err}
	default: // KindInternal and any kind added later
		return &apiError{status: http.StatusInternalServerError, code: codeInternal, message: msgInternal, cause: err}
	}
}

// serializationError is a 400 SerializationException: the body is not the operation's input.
func serializationError(message string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: codeSerialization, message: message}
}

// invalid is a KindInvalid error about a request member: "Member: problem".
func invalid(member, format string, args ...any) error {
	return transfer.Invalid(member, format, args...)
}

// notSupported is a KindNotSupported error: the member asks for something transferd lacks.
func notSupported(member, detail string) error {
	msg := member + " is not supported by transferd"
	if detail != "" {
		msg += " (" + detail + ")"
	}
	return &transfer.Error{Kind: transfer.KindNotSupported, Message: msg}
}

// authError is an authentication failure with AWS's status, code and message.
func authError(status int, code, message string) *apiError {
	return &apiError{status: status, code: code, message: message}
}
