package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/transferd/transferd/internal/daemon"
)

// backup copies the state store while transferd serves.
func backup(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", "", "the data directory of transferd serve (required)")
	out := fs.String("out", "", "the file to write the copy to; it must not exist (required)")
	readState := stateFlags(fs, "backup")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: transferd backup --data-dir DIR --out FILE

Writes a consistent copy of the state store (DIR/state.db: servers, users, keys, host private keys
and tags) to FILE, mode 0600, while transferd serves (SQLite's VACUUM INTO reads one snapshot).
To restore: stop transferd, put the copy in place as DIR/state.db, start it. A state store in
PostgreSQL (--state) is backed up with PostgreSQL's own tools (pg_dump); see docs/OPERATIONS.md.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *dataDir == "" || *out == "" {
		return errors.New("backup: --data-dir and --out are required")
	}
	state, err := readState()
	if err != nil {
		return err
	}
	if state.URL != "" {
		return errors.New("backup: the state store is in PostgreSQL: back it up with pg_dump (pg_dump --format=custom --file=FILE DATABASE-URL), as docs/OPERATIONS.md says")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := daemon.BackupState(ctx, *dataDir, *out); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Fprintf(stdout, "backed up %s to %s\n", filepath.Join(*dataDir, "state.db"), *out)
	return nil
}
