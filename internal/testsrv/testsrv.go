// Package testsrv starts the servers the tests need (an S3 server, PostgreSQL) with the scripts
// under scripts/ that install and run them outside the repository: each script takes start, env
// and stop, keeps its state in the directory an environment variable names, and its env prints
// one "export NAME=VALUE ..." line.
package testsrv

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Server is a server a script started.
type Server struct {
	// Vars is what the script's env exports.
	Vars map[string]string
	run  func(arg string) ([]byte, error)
	stop func()
}

// Run runs the script with another command for the server (e.g. pause).
func (s *Server) Run(arg string) error {
	_, err := s.run(arg)
	return err
}

// Stop stops the server and removes its state.
func (s *Server) Stop() { s.stop() }

// Pause stops the server as if it went away, keeping its data; Resume starts it again on the
// same port. A nil Server (one the tests did not start) cannot be paused.
func (s *Server) Pause() error { return s.control("pause") }

// Resume starts a paused server again.
func (s *Server) Resume() error { return s.control("resume") }

func (s *Server) control(arg string) error {
	if s == nil {
		return fmt.Errorf("testsrv: not a server the tests started: it cannot be told to %s", arg)
	}
	return s.Run(arg)
}

// Start runs scripts/SCRIPT start with stateVar naming a new state directory and returns the
// server, with what its env exports.
func Start(script, stateVar string) (*Server, error) {
	vars, stop, run, err := start(script, stateVar)
	if err != nil {
		return nil, err
	}
	return &Server{Vars: vars, run: run, stop: stop}, nil
}

func start(script, stateVar string) (vars map[string]string, stop func(), run func(string) ([]byte, error), err error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		return nil, nil, nil, fmt.Errorf("finding the module root with go env GOMOD: %q, %v", out, err)
	}
	path := filepath.Join(filepath.Dir(gomod), "scripts", script)
	state, err := os.MkdirTemp("", "transferd-"+strings.TrimSuffix(script, ".sh")+"-state-")
	if err != nil {
		return nil, nil, nil, err
	}
	run = func(arg string) ([]byte, error) {
		cmd := exec.Command("bash", path, arg)
		cmd.Env = append(os.Environ(), stateVar+"="+state)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w\n%s", path, arg, err, stderr.Bytes())
		}
		return out, nil
	}
	stop = func() {
		if _, err := run("stop"); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
		os.RemoveAll(state)
	}
	if _, err := run("start"); err != nil {
		os.RemoveAll(state)
		return nil, nil, nil, err
	}
	out, err = run("env")
	if err != nil {
		stop()
		return nil, nil, nil, err
	}
	line, ok := strings.CutPrefix(strings.TrimSpace(string(out)), "export ")
	if !ok {
		stop()
		return nil, nil, nil, fmt.Errorf("%s env printed %q", path, out)
	}
	vars = map[string]string{}
	for kv := range strings.FieldsSeq(line) {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	return vars, stop, run, nil
}
