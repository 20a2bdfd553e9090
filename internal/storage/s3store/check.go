package s3store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// Problem is one thing Check found wrong: with the bucket it is about, or none when it is about
// the storage as a whole.
type Problem struct {
	Bucket  string
	Message string
}

// Check asks S3 whether it answers, takes the credentials and has each of buckets, and returns
// the problems it found (none when all is well). It sends one ListBuckets (cheap; an
// AccessDenied answer still proves the credentials) and, when S3 answered, one HeadBucket per
// bucket. It is for start-up and reload warnings: users of a bucket that is missing would
// otherwise learn it only from "No such file".
func (s *Store) Check(ctx context.Context, buckets []string) []Problem {
	where := s.opts.Endpoint
	if where == "" {
		where = "AWS S3 in " + s.opts.Region
	}
	_, err := s.client.ListBuckets(ctx, &s3.ListBucketsInput{MaxBuckets: aws.Int32(1)})
	if err != nil {
		ae, ok := errors.AsType[smithy.APIError](err)
		switch {
		case !ok:
			return []Problem{{Message: fmt.Sprintf("S3 storage at %s does not answer: %v", where, err)}}
		case slices.Contains([]string{"InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken"}, ae.ErrorCode()):
			return []Problem{{Message: fmt.Sprintf("S3 storage at %s refuses the credentials (%s): every request will fail", where, ae.ErrorCode())}}
		case ae.ErrorCode() != "AccessDenied":
			return []Problem{{Message: fmt.Sprintf("S3 storage at %s answered ListBuckets with %s: %s", where, ae.ErrorCode(), ae.ErrorMessage())}}
		}
	}
	var problems []Problem
	for _, b := range buckets {
		_, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &b})
		switch {
		case err == nil:
		case isNotFound(err):
			problems = append(problems, Problem{b, fmt.Sprintf("S3 bucket %s does not exist at %s: its users' requests will fail with NoSuchBucket", b, where)})
		default:
			problems = append(problems, Problem{b, fmt.Sprintf("S3 bucket %s at %s cannot be used: %s", b, where, cmp.Or(s3Cause(err), err.Error()))})
		}
	}
	return problems
}

// s3Cause names what S3 answered: its error code, else the HTTP status; "" when S3 did not
// answer.
func s3Cause(err error) string {
	if ae, ok := errors.AsType[smithy.APIError](err); ok && ae.ErrorCode() != "" {
		return ae.ErrorCode()
	}
	if re, ok := errors.AsType[httpError](err); ok {
		return fmt.Sprintf("HTTP %d", re.HTTPStatusCode())
	}
	return ""
}
