package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/transferd/transferd/internal/daemon"
)

// Environment variables that may hold what the state flags would, so that a database password
// or a key need not be on the command line (where any user sees it in the process list).
const (
	envState    = "TRANSFERD_STATE"
	envStateKey = "TRANSFERD_STATE_KEY"
)

// stateFlags adds --state and --state-key-file to fs; the function it returns reads them, or
// their environment variables, once fs is parsed.
func stateFlags(fs *flag.FlagSet, cmd string) func() (daemon.State, error) {
	state := fs.String("state", "", "the state store: a postgres:// URL (several transferd processes may share one database), or empty for DIR/state.db (SQLite); default $"+envState)
	keyFile := fs.String("state-key-file", "", "a file (mode 0600) holding the state key: 32 bytes as 64 hex digits or base64 (openssl rand -hex 32) that encrypt host private keys in the state store; default: the key in $"+envStateKey+", if set")
	return func() (daemon.State, error) {
		url := *state
		if url == "" {
			url = os.Getenv(envState)
		}
		st, err := daemon.NewState(url, *keyFile, "--state-key-file", os.Getenv(envStateKey), "$"+envStateKey)
		if err != nil {
			return st, fmt.Errorf("%s: %w", cmd, err)
		}
		return st, nil
	}
}
