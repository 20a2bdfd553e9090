package s3store

import (
	"cmp"
	"context"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/transferd/transferd/internal/storage"
)

// maxObjectTags is how many tags S3 keeps on an object.
const maxObjectTags = 10

// AddTags sets tags on an object, keeping the others it has (S3 replaces the whole set, so the
// set is read first), and returns them all, sorted by key.
func (s *Store) AddTags(ctx context.Context, loc storage.Location, tags []storage.Tag) ([]storage.Tag, error) {
	const op = "tag"
	if err := check(op, loc); err != nil {
		return nil, err
	}
	if loc.Key == "" {
		return nil, storage.Errorf(op, loc, storage.KindInvalid, "a bucket is not an object", nil)
	}
	got, err := s.client.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: &loc.Bucket, Key: &loc.Key})
	if err != nil {
		return nil, s.fail(op, loc, err)
	}
	all := map[string]string{}
	for _, t := range got.TagSet {
		all[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	for _, t := range tags {
		all[t.Key] = t.Value
	}
	if len(all) > maxObjectTags {
		return nil, storage.Errorf(op, loc, storage.KindInvalid, "an object holds at most 10 tags", nil)
	}
	out := make([]storage.Tag, 0, len(all))
	set := make([]types.Tag, 0, len(all))
	for k, v := range all {
		out = append(out, storage.Tag{Key: k, Value: v})
	}
	slices.SortFunc(out, func(a, b storage.Tag) int { return cmp.Compare(a.Key, b.Key) })
	for _, t := range out {
		set = append(set, types.Tag{Key: &t.Key, Value: &t.Value})
	}
	if _, err := s.client.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: &loc.Bucket, Key: &loc.Key,
		Tagging: &types.Tagging{TagSet: set}}); err != nil {
		return nil, s.fail(op, loc, err)
	}
	return out, nil
}

var _ storage.Tagger = (*Store)(nil)
