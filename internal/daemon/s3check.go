package daemon

import (
	"context"
	"slices"
	"time"

	"github.com/transferd/transferd/internal/transfer"
)

// s3CheckLimit bounds the S3 check at start and reload, which runs beside the servers.
const s3CheckLimit = 30 * time.Second

// checkS3 checks, in the background, that the S3 storage answers and takes the credentials, and
// that every bucket the users of S3-domain servers name exists; each problem is one warning in the
// operational log. Nothing waits for it (S3 may come up after transferd), and Shutdown ends it.
func (d *Daemon) checkS3(ctx context.Context) {
	st := d.s3store
	if st == nil {
		return
	}
	users := d.bucketUsers(ctx)
	buckets := make([]string, 0, len(users))
	for b := range users {
		buckets = append(buckets, b)
	}
	slices.Sort(buckets)
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		ctx, cancel := context.WithTimeout(d.background, s3CheckLimit)
		defer cancel()
		problems := st.Check(ctx, buckets)
		for _, p := range problems {
			if p.Bucket != "" {
				d.log.Warn(p.Message, "bucket", p.Bucket, "users", users[p.Bucket])
			} else {
				d.log.Warn(p.Message)
			}
		}
		if len(problems) == 0 {
			d.log.Info("S3 storage answers and has every bucket users name", "buckets", len(buckets))
		}
	}()
}

// bucketUsers maps each bucket named by a user of a server on S3 storage to those users
// (SERVER-ID/USER, at most a few per bucket). Custom identity providers' users are not known
// before they log in.
func (d *Daemon) bucketUsers(ctx context.Context) map[string][]string {
	const perBucket = 5
	out := map[string][]string{}
	servers, err := d.control.AllServers(ctx)
	if err != nil {
		d.log.Warn("S3 check: listing servers failed", "err", err)
		return out
	}
	for _, s := range servers {
		if !d.onS3(&s) || s.IdentityProviderType != transfer.IdentityServiceManaged {
			continue
		}
		users, err := d.store.ListUsers(ctx, s.ServerID, "", 0) // all of them
		if err != nil {
			d.log.Warn("S3 check: listing users failed", "server-id", s.ServerID, "err", err)
			continue
		}
		for _, u := range users {
			for _, b := range u.Buckets() {
				if len(out[b]) < perBucket {
					out[b] = append(out[b], s.ServerID+"/"+u.UserName)
				}
			}
		}
	}
	return out
}
