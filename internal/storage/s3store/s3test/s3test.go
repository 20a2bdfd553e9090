// Package s3test gives tests an S3 server: the one named by TRANSFERD_TEST_S3_ENDPOINT,
// TRANSFERD_TEST_S3_ACCESS_KEY and TRANSFERD_TEST_S3_SECRET_KEY, or a versitygw that
// scripts/s3server.sh installs (the first time, into a cache outside the module) and starts on
// loopback.
package s3test

import (
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/transferd/transferd/internal/testsrv"
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
	// script is the server's, when Start started it.
	script *testsrv.Server
}

// Pause stops a server Start started, keeping its data, as if S3 went away; Resume starts it
// again on the same port.
func (s Server) Pause() error { return s.scriptRun("pause") }

// Resume starts a paused server again.
func (s Server) Resume() error { return s.scriptRun("resume") }

func (s Server) scriptRun(arg string) error {
	if s.script == nil {
		return fmt.Errorf("s3test: %s is not a server the tests started", s.Endpoint)
	}
	return s.script.Run(arg)
}

// FromEnv returns the server the environment names, if it names one.
func FromEnv() (Server, bool) {
	s := Server{Endpoint: os.Getenv(EnvEndpoint), AccessKey: os.Getenv(EnvAccessKey), SecretKey: os.Getenv(EnvSecretKey)}
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
	ts, err := testsrv.Start("s3server.sh", "TRANSFERD_S3_STATE")
	if err != nil {
		return Server{}, nil, err
	}
	srv = Server{Endpoint: ts.Vars[EnvEndpoint], AccessKey: ts.Vars[EnvAccessKey], SecretKey: ts.Vars[EnvSecretKey], script: ts}
	if srv.Endpoint == "" {
		ts.Stop()
		return Server{}, nil, fmt.Errorf("scripts/s3server.sh env exported no %s", EnvEndpoint)
	}
	return srv, ts.Stop, nil
}
