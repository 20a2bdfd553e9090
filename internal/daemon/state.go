package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/transferd/transferd/internal/metastore"
	"github.com/transferd/transferd/internal/transfer"
)

// State names the state store and how to open it.
type State struct {
	// URL is a postgres:// URL, or "" for DataDir/state.db (SQLite).
	URL string
	// Key, when set, encrypts host private keys in the store (metastore.Options.StateKey).
	Key []byte
}

// open opens the state store. create says whether a missing SQLite file may be created.
func (st State) open(ctx context.Context, dataDir string, acct transfer.Account, create bool) (*metastore.Store, error) {
	opts := metastore.Options{Account: acct, StateKey: st.Key}
	if st.URL != "" {
		if !metastore.IsPostgresURL(st.URL) {
			return nil, fmt.Errorf("state store %q: give a postgres:// URL, or nothing for %s", metastore.RedactURL(st.URL), filepath.Join(dataDir, "state.db"))
		}
		return metastore.OpenPostgres(ctx, st.URL, opts)
	}
	path := filepath.Join(dataDir, "state.db")
	if !create {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("no state store in %s (run transferd serve with this --data-dir first): %w", dataDir, err)
		}
	}
	s, err := metastore.OpenSQLite(ctx, path, opts)
	if err != nil {
		return nil, fmt.Errorf("opening the state store in %s: %w", dataDir, err)
	}
	return s, nil
}

// NewState checks what the command line and environment say of the state store: url (a
// postgres:// URL, or "" for DATA_DIR/state.db) and the state key, from keyFile or else keyText
// (each may be ""). keyFlag and keyEnv name where they came from, for errors.
func NewState(url, keyFile, keyFlag, keyText, keyEnv string) (State, error) {
	st := State{URL: url}
	if url != "" && !metastore.IsPostgresURL(url) {
		return st, fmt.Errorf("--state %q: give a postgres:// or postgresql:// URL, or nothing for DIR/state.db", metastore.RedactURL(url))
	}
	switch {
	case keyFile != "":
		k, err := readStateKey(keyFile)
		if err != nil {
			return st, fmt.Errorf("%s: %w", keyFlag, err)
		}
		st.Key = k
	case keyText != "":
		k, err := metastore.ParseStateKey([]byte(keyText))
		if err != nil {
			return st, fmt.Errorf("%s: %w", keyEnv, err)
		}
		st.Key = k
	}
	return st, nil
}

// readStateKey reads a state key from a file that only its owner may read, as ssh insists of
// private keys.
func readStateKey(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("state key file: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("state key file %s can be read by others (mode %04o): chmod 600 %s", path, perm, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("state key file: %w", err)
	}
	k, err := metastore.ParseStateKey(b)
	if err != nil {
		return nil, fmt.Errorf("state key file %s: %w", path, err)
	}
	return k, nil
}

// BackupState writes a consistent copy of the SQLite state store in dataDir to out.
func BackupState(ctx context.Context, dataDir, out string) error {
	return metastore.BackupSQLite(ctx, filepath.Join(dataDir, "state.db"), out)
}
