package metastore

import (
	"context"
	"errors"
	"time"
)

// The processes (nodes) that use the store record themselves and the multipart uploads they
// have in progress: a node that dies (kill -9, a lost machine) leaves its uploads recorded, and
// another node, seeing that it has not been heard of for a while, aborts them.

// Upload is a multipart upload in progress, and the process that started it.
type Upload struct {
	// Token names the record; UploadID is S3's, "" when the process died before S3 answered.
	Token, UploadID, Bucket, Key string
	// Instance is the process that started it (see NodeSeen).
	Instance  string
	StartedAt time.Time
}

// NodeSeen records that the process instance (named name) is alive now.
func (s *Store) NodeSeen(ctx context.Context, instance, name string) error {
	now := formatTime(s.now())
	err := s.write(ctx, func(r runner) error {
		_, err := r.exec(ctx, `INSERT INTO nodes (instance, name, started_at, seen_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (instance) DO UPDATE SET seen_at = excluded.seen_at`, instance, name, now, now)
		return err
	})
	return wrapInternal(err, "record node %s", instance)
}

// NodeGone forgets a process that ends with no upload in progress.
func (s *Store) NodeGone(ctx context.Context, instance string) error {
	err := s.write(ctx, func(r runner) error {
		_, err := r.exec(ctx, `DELETE FROM nodes WHERE instance = ?
			AND NOT EXISTS (SELECT 1 FROM uploads WHERE uploads.instance = nodes.instance)`, instance)
		return err
	})
	return wrapInternal(err, "forget node %s", instance)
}

// AddUpload records a multipart upload that u.Instance is about to start, by its token.
func (s *Store) AddUpload(ctx context.Context, u Upload) error {
	err := s.write(ctx, func(r runner) error {
		_, err := r.exec(ctx, `INSERT INTO uploads (token, upload_id, bucket, object_key, instance, started_at) VALUES (?, ?, ?, ?, ?, ?)`,
			u.Token, u.UploadID, u.Bucket, u.Key, u.Instance, formatTime(s.stamp(u.StartedAt)))
		return err
	})
	return wrapInternal(err, "record upload %s", u.Token)
}

// SetUploadID records the ID S3 gave the upload recorded as token.
func (s *Store) SetUploadID(ctx context.Context, token, uploadID string) error {
	err := s.write(ctx, func(r runner) error {
		_, err := r.exec(ctx, `UPDATE uploads SET upload_id = ? WHERE token = ?`, uploadID, token)
		return err
	})
	return wrapInternal(err, "record upload %s", token)
}

// RemoveUpload forgets a multipart upload that was completed or aborted.
func (s *Store) RemoveUpload(ctx context.Context, token string) error {
	err := s.write(ctx, func(r runner) error {
		_, err := r.exec(ctx, `DELETE FROM uploads WHERE token = ?`, token)
		return err
	})
	return wrapInternal(err, "forget upload %s", token)
}

// UploadRecorded reports whether a process recorded the multipart upload uploadID.
func (s *Store) UploadRecorded(ctx context.Context, uploadID string) (bool, error) {
	var n int
	err := s.read(ctx, func(r runner) error {
		return r.queryRow(ctx, `SELECT COUNT(*) FROM uploads WHERE upload_id = ?`, uploadID).Scan(&n)
	})
	return n > 0, wrapInternal(err, "look up upload %s", uploadID)
}

// OrphanUploads returns the uploads of processes last seen before deadAfter, or never recorded,
// other than instance (the caller, alive): they died with the uploads in progress. It also forgets
// those processes that have no upload left.
func (s *Store) OrphanUploads(ctx context.Context, instance string, deadAfter time.Time) ([]Upload, error) {
	var out []Upload
	cut := formatTime(deadAfter)
	err := s.write(ctx, func(r runner) error {
		if _, err := r.exec(ctx, `DELETE FROM nodes WHERE seen_at < ? AND instance <> ?
			AND NOT EXISTS (SELECT 1 FROM uploads WHERE uploads.instance = nodes.instance)`, cut, instance); err != nil {
			return err
		}
		rows, err := r.query(ctx, `SELECT u.token, u.upload_id, u.bucket, u.object_key, u.instance, u.started_at FROM uploads u
			LEFT JOIN nodes n ON n.instance = u.instance
			WHERE u.instance <> ? AND (n.instance IS NULL OR n.seen_at < ?) ORDER BY u.started_at`, instance, cut)
		if err != nil {
			return err
		}
		for rows.Next() {
			var u Upload
			var started string
			if err := rows.Scan(&u.Token, &u.UploadID, &u.Bucket, &u.Key, &u.Instance, &started); err != nil {
				rows.Close()
				return err
			}
			if u.StartedAt, err = parseTime(started); err != nil {
				rows.Close()
				return err
			}
			out = append(out, u)
		}
		return errors.Join(rows.Err(), rows.Close())
	})
	return out, wrapInternal(err, "list the uploads of dead nodes")
}
