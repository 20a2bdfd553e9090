package s3store

import (
	"context"
	"errors"
	"net/http"

	"github.com/aws/smithy-go"

	"github.com/transferd/transferd/internal/storage"
)

// fail translates an error from S3 into a *storage.Error, once: an error that is already
// classified passes through. The message is safe for a client; err itself, with the request ID
// and S3's own message, is kept for the operator's log.
func (s *Store) fail(op string, loc storage.Location, err error) error {
	if _, ok := errors.AsType[*storage.Error](err); ok {
		return err
	}
	c := classify(err)
	e := &storage.Error{Op: op, Path: loc.String(), Kind: c.kind, Message: c.message, Err: err}
	if code := s3Cause(err); code != "" {
		e.Code = "S3 " + code
	}
	if hasCode(err, "NoSuchBucket") {
		s.missingBucket(loc.Bucket, op)
	}
	return e
}

type class struct {
	kind    storage.Kind
	message string // "" means the kind's name
}

var (
	notExist  = class{storage.KindNotExist, ""}
	denied    = class{storage.KindPermission, "access denied by the object store"}
	throttled = class{storage.KindThrottled, "the object store is busy; try again later"}
)

// errorCodes maps S3 error codes to kinds. Codes not listed fall back on the HTTP status.
var errorCodes = map[string]class{
	"NoSuchKey":                 notExist,
	"NotFound":                  notExist,
	"NoSuchBucket":              notExist,
	"NoSuchUpload":              {storage.KindNotExist, "the upload no longer exists"},
	"AccessDenied":              denied,
	"Forbidden":                 denied,
	"AllAccessDisabled":         denied,
	"AccountProblem":            denied,
	"InvalidAccessKeyId":        denied,
	"SignatureDoesNotMatch":     denied,
	"ExpiredToken":              denied,
	"InvalidToken":              denied,
	"InvalidObjectState":        {storage.KindPermission, "the object is archived and cannot be read"},
	"SlowDown":                  throttled,
	"ServiceUnavailable":        throttled,
	"Throttling":                throttled,
	"ThrottlingException":       throttled,
	"RequestLimitExceeded":      throttled,
	"TooManyRequests":           throttled,
	"RequestTimeTooSkewed":      {storage.KindInternal, "the server clock differs from the object store's"},
	"BucketAlreadyExists":       {storage.KindExist, ""},
	"BucketAlreadyOwnedByYou":   {storage.KindExist, ""},
	"BucketNotEmpty":            {storage.KindNotEmpty, ""},
	"KeyTooLongError":           {storage.KindInvalid, "name too long for the object store"},
	"EntityTooLarge":            {storage.KindInvalid, "file too large for the object store"},
	"EntityTooSmall":            {storage.KindInvalid, "upload part too small for the object store"},
	"InvalidArgument":           {storage.KindInvalid, ""},
	"InvalidRequest":            {storage.KindInvalid, ""},
	"InvalidObjectName":         {storage.KindInvalid, "invalid name for the object store"},
	"InvalidBucketName":         {storage.KindInvalid, "invalid bucket name"},
	"NotImplemented":            {storage.KindNotSupported, "not supported by the object store"},
	"MethodNotAllowed":          {storage.KindNotSupported, "not supported by the object store"},
	"XAmzContentSHA256Mismatch": {storage.KindInternal, "upload corrupted in transit"},
	"BadDigest":                 {storage.KindInternal, "upload corrupted in transit"},
	"InternalError":             {storage.KindInternal, "the object store failed"},
}

// statusClasses maps HTTP statuses to kinds where no code says more (HEAD responses have no body).
var statusClasses = map[int]class{
	http.StatusNotFound:           notExist,
	http.StatusForbidden:          denied,
	http.StatusUnauthorized:       denied,
	http.StatusTooManyRequests:    throttled,
	http.StatusServiceUnavailable: throttled,
	http.StatusNotImplemented:     {storage.KindNotSupported, "not supported by the object store"},
}

// httpError is an error with the HTTP response's status, as the SDK's response errors are.
type httpError interface {
	error
	HTTPStatusCode() int
}

func classify(err error) class {
	switch {
	case errors.Is(err, context.Canceled):
		return class{storage.KindInternal, "operation canceled"}
	case errors.Is(err, context.DeadlineExceeded):
		return class{storage.KindInternal, "the object store did not answer in time"}
	}
	if ae, ok := errors.AsType[smithy.APIError](err); ok {
		if c, ok := errorCodes[ae.ErrorCode()]; ok {
			return c
		}
	}
	if re, ok := errors.AsType[httpError](err); ok {
		if c, ok := statusClasses[re.HTTPStatusCode()]; ok {
			return c
		}
		return class{storage.KindInternal, "the object store failed"}
	}
	return class{storage.KindInternal, "the object store cannot be reached"}
}

// isNotFound reports whether err says the object, the bucket or the upload is not there.
func isNotFound(err error) bool { return classify(err).kind == storage.KindNotExist }

// hasCode reports whether err is an S3 error with the given code.
func hasCode(err error, code string) bool {
	ae, ok := errors.AsType[smithy.APIError](err)
	return ok && ae.ErrorCode() == code
}

// hasStatus reports whether err is an HTTP response with the given status.
func hasStatus(err error, status int) bool {
	re, ok := errors.AsType[httpError](err)
	return ok && re.HTTPStatusCode() == status
}
