package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/transferd/transferd/internal/metastore"
	"github.com/transferd/transferd/internal/transfer"
)

// Several transferd processes (nodes) may share one PostgreSQL state store behind a TCP load
// balancer. Each runs every server that should be online, on the same port (at --listen-host when
// set) with the same host keys, and reads users from the store at each login. A change made
// through one node's API is applied there and published (PostgreSQL NOTIFY); the others, which
// Watch, sync the server it names. Each node also reads every server again every ResyncInterval
// and whenever its notice connection comes back, so that a lost notice costs at most that long.

// newInstance returns an identifier of this process for its change notices: the node name and a
// random part (two nodes may be given one name).
func newInstance(node string) string {
	var b [6]byte
	rand.Read(b[:])
	return strings.ReplaceAll(node, " ", "_") + "/" + hex.EncodeToString(b[:])
}

// publish tells the other nodes that a server changed.
func (d *Daemon) publish(ctx context.Context, serverID string) {
	if !d.store.Shared() {
		return
	}
	if err := d.store.Publish(ctx, d.instance+" "+serverID); err != nil {
		d.log.Warn("other nodes were not told of a change; they will see it at their next resync", "server-id", serverID, "err", err)
	}
}

// watchChanges syncs the servers other nodes change, and every server every ResyncInterval and
// when the notices come back after a loss, until Shutdown.
func (d *Daemon) watchChanges() {
	if !d.store.Shared() {
		return
	}
	ctx := d.background
	d.wg.Go(func() {
		down := false
		d.store.Watch(ctx, time.Second, func() {
			if down {
				d.log.Info("the state store's change notices are back; reading every server again")
			}
			down = false
			d.resync(ctx) // what changed before (or while) the notices were not heard
		}, func(err error) {
			if !down {
				d.log.Warn("lost the state store's change notices; other nodes' changes reach this one at the next resync, until they are back", "err", err)
			}
			down = true
		}, func(payload string) {
			from, serverID, ok := strings.Cut(payload, " ")
			if ok && from != d.instance {
				d.syncChanged(ctx, serverID)
			}
		})
	})
	d.wg.Go(func() {
		t := time.NewTicker(d.opts.ResyncInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				d.resync(ctx)
			}
		}
	})
}

// resync makes the running servers match the state store. Unlike syncAll at start and SIGHUP, it
// does not try START_FAILED servers again (StartServer does), and it logs what fails.
func (d *Daemon) resync(ctx context.Context) {
	if !d.started.Load() || d.applying.Load() {
		return
	}
	if err := d.syncAllServers(ctx, false); err != nil {
		if ctx.Err() == nil {
			d.log.Warn("reading every server again failed; the running servers are kept as they are", "err", err)
		}
	}
}

// ParseNetworks reads a comma-separated list of networks (CIDR) and addresses, as
// --proxy-protocol-from takes them.
func ParseNetworks(list string) ([]netip.Prefix, error) {
	var nets []netip.Prefix
	for item := range strings.SplitSeq(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		n, err := transfer.ParseNetwork(item)
		if err != nil {
			return nil, fmt.Errorf("%q is not a network (10.0.0.0/8) or an address (192.0.2.7)", item)
		}
		nets = append(nets, n)
	}
	return nets, nil
}

// listenAddr is the address a server with endpoint listens on: the endpoint itself, or its port
// at ListenHost.
func (d *Daemon) listenAddr(endpoint string) string {
	if d.opts.ListenHost == "" {
		return endpoint
	}
	_, port, err := net.SplitHostPort(endpoint)
	if err != nil {
		return endpoint // Listen says what is wrong with it
	}
	return net.JoinHostPort(d.opts.ListenHost, port)
}

// uploadRegistry records this process's multipart uploads in the state store.
type uploadRegistry struct{ d *Daemon }

func (u uploadRegistry) Starting(ctx context.Context, bucket, key string) (string, error) {
	var b [12]byte
	rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	return token, u.d.store.AddUpload(ctx, metastore.Upload{Token: token, Bucket: bucket, Key: key, Instance: u.d.instance})
}

