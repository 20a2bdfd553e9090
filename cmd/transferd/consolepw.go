package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/term"

	"github.com/transferd/transferd/internal/console"
)

// consolePassword sets or removes a console user's password.
func consolePassword(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("console-password", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", "", "the data directory of transferd serve (required)")
	remove := fs.Bool("delete", false, "remove the user's password instead: it can no longer sign in, and its sessions end")
	fs.Usage = func() {
		fmt.Fprintf(stderr, `Usage: transferd console-password --data-dir DIR [--delete] NAME

Sets the password with which console user NAME signs in to the web console (serve's
--console-listen), as the management API's access key pair also can. The password is read twice
from the terminal, or as the first line of standard input when that is not a terminal; it must be
%d to %d bytes long. Its bcrypt hash goes to DIR/%s (mode 0600, one NAME:HASH line per user). The
console reads the file at each sign-in: no restart is needed, and a changed or removed password
ends that user's console sessions. Flags:
`, console.MinPasswordLength, console.MaxPasswordLength, console.PasswordFileName)
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if *dataDir == "" || len(pos) != 1 {
		return errors.New("console-password: give --data-dir DIR and one console user NAME (try: transferd console-password --data-dir ./transferd-data admin)")
	}
	name := pos[0]
	if err := console.CheckUserName(name); err != nil {
		return fmt.Errorf("console-password: %w", err)
	}
	file := filepath.Join(*dataDir, console.PasswordFileName)
	if *remove {
		found, err := console.DeletePassword(file, name)
		if err != nil {
			return fmt.Errorf("console-password: %w", err)
		}
		if !found {
			return fmt.Errorf("console-password: console user %q has no password in %s", name, file)
		}
		_, err = fmt.Fprintf(stdout, "Console user %s can no longer sign in; its console sessions end at their next request.\n", name)
		return err
	}
	password, err := readNewPassword(stdin, stderr, name)
	if err != nil {
		return fmt.Errorf("console-password: %w", err)
	}
	if err := console.SetPassword(file, name, password); err != nil {
		return fmt.Errorf("console-password: %w", err)
	}
	_, err = fmt.Fprintf(stdout, "Console user %s has a new password (in %s); it signs in at once, and its older console sessions end.\n", name, file)
	return err
}

// readNewPassword reads a password twice from a terminal, or once from the first line of stdin.
func readNewPassword(stdin io.Reader, stderr io.Writer, name string) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(stderr, "New password for console user %s: ", name)
		first, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		fmt.Fprint(stderr, "Again: ")
		again, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		if string(first) != string(again) {
			return "", errors.New("the two passwords differ; nothing was changed")
		}
		return string(first), nil
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", errors.New("no password on standard input (give it as the first line)")
	}
	return strings.TrimRight(line, "\r\n"), nil
}
