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
	// Server is the server's script, when Start started it: it can Pause and Resume it.
	*testsrv.Server
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
	srv = Server{Endpoint: ts.Vars[EnvEndpoint], AccessKey: ts.Vars[EnvAccessKey], SecretKey: ts.Vars[EnvSecretKey], Server: ts}
	if srv.Endpoint == "" {
		ts.Stop()
		return Server{}, nil, fmt.Errorf("scripts/s3server.sh env exported no %s", EnvEndpoint)
	}
	return srv, ts.Stop, nil
}
