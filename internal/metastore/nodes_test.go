package metastore

import (
	"strings"
	"testing"
	"time"
)

// TestOrphanUploads checks that the uploads of a process not heard of since the cut-off are
// returned (and only those, never the caller's), that ended uploads are forgotten, and that dead
// processes with nothing left are forgotten.
func TestOrphanUploads(t *testing.T) {
	t.Parallel()
	backends(t, testOrphanUploads)
}

func testOrphanUploads(t *testing.T, open func(t *testing.T) *Store) {
	s := open(t)
	ctx := t.Context()
	clock := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return clock }
	for _, n := range []string{"alive/1", "dead/2", "me/3"} {
		if err := s.NodeSeen(ctx, n, n); err != nil {
			t.Fatal(err)
		}
	}
	for i, u := range []Upload{
		{Token: "t1", Bucket: "b", Key: "k1", Instance: "alive/1"},
		{Token: "t2", Bucket: "b", Key: "k2", Instance: "dead/2"},
		{Token: "t3", Bucket: "b", Key: "k3", Instance: "me/3"},
		{Token: "t4", Bucket: "b", Key: "k4", Instance: "unrecorded/4"},
		{Token: "t5", Bucket: "b", Key: "k5", Instance: "dead/2"},
	} {
		u.StartedAt = clock.Add(time.Duration(i) * time.Second)
		if err := s.AddUpload(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RemoveUpload(ctx, "t5"); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{"t1", "t2"} { // t4's process died before S3 gave an ID
		if err := s.SetUploadID(ctx, tok, "u"+tok[1:]); err != nil {
			t.Fatal(err)
		}
	}
	if ok, err := s.UploadRecorded(ctx, "u1"); err != nil || !ok {
		t.Errorf("UploadRecorded(u1) = %v, %v; want true", ok, err)
	}
	if ok, err := s.UploadRecorded(ctx, "u9"); err != nil || ok {
		t.Errorf("UploadRecorded(u9) = %v, %v; want false", ok, err)
	}
	clock = clock.Add(time.Minute)
	if err := s.NodeSeen(ctx, "alive/1", "alive/1"); err != nil {
		t.Fatal(err)
	}
	got, err := s.OrphanUploads(ctx, "me/3", clock.Add(-30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, u := range got {
		ids = append(ids, u.Token+":"+u.UploadID+"@"+u.Instance)
	}
	if want := "t2:u2@dead/2 t4:@unrecorded/4"; strings.Join(ids, " ") != want {
		t.Errorf("orphans: %q, want %q (not the live node's, not the caller's, not an ended one)", ids, want)
	}
	for _, u := range got {
		if err := s.RemoveUpload(ctx, u.Token); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.OrphanUploads(ctx, "me/3", clock.Add(-30*time.Second)); err != nil {
		t.Fatal(err)
	}
	var nodes int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM nodes WHERE instance = 'dead/2'`).Scan(&nodes); err != nil {
		t.Fatal(err)
	}
	if nodes != 0 {
		t.Error("a dead node with no upload left is still recorded")
	}
	if err := s.NodeGone(ctx, "me/3"); err != nil {
		t.Fatal(err)
	}
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM nodes WHERE instance = 'me/3'`).Scan(&nodes); err != nil || nodes != 1 {
		t.Errorf("NodeGone of a node with an upload in progress: %d rows, %v; want it kept for the others to clean up", nodes, err)
	}
}
