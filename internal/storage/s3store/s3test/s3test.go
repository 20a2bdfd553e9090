// Package s3test gives tests an S3 server: the one named by TRANSFERD_TEST_S3_ENDPOINT,
// TRANSFERD_TEST_S3_ACCESS_KEY and TRANSFERD_TEST_S3_SECRET_KEY, or a versitygw that
// scripts/s3server.sh installs (the first time, into a cache outside the module) and starts on
// loopback.
package s3test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// The environment variables that name an S3 server for the tests.
const (
	EnvEndpoint  = "TRANSFERD_TEST_S3_ENDPOINT"
	EnvAccessKey = "TRANSFERD_TEST_S3_ACCESS_KEY"
	EnvSecretKey = "TRANSFERD_TEST_S3_SECRET_KEY"
)

// Server is an S3 server the tests may use.
type Server struct {
	Endpoint, AccessKey, SecretKey string
}

// FromEnv returns the server the environment names, if it names one.
func FromEnv() (Server, bool) {
	s := Server{os.Getenv(EnvEndpoint), os.Getenv(EnvAccessKey), os.Getenv(EnvSecretKey)}
	return s, s.Endpoint != ""
}

// Client returns a plain SDK client for s, path-style, in us-east-1.
func (s Server) Client() *s3.Client {
	return s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(s.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
	})
}

// Start starts versitygw with scripts/s3server.sh in a state directory of its own; stop stops it
// and removes its data.
func Start() (srv Server, stop func(), err error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		return Server{}, nil, fmt.Errorf("finding the module root with go env GOMOD: %q, %v", out, err)
	}
	script := filepath.Join(filepath.Dir(gomod), "scripts", "s3server.sh")
	state, err := os.MkdirTemp("", "transferd-s3state-")
	if err != nil {
		return Server{}, nil, err
	}
	run := func(arg string) ([]byte, error) {
		cmd := exec.Command("bash", script, arg)
		cmd.Env = append(os.Environ(), "TRANSFERD_S3_STATE="+state)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w\n%s", script, arg, err, stderr.Bytes())
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
		return Server{}, nil, err
	}
	out, err = run("env")
	if err != nil {
		stop()
		return Server{}, nil, err
	}
	line, ok := strings.CutPrefix(strings.TrimSpace(string(out)), "export ")
	if !ok {
		stop()
		return Server{}, nil, fmt.Errorf("%s env printed %q", script, out)
	}
	vars := map[string]string{}
	for kv := range strings.FieldsSeq(line) {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	srv = Server{vars[EnvEndpoint], vars[EnvAccessKey], vars[EnvSecretKey]}
	if srv.Endpoint == "" {
		stop()
		return Server{}, nil, fmt.Errorf("%s env printed no %s: %q", script, EnvEndpoint, out)
	}
	return srv, stop, nil
}
