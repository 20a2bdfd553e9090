package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/transferd/transferd/internal/mgmtapi"
)

// Environment variables that set the management API's access key instead of the generated one.
const (
	EnvAccessKeyID     = "TRANSFERD_ACCESS_KEY_ID"
	EnvSecretAccessKey = "TRANSFERD_SECRET_ACCESS_KEY"
)

// credentialsFile is where the generated admin key pair is kept, mode 0600.
const credentialsFile = "credentials.json"

type credentialsJSON struct {
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
}

// Credentials returns the management API's admin key pair: the one set in the environment
// (TRANSFERD_ACCESS_KEY_ID and TRANSFERD_SECRET_ACCESS_KEY, both or neither), else the one kept in
// DATA_DIR/credentials.json, created on first use.
func Credentials(dataDir string, getenv func(string) string) (mgmtapi.Credentials, error) {
	id, secret := getenv(EnvAccessKeyID), getenv(EnvSecretAccessKey)
	switch {
	case id != "" && secret != "":
		return mgmtapi.Credentials{AccessKeyID: id, SecretAccessKey: secret}, nil
	case id != "" || secret != "":
		return mgmtapi.Credentials{}, fmt.Errorf("set both %s and %s, or neither", EnvAccessKeyID, EnvSecretAccessKey)
	}
	path := filepath.Join(dataDir, credentialsFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return createCredentials(dataDir, path)
	}
	if err != nil {
		return mgmtapi.Credentials{}, fmt.Errorf("reading the API credentials: %w", err)
	}
	var c credentialsJSON
	if err := json.Unmarshal(data, &c); err != nil || c.AccessKeyID == "" || c.SecretAccessKey == "" {
		return mgmtapi.Credentials{}, fmt.Errorf("%s is not a credentials file (want {\"AccessKeyId\": ..., \"SecretAccessKey\": ...}); delete it to generate a new key pair", path)
	}
	return mgmtapi.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey}, nil
}

func createCredentials(dataDir, path string) (mgmtapi.Credentials, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return mgmtapi.Credentials{}, fmt.Errorf("creating the data directory: %w", err)
	}
	c := mgmtapi.NewCredentials()
	data, err := json.MarshalIndent(credentialsJSON{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey}, "", "  ")
	if err != nil {
		return mgmtapi.Credentials{}, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		// Another process created it first: use theirs.
		return Credentials(dataDir, func(string) string { return "" })
	}
	if err != nil {
		return mgmtapi.Credentials{}, fmt.Errorf("creating the API credentials: %w", err)
	}
	if _, err := f.Write(append(data, '\n')); err != nil {
		f.Close()
		return mgmtapi.Credentials{}, fmt.Errorf("writing the API credentials: %w", err)
	}
	if err := f.Close(); err != nil {
		return mgmtapi.Credentials{}, fmt.Errorf("writing the API credentials: %w", err)
	}
	return c, nil
}
