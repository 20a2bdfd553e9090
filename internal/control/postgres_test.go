package control

import (
	"context"
	"os"
	"sync"
	"testing"

	"github.com/transferd/transferd/internal/metastore"
	"github.com/transferd/transferd/internal/metastore/pgtest"
	"github.com/transferd/transferd/internal/transfer"
)

// TestMain gives the tests a PostgreSQL server: TRANSFERD_TEST_POSTGRES's, or a private cluster
// (scripts/pgserver.sh).
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// TestNodesShareChecks has two Services, each with its own connections to one PostgreSQL
// database, as two transferd nodes have, delete the two host keys of a server at the same time,
// many times over: the check that a server keeps a host key must hold across them, so one delete
// of each pair is refused, and the server always keeps one key.
func TestNodesShareChecks(t *testing.T) {
	t.Parallel()
	db := pgtest.Shared(t).NewDatabase(t)
	open := func(opts metastore.Options) (*metastore.Store, error) {
		return metastore.OpenPostgres(context.Background(), db, opts)
	}
	a, b := newFixtureOn(t, open), newFixtureOn(t, open)
	ctx := a.ctx
	for round := range 15 {
		id := a.server(t)
		_, err := a.svc.ImportHostKey(ctx, id, privatePEM(t, ed25519Key(t)), "", nil)
		if err != nil {
			t.Fatal(err)
		}
		keys, err := a.store.ListHostKeys(ctx, id)
		if err != nil || len(keys) != 2 {
			t.Fatalf("round %d: %d host keys, %v; want 2", round, len(keys), err)
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, f := range []*fixture{a, b} {
			wg.Go(func() { errs[i] = f.svc.DeleteHostKey(ctx, id, keys[i].HostKeyID) })
		}
		wg.Wait()
		left, err := b.store.ListHostKeys(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		refused := 0
		for _, err := range errs {
			if transfer.KindOf(err) == transfer.KindInvalid {
				refused++
			} else if err != nil {
				t.Errorf("round %d: %v", round, err)
			}
		}
		if len(left) != 1 || refused != 1 {
			t.Fatalf("round %d: after two nodes deleted the two host keys at once, %d left and %d deletes refused; want 1 and 1 (%v)",
				round, len(left), refused, errs)
		}
	}
}
