package metastore

import (
	"context"

	"github.com/transferd/transferd/internal/transfer"
)

// TagResource sets tags on the resource an ARN names, replacing the values of keys it already
// has. The store does not check that the resource exists: the caller parses the ARN and looks.
func (s *Store) TagResource(ctx context.Context, arn string, tags []transfer.Tag) error {
	err := s.write(ctx, func(r runner) error { return upsertTags(ctx, r, arn, tags) })
	return wrapInternal(err, "tag %s", arn)
}

// UntagResource removes tags by key from the resource an ARN names. Keys it does not have are
// ignored.
func (s *Store) UntagResource(ctx context.Context, arn string, keys []string) error {
	err := s.write(ctx, func(r runner) error {
		for _, k := range keys {
			if _, err := r.exec(ctx, `DELETE FROM tags WHERE arn = ? AND key = ?`, arn, k); err != nil {
				return err
			}
		}
		return nil
	})
	return wrapInternal(err, "untag %s", arn)
}

// ListTags returns the tags of the resource an ARN names, sorted by key.
func (s *Store) ListTags(ctx context.Context, arn string) ([]transfer.Tag, error) {
	var tags []transfer.Tag
	err := s.read(ctx, func(r runner) error {
		var err error
		tags, err = listTags(ctx, r, arn)
		return err
	})
	if err != nil {
		return nil, wrapInternal(err, "list tags of %s", arn)
	}
	return tags, nil
}

func upsertTags(ctx context.Context, r runner, arn string, tags []transfer.Tag) error {
	for _, t := range tags {
		if _, err := r.exec(ctx, `INSERT INTO tags (arn, key, value) VALUES (?, ?, ?)
			ON CONFLICT (arn, key) DO UPDATE SET value = excluded.value`, arn, t.Key, t.Value); err != nil {
			return err
		}
	}
	return nil
}

func listTags(ctx context.Context, r runner, arn string) ([]transfer.Tag, error) {
	rows, err := r.query(ctx, `SELECT key, value FROM tags WHERE arn = ? ORDER BY key`, arn)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var tags []transfer.Tag
	for rows.Next() {
		var t transfer.Tag
		if err := rows.Scan(&t.Key, &t.Value); err != nil {
			return nil, err
		}
		tags = append(tags, t)
	}
	return tags, rows.Err()
}