func (u uploadRegistry) Started(ctx context.Context, token, uploadID string) {
	if err := u.d.store.SetUploadID(ctx, token, uploadID); err != nil {
		u.d.log.Warn("a multipart upload's ID could not be recorded in the state store", "upload-id", uploadID, "err", err)
	}
}

func (u uploadRegistry) Ended(ctx context.Context, token string) {
	if err := u.d.store.RemoveUpload(ctx, token); err != nil {
		u.d.log.Warn("an ended multipart upload could not be forgotten in the state store", "token", token, "err", err)
	}
}

// heartbeat records this process as alive every NodeTimeout/4 (at most every 5 s), so that the
// other nodes leave its workflow executions to it, and aborts the multipart uploads of processes
// unheard of for NodeTimeout: a node that died (or a previous run of this one that was killed)
// leaves no upload behind for longer than about that.
func (d *Daemon) heartbeat() {
	every := min(5*time.Second, d.opts.NodeTimeout/4)
	ctx := d.background
	d.wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		failing := false // logged once until it works again
		for {
			err := d.store.NodeSeen(ctx, d.instance, d.opts.NodeName)
			switch {
			case err != nil && !failing && ctx.Err() == nil:
				d.log.Warn("could not record this node as alive in the state store; after --node-timeout the other nodes count it dead and abort its multipart uploads", "err", err)
				failing = true
			case err == nil && failing:
				d.log.Info("this node is recorded as alive in the state store again")
				failing = false
			}
			if !failing && d.s3store != nil {
				d.abortOrphans(ctx)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
}

// abortOrphans aborts the multipart uploads that dead processes left. One that died before S3
// gave its upload an ID is found by its key: the uploads of that key initiated since (a minute of
// clock difference allowed) that no process recorded.
func (d *Daemon) abortOrphans(ctx context.Context) {
	ups, err := d.store.OrphanUploads(ctx, d.instance, time.Now().Add(-d.opts.NodeTimeout))
	if err != nil {
		if ctx.Err() == nil {
			d.log.Warn("could not read the multipart uploads of dead nodes", "err", err)
		}
		return
	}
	for _, u := range ups {
		ids := []string{u.UploadID}
		if u.UploadID == "" {
			if ids, err = d.unrecordedUploads(ctx, u); err != nil {
				d.log.Warn("could not list the multipart uploads a dead node may have left; trying again later", "node", u.Instance, "bucket", u.Bucket, "key", u.Key, "err", err)
				continue
			}
		}
		done := true
		for _, id := range ids {
			if err := d.s3store.AbortUpload(ctx, u.Bucket, u.Key, id); err != nil {
				d.log.Warn("could not abort a multipart upload a dead node left; trying again later", "node", u.Instance, "bucket", u.Bucket, "key", u.Key, "upload-id", id, "err", err)
				done = false
				continue
			}
			d.log.Info("aborted a multipart upload a dead node left", "node", u.Instance, "bucket", u.Bucket, "key", u.Key, "upload-id", id, "started", u.StartedAt)
		}
		if done {
			if err := d.store.RemoveUpload(ctx, u.Token); err != nil {
				d.log.Warn("an aborted multipart upload could not be forgotten in the state store", "token", u.Token, "err", err)
			}
		}
	}
}

// unrecordedUploads returns the uploads of u's key that S3 has, initiated since u was recorded,
// and that no process recorded.
func (d *Daemon) unrecordedUploads(ctx context.Context, u metastore.Upload) ([]string, error) {
	all, err := d.s3store.UploadsOf(ctx, u.Bucket, u.Key, u.StartedAt.Add(-time.Minute))
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, id := range all {
		known, err := d.store.UploadRecorded(ctx, id)
		if err != nil {
			return nil, err
		}
		if !known {
			ids = append(ids, id)
		}
	}
	return ids, nil
}
