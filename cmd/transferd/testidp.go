package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/transferd/transferd/internal/daemon"
)

// errNotAuthenticated is test-idp's exit status 1 when the provider does not let the user in; the
// result is printed already.
var errNotAuthenticated = errors.New("not authenticated")

// testIdP asks a server's custom identity provider one question, as a login would.
func testIdP(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("test-idp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", "", "the data directory of transferd serve (required)")
	configPath := fs.String("config", "", "the config file of transferd serve (required): its IdentityProviders say how providers are called")
	serverID := fs.String("server-id", "", "the server whose identity provider is asked (required)")
	userName := fs.String("user-name", "", "the user name a login would give (required)")
	passwordStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input: a password login")
	publicKey := fs.String("public-key", "", "an authorized_keys file (e.g. ~/.ssh/id_ed25519.pub): a key login with its first key")
	sourceIP := fs.String("source-ip", "127.0.0.1", "the client address the provider is told")
	protocol := fs.String("protocol", "SFTP", "the protocol the provider is told")
	timeout := fs.Duration("timeout", time.Minute, "give up after this long")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	readState := stateFlags(fs, "test-idp")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: transferd test-idp --data-dir DIR --config FILE --server-id ID --user-name NAME
                          [--password-stdin | --public-key FILE] [--source-ip IP] [--json]
                          [--state URL] [--state-key-file FILE]

Asks the custom identity provider (API_GATEWAY or AWS_LAMBDA) of a server one question, with the
settings transferd serve would use, and prints what it answered and what transferd makes of it:
the session it describes (role, home directory, session policy, POSIX profile, key fingerprints)
or why a login would fail (refused, unreachable, bad response). Without --password-stdin it asks
as a key login does; --public-key also checks that the answer lists that key. The password is
read from standard input so that it stays out of the shell's history and the process list; it is
sent to the provider only. Exit status 0 when the login would succeed, 1 otherwise.
The management API's TestIdentityProvider (aws transfer test-identity-provider) asks a running
transferd the same, for passwords.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("test-idp: unexpected argument %q", fs.Arg(0))
	}
	if *dataDir == "" || *configPath == "" || *serverID == "" || *userName == "" {
		return errors.New("test-idp: --data-dir, --config, --server-id and --user-name are required")
	}
	state, err := readState()
	if err != nil {
		return err
	}
	q := daemon.IdPTest{DataDir: *dataDir, State: state, ConfigPath: *configPath, ServerID: *serverID, UserName: *userName,
		SourceIP: *sourceIP, Protocol: *protocol}
	if *passwordStdin {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("test-idp: reading the password: %w", err)
		}
		q.Password, q.HasPassword = strings.TrimRight(line, "\r\n"), true
	}
	if *publicKey != "" {
		b, err := os.ReadFile(*publicKey)
		if err != nil {
			return fmt.Errorf("test-idp: --public-key: %w", err)
		}
		line, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
		q.PublicKey = line
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	res, err := daemon.TestIdP(ctx, q, nil)
	if err != nil {
		return fmt.Errorf("test-idp: %w", err)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return err
		}
	} else {
		printIdPTest(stdout, res)
	}
	if res.Outcome != daemon.OutcomeAuthenticated {
		return errNotAuthenticated
	}
	return nil
}

func printIdPTest(w io.Writer, r *daemon.IdPTestResult) {
	fmt.Fprintf(w, "Outcome:     %s\nMessage:     %s\nURL:         %s\nStatusCode:  %d\nLatency:     %.1f ms\n",
		r.Outcome, r.Message, r.URL, r.StatusCode, r.LatencyMs)
	if r.Response != "" {
		fmt.Fprintf(w, "Response:    %s\n", strings.TrimSpace(r.Response))
	}
	if u := r.User; u != nil {
		fmt.Fprintf(w, "Role:        %s\nHome:        %s", u.Role, u.HomeDirectoryType)
		if u.HomeDirectory != "" {
			fmt.Fprintf(w, " %s", u.HomeDirectory)
		}
		for _, m := range u.HomeDirectoryMappings {
			fmt.Fprintf(w, "\n             %s -> %s (%s)", m.Entry, m.Target, m.Type)
		}
		fmt.Fprintln(w)
		if u.Policy != "" {
			fmt.Fprintf(w, "Policy:      %s\n", u.Policy)
		}
		if p := u.PosixProfile; p != nil {
			fmt.Fprintf(w, "PosixProfile: uid %d gid %d groups %v\n", p.UID, p.GID, p.SecondaryGIDs)
		}
		for _, fp := range u.PublicKeys {
			fmt.Fprintf(w, "PublicKey:   %s\n", fp)
		}
	}
}
