package config

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/transferd/transferd/internal/transfer"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// knownPolicies stands in for the policy catalog's Lookup.
func knownPolicies(name string) error {
	switch name {
	case "TransferSecurityPolicy-2024-01", "TransferSecurityPolicy-2023-05", "TransferSecurityPolicy-FIPS-2024-01":
		return nil
	case "TransferSecurityPolicy-2024-1":
		return fmt.Errorf("unknown security policy %q (did you mean %q?)", name, "TransferSecurityPolicy-2024-01")
	}
	return fmt.Errorf("unknown security policy %q", name)
}

var testOptions = Options{CheckPolicy: knownPolicies}

// TestBadConfigs loads every testdata/bad-*.yaml and compares the error text with its .golden
// file.
func TestBadConfigs(t *testing.T) {
	files, err := filepath.Glob("testdata/bad-*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 15 {
		t.Fatalf("found %d bad configs, want at least 15", len(files))
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".yaml"), func(t *testing.T) {
			t.Parallel()
			c, err := Load(file, testOptions)
			if err == nil {
				t.Fatalf("Load(%s) = %+v, nil; want an error", file, c)
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("Load(%s) error is %T (%v), want *Error", file, err, err)
			}
			if ce.File != file {
				t.Errorf("Error.File = %q, want %q", ce.File, file)
			}
			for _, p := range ce.Problems {
				if p.Line == 0 {
					t.Errorf("problem without a line: %+v", p)
				}
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(file, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				input, _ := os.ReadFile(file)
				t.Errorf("input:\n%s\ngot:\n%s\nwant:\n%s", input, got, want)
			}
		})
	}
}

func TestGoodConfig(t *testing.T) {
	t.Parallel()
	c, err := Load("testdata/good.yaml", testOptions)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Account(), (transfer.Account{Region: "eu-west-1", AccountID: "123456789012"}); got != want {
		t.Errorf("Account() = %+v, want %+v", got, want)
	}
	if c.Storage.Local == nil || c.Storage.Local.Root != "/var/lib/transferd/storage" {
		t.Errorf("Storage.Local = %+v, want Root /var/lib/transferd/storage", c.Storage.Local)
	}
	if len(c.Servers) != 3 {
		t.Fatalf("got %d servers, want 3", len(c.Servers))
	}
	ps := c.Penalties.Settings()
	if ps.AuthFailure != 0 || ps.InvalidUser != 5*time.Second || ps.Max != time.Hour || ps.Min != 15*time.Second || ps.MaxSources != 65536 ||
		fmt.Sprint(ps.Exempt) != "[192.0.2.0/24 2001:db8::1/128]" {
		t.Errorf("Penalties.Settings() = %+v", ps)
	}

	servers := []transfer.Server{
		{
			ServerID:                      "s-0123456789abcdef0",
			Endpoint:                      "127.0.0.1:2222",
			SecurityPolicyName:            "TransferSecurityPolicy-2023-05",
			PreAuthenticationLoginBanner:  "Authorized use only.\nActivity is logged.\n",
			PostAuthenticationLoginBanner: "Welcome",
			Domain:                        transfer.DomainS3,
			IdentityProviderType:          transfer.IdentityServiceManaged,
			Protocols:                     []string{"SFTP"},
			SetStatOption:                 transfer.SetStatEnableNoOp,
			State:                         transfer.StateOnline,
			Tags: []transfer.Tag{{Key: "env", Value: "dev"}, {Key: "team", Value: "data-platform"}, {Key: "transferd:RecordClientOffer", Value: "true"},
				{Key: "transferd:MaxHandlesPerSession", Value: "64"}, {Key: "transferd:MaxStartups", Value: "20:50:60"}},
			Source: transfer.SourceConfig,
		},
		{
			Endpoint:             ":2223",
			SecurityPolicyName:   transfer.DefaultSecurityPolicy,
			Domain:               transfer.DomainS3,
			IdentityProviderType: transfer.IdentityServiceManaged,
			Protocols:            []string{"SFTP"},
			SetStatOption:        transfer.SetStatDefault,
			State:                transfer.StateOnline,
			Source:               transfer.SourceConfig,
		},
		{
			Endpoint:             "127.0.0.1:2224",
			SecurityPolicyName:   transfer.DefaultSecurityPolicy,
			Domain:               transfer.DomainEFS,
			IdentityProviderType: transfer.IdentityServiceManaged,
			Protocols:            []string{"SFTP"},
			SetStatOption:        transfer.SetStatDefault,
			State:                transfer.StateOnline,
			Source:               transfer.SourceConfig,
		},
	}
	for i, want := range servers {
		if got := c.Servers[i].TransferServer(); !reflect.DeepEqual(got, want) {
			t.Errorf("Servers[%d].TransferServer():\ngot  %+v\nwant %+v", i, got, want)
		}
	}

	const (
		aliceEd    = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIN2ko0EvD2lltnkVQAsQgKR+5g2wcArA/C0q7FTEKBUT alice@example"
		aliceECDSA = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBLjR1rVj255owj8ASgMf1Y9BnzEhVTwkzsi+cd4XsasqkfkHdwYnFDht3DuU2nvW9wGXj/M89mMIEB5lSJRYILQ= alice@laptop"
		bobRSA     = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQC21OAfP5YO0jvD96Vt6v+qYHUA7/EKPlJviHThhMDcoAm3oWORQOK3VO2UbfiFCq1Dngjz40QjkpItCZSzSsom8SVgnL3wEPRgzX5jMsbn9I1+YvyWRdN8d8ytx9SPgtO64DYF7Yj2Bk5w4WELvbNdUYd26Y2I9mL0o5Czdbtv86PQ7UQrWjp7dRNb1GhliDYfEwUHPo/1eHQrvAe97bDvheoMboaermU4EdWjvNALSolgAP+hGJ/baoX1jmVK+ibsCuZ6IwXFB1UvP7yCcuUSYkGehrF3a+M/XBtQePrrdnbwewo618Yne+mOeJN86oHT52wEQlh/gCGCos9EULlk/Gmywkd57pMZsd8n1jgnrlBItmbmBrF6EJrYTKlQarsIyAYTrF82FZnYkQwsdtJO2LEXSUN4TLMWhe4gXVIV5DEqM8c7t1OdDgrRohIqJi5DohzOIZJPnlV79p950rX1Nt4W/JYFP65k8DEDvJIuo5v0IS4as0cikA/05n4MnRc= carol@ci"
		carolEd    = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHxETbtY8ndzU9XcdYtie1NVPl5raj26aUPo5tvWCkSu dave"
	)
	// Fingerprints as `ssh-keygen -lf` prints them.
	users := []struct {
		server int
		want   transfer.User
	}{
		{0, transfer.User{
			ServerID:          "s-0123456789abcdef0",
			UserName:          "alice",
			Role:              "arn:aws:iam::123456789012:role/transfer-user",
			HomeDirectoryType: transfer.HomeLogical,
			HomeDirectoryMappings: []transfer.Mapping{
				{Entry: "/", Target: "/bucket1/home/${transfer:UserName}", Type: transfer.MappingDirectory},
			},
			SSHPublicKeys: []transfer.SSHPublicKey{
				{Body: aliceEd, Fingerprint: "SHA256:uZJ0wpMaj7ByCWu+xnx2h2yRf+vcqj6IYT4WZim09kY"},
				{Body: aliceECDSA, Fingerprint: "SHA256:vIhv/ApYpF3KieEPmZWJWnkvwKOLRcBo+hc8o23jFEQ"},
			},
			Tags:   []transfer.Tag{{Key: "owner", Value: "alice"}},
			Source: transfer.SourceConfig,
		}},
		{0, transfer.User{
			ServerID:          "s-0123456789abcdef0",
			UserName:          "bob.reports",
			HomeDirectoryType: transfer.HomeLogical,
			HomeDirectoryMappings: []transfer.Mapping{
				{Entry: "/in", Target: "/bucket1/inbox/bob", Type: transfer.MappingDirectory},
				{Entry: "/out", Target: "/bucket2/outbox", Type: transfer.MappingDirectory},
				{Entry: "/README.txt", Target: "/bucket2/docs/readme.txt", Type: transfer.MappingFile},
			},
			Policy: `{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::bucket1/inbox/${transfer:UserName}/*"}}`,
			SSHPublicKeys: []transfer.SSHPublicKey{
				{Body: bobRSA, Fingerprint: "SHA256:ZdhruedacvfhugomGCdGZA+nUo5P/MpfPouZ2mNpZlw"},
			},
			Source: transfer.SourceConfig,
		}},
		{1, transfer.User{
			ServerID:          "s-fffffffffffffffff",
			UserName:          "carol",
			HomeDirectoryType: transfer.HomePath,
			HomeDirectory:     "/bucket1/shared",
			SSHPublicKeys: []transfer.SSHPublicKey{
				{Body: carolEd, Fingerprint: "SHA256:GbarMNtSQJ4LgVUY9du3d0R4U0+wWrsgh6UD6MgCUM0"},
			},
			Source: transfer.SourceConfig,
		}},
		{1, transfer.User{
			ServerID:          "s-fffffffffffffffff",
			UserName:          "dave_noKeys",
			HomeDirectoryType: transfer.HomePath,
			Source:            transfer.SourceConfig,
		}},
		{2, transfer.User{
			ServerID:          "s-fffffffffffffffff",
			UserName:          "erin",
			HomeDirectoryType: transfer.HomePath,
			HomeDirectory:     "/fs-1/erin",
			PosixProfile:      &transfer.PosixProfile{UID: 1001, GID: 1001, SecondaryGIDs: []uint32{4, 4294967295}},
			SSHPublicKeys: []transfer.SSHPublicKey{
				{Body: carolEd, Fingerprint: "SHA256:GbarMNtSQJ4LgVUY9du3d0R4U0+wWrsgh6UD6MgCUM0"},
			},
			Source: transfer.SourceConfig,
		}},
	}
	var got []transfer.User
	for _, s := range c.Servers {
		id := s.ServerID
		if id == "" {
			id = "s-fffffffffffffffff" // as the store would generate
		}
		for _, u := range s.Users {
			tu, err := u.TransferUser(id)
			if err != nil {
				t.Fatalf("TransferUser(%s): %v", u.UserName, err)
			}
			got = append(got, tu)
		}
	}
	if len(got) != len(users) {
		t.Fatalf("got %d users, want %d", len(got), len(users))
	}
	for i, tt := range users {
		if !reflect.DeepEqual(got[i], tt.want) {
			t.Errorf("user %d:\ngot  %+v\nwant %+v", i, got[i], tt.want)
		}
		if err := transfer.ValidateUser(&got[i]); err != nil {
			t.Errorf("user %d does not pass transfer.ValidateUser: %v", i, err)
		}
	}

	wantWarnings := []string{
		"Servers[0].PostAuthenticationLoginBanner: is kept but not shown: Transfer Family shows it over FTP and FTPS only, never to SFTP clients",
		`Servers[1].Users[1]: user "dave_noKeys" has no SshPublicKeys and cannot log in until keys are imported`,
	}
	if got := c.Warnings(); !slices.Equal(got, wantWarnings) {
		t.Errorf("Warnings():\ngot  %q\nwant %q", got, wantWarnings)
	}
}

// TestDefaults checks that Parse fills in every default and that the zero Server and User give
// the same defaults through TransferServer and TransferUser.
func TestDefaults(t *testing.T) {
	t.Parallel()
	c, err := Parse([]byte("Servers:\n  - Endpoint: :2222\n    Users:\n      - UserName: alice\n        HomeDirectoryType: LOGICAL\n        HomeDirectoryMappings: [{Entry: /, Target: /b}]\n"), "inline.yaml", Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Region:    transfer.DefaultRegion,
		AccountID: transfer.DefaultAccountID,
		Servers: []Server{{
			Endpoint:             ":2222",
			SecurityPolicyName:   transfer.DefaultSecurityPolicy,
			Domain:               transfer.DomainS3,
			IdentityProviderType: transfer.IdentityServiceManaged,
			Protocols:            []string{"SFTP"},
			ProtocolDetails:      ProtocolDetails{SetStatOption: transfer.SetStatDefault},
			Users: []User{{
				UserName:              "alice",
				HomeDirectoryType:     transfer.HomeLogical,
				HomeDirectoryMappings: []Mapping{{Entry: "/", Target: "/b", Type: transfer.MappingDirectory}},
			}},
		}},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Parse:\ngot  %+v\nwant %+v", c, want)
	}

	zero := Server{Endpoint: ":2222"}
	if got, want := zero.TransferServer(), c.Servers[0].TransferServer(); !reflect.DeepEqual(got, want) {
		t.Errorf("zero Server's TransferServer() = %+v, want %+v", got, want)
	}
	if zero.Protocols != nil {
		t.Errorf("TransferServer changed its receiver: %+v", zero)
	}
	u, err := (&User{UserName: "bob"}).TransferUser("s-0123456789abcdef0")
	if err != nil {
		t.Fatal(err)
	}
	if u.HomeDirectoryType != transfer.HomePath {
		t.Errorf("zero User's HomeDirectoryType = %q, want PATH", u.HomeDirectoryType)
	}
	if got := (&Config{}).Account(); got != (transfer.Account{Region: "us-east-1", AccountID: "000000000000"}) {
		t.Errorf("zero Config's Account() = %+v", got)
	}
}

func TestTransferUserBadKey(t *testing.T) {
	t.Parallel()
	u := User{UserName: "alice", SSHPublicKeys: []string{"ssh-ed25519 garbage"}}
	_, err := u.TransferUser("s-0123456789abcdef0")
	var te *transfer.Error
	if !errors.As(err, &te) || te.Field != "SshPublicKeys[0]" {
		t.Errorf("TransferUser with a bad key: err = %v, want a *transfer.Error about SshPublicKeys[0]", err)
	}
}

// TestRelativeRoot checks that Storage.Local.Root is relative to the config file, as in
// examples/transferd.yaml, whatever the working directory.
func TestRelativeRoot(t *testing.T) {
	t.Parallel()
	abs, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		load func() (*Config, error)
		want string
	}{
		{"Load relative path", func() (*Config, error) { return Load("testdata/relative-root.yaml", Options{}) },
			filepath.Join(abs, "storage")},
		{"Load absolute path", func() (*Config, error) { return Load(filepath.Join(abs, "relative-root.yaml"), Options{}) },
			filepath.Join(abs, "storage")},
		{"Parse", func() (*Config, error) {
			return Parse([]byte("Storage: {Local: {Root: ../data}}\nServers: [{Endpoint: ':22'}]\n"), "/etc/transferd/transferd.yaml", Options{})
		}, "/etc/data"},
		{"Parse absolute root", func() (*Config, error) {
			return Parse([]byte("Storage: {Local: {Root: /srv/sftp}}\nServers: [{Endpoint: ':22'}]\n"), "/etc/transferd/transferd.yaml", Options{})
		}, "/srv/sftp"},
		{"Parse empty root stays empty for the caller", func() (*Config, error) {
			return Parse([]byte("Storage: {Local: {}}\nServers: [{Endpoint: ':22'}]\n"), "/etc/transferd/transferd.yaml", Options{})
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tt.load()
			if err != nil {
				t.Fatal(err)
			}
			if c.Storage.Local == nil || c.Storage.Local.Root != tt.want {
				t.Errorf("Storage.Local = %+v, want Root %q", c.Storage.Local, tt.want)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	t.Parallel()
	_, err := Load("testdata/does-not-exist.yaml", Options{})
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load of a missing file: err = %v, want os.ErrNotExist", err)
	}
}

func TestErrorFormat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  *Error
		want string
	}{
		{"all parts", &Error{File: "f.yaml", Problems: []Problem{{Line: 3, Field: "Servers[0].Endpoint", Message: "is required"}}},
			"f.yaml:3: Servers[0].Endpoint: is required"},
		{"no field", &Error{File: "f.yaml", Problems: []Problem{{Line: 1, Message: "YAML syntax error: x"}}},
			"f.yaml:1: YAML syntax error: x"},
		{"no line", &Error{File: "f.yaml", Problems: []Problem{{Field: "Servers", Message: "m"}}},
			"f.yaml: Servers: m"},
		{"no file", &Error{Problems: []Problem{{Line: 2, Field: "Region", Message: "m"}}},
			"line 2: Region: m"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestClosest(t *testing.T) {
	t.Parallel()
	known := []string{"Region", "AccountId", "Storage", "Servers"}
	tests := []struct{ in, want string }{
		{"Severs", "Servers"},
		{"servers", "Servers"},
		{"AccountID", "AccountId"},
		{"Regoin", "Region"},
		{"Logging", ""},
	}
	for _, tt := range tests {
		if got := transfer.Suggest(tt.in, known); got != tt.want {
			t.Errorf("Suggest(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSshPublicKeyFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good, err := os.ReadFile("testdata/good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// The first ssh-ed25519 line of good.yaml serves as the key in the file.
	var key string
	for _, line := range strings.Split(string(good), "\n") {
		if i := strings.Index(line, "ssh-ed25519 "); i >= 0 {
			key = strings.Trim(line[i:], `"' `)
			break
		}
	}
	if key == "" {
		t.Fatal("no ssh-ed25519 key in testdata/good.yaml")
	}
	if err := os.WriteFile(filepath.Join(dir, "alice.pub"), []byte("# a comment\n\n"+key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgText := "Servers:\n  - Endpoint: 127.0.0.1:2222\n    Users:\n      - UserName: alice\n        SshPublicKeyFiles: [alice.pub, missing.pub]\n"
	path := filepath.Join(dir, "transferd.yaml")
	if err := os.WriteFile(path, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	u, err := c.Servers[0].Users[0].TransferUser("s-0123456789abcdef0")
	if err != nil {
		t.Fatal(err)
	}
	if len(u.SSHPublicKeys) != 1 || !strings.HasPrefix(key, u.SSHPublicKeys[0].Body) {
		t.Fatalf("keys from alice.pub: got %+v, want the one key %q", u.SSHPublicKeys, key)
	}
	warnings := strings.Join(c.Warnings(), "\n")
	if !strings.Contains(warnings, "SshPublicKeyFiles[1]") || !strings.Contains(warnings, "missing.pub") {
		t.Fatalf("warnings: got %q, want one naming SshPublicKeyFiles[1] and missing.pub", warnings)
	}
	if err := os.WriteFile(filepath.Join(dir, "alice.pub"), []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Servers[0].Users[0].TransferUser("s-0123456789abcdef0"); err == nil || !strings.Contains(err.Error(), "alice.pub line 1") {
		t.Fatalf("bad key file: got %v, want an error naming alice.pub line 1", err)
	}
}

// TestNoServers checks that an explicit empty list is a valid config: servers then come from the
// management API.
func TestNoServers(t *testing.T) {
	t.Parallel()
	c, err := Parse([]byte("Servers: []\n"), "api-only.yaml", Options{})
	if err != nil {
		t.Fatalf("Servers: []: %v", err)
	}
	if len(c.Servers) != 0 {
		t.Fatalf("Servers: got %d, want none", len(c.Servers))
	}
}

func TestS3Storage(t *testing.T) {
	t.Parallel()
	c, err := Parse([]byte("Storage:\n  S3:\n    Endpoint: http://127.0.0.1:7070\n    ForcePathStyle: true\n    AccessKeyId: AK\n    SecretAccessKey: SK\nServers: []\n"), "s3.yaml", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s3 := c.Storage.S3; s3 == nil || s3.Endpoint != "http://127.0.0.1:7070" || !s3.ForcePathStyle || s3.AccessKeyID != "AK" || s3.SecretAccessKey != "SK" {
		t.Fatalf("Storage.S3 = %+v", c.Storage.S3)
	}
	_, err = Parse([]byte("Storage:\n  S3:\n    ForcePathStyle: maybe\nServers: []\n"), "s3.yaml", Options{})
	if err == nil || !strings.Contains(err.Error(), "s3.yaml:3: Storage.S3.ForcePathStyle") || !strings.Contains(err.Error(), "true or false") {
		t.Fatalf("ForcePathStyle: maybe: %v", err)
	}

	c, err = Parse([]byte("Storage:\n  S3:\n    AccessKeyId: AK\n    SecretAccessKey: SK\n    SessionToken: ST\n"+
		"    ChecksumWhenRequired: true\n    PartSizeMiB: 16\n    ReorderBufferMiB: 32\n    MaxRenameObjects: 0\nServers: []\n"), "s3.yaml", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s3 := c.Storage.S3; s3.SessionToken != "ST" || !s3.ChecksumWhenRequired || s3.PartSizeMiB != 16 || s3.ReorderBufferMiB != 32 ||
		s3.MaxRenameObjects == nil || *s3.MaxRenameObjects != 0 {
		t.Fatalf("Storage.S3 = %+v", s3)
	}
	for _, tt := range []struct{ line, want string }{
		{"PartSizeMiB: 4", "s3.yaml:3: Storage.S3.PartSizeMiB: 4 is outside S3's part sizes (5 to 5120 MiB)"},
		{"PartSizeMiB: 8.5", "s3.yaml:3: Storage.S3.PartSizeMiB: must be a whole number, not"},
		{"PartSizeMiB: eight", "s3.yaml:3: Storage.S3.PartSizeMiB: must be a whole number, not"},
		{"ReorderBufferMiB: 2048", "s3.yaml:3: Storage.S3.ReorderBufferMiB: 2048 must be 4 to 1024"},
		{"ReorderBufferMiB: 1", "s3.yaml:3: Storage.S3.ReorderBufferMiB: 1 must be 4 to 1024"},
		{"MaxRenameObjects: -1", "s3.yaml:3: Storage.S3.MaxRenameObjects: -1 must be 0 (no directory renames) to 1000000"},
		{"SessionToken: ST", "s3.yaml:3: Storage.S3.SessionToken: goes with AccessKeyId and SecretAccessKey"},
	} {
		_, err := Parse([]byte("Storage:\n  S3:\n    "+tt.line+"\nServers: []\n"), "s3.yaml", Options{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.line, err, tt.want)
		}
	}
}

// TestIdentityProviderServer checks a server with a custom identity provider: its details, the
// default SftpAuthenticationMethods, and how its provider is called.
func TestIdentityProviderServer(t *testing.T) {
	t.Parallel()
	c, err := Parse([]byte(`IdentityProviders:
  TimeoutSeconds: 5
  MaxConcurrentCalls: 4
  LambdaEndpoint: http://127.0.0.1:9001
  AccessKeyId: AKIAEXAMPLE
  SecretAccessKey: secret
Servers:
  - Endpoint: 127.0.0.1:2222
    IdentityProviderType: API_GATEWAY
    IdentityProviderDetails:
      Url: https://abc.execute-api.us-east-1.amazonaws.com/prod
      InvocationRole: arn:aws:iam::123456789012:role/idp
  - Endpoint: 127.0.0.1:2223
    Domain: EFS
    IdentityProviderType: AWS_LAMBDA
    IdentityProviderDetails:
      Function: arn:aws:lambda:us-east-1:123456789012:function:idp
      SftpAuthenticationMethods: PUBLIC_KEY_AND_PASSWORD
`), "inline.yaml", Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []transfer.IdentityProviderDetails{
		{URL: "https://abc.execute-api.us-east-1.amazonaws.com/prod", InvocationRole: "arn:aws:iam::123456789012:role/idp", SftpAuthenticationMethods: transfer.AuthPublicKeyOrPassword},
		{Function: "arn:aws:lambda:us-east-1:123456789012:function:idp", SftpAuthenticationMethods: transfer.AuthPublicKeyAndPassword},
	}
	for i, w := range want {
		if got := c.Servers[i].TransferServer().IdentityProviderDetails; got != w {
			t.Errorf("Servers[%d] details %+v, want %+v", i, got, w)
		}
	}
	if ip := c.IdentityProviders; ip.TimeoutSeconds != 5 || ip.MaxConcurrentCalls != 4 || ip.LambdaEndpoint != "http://127.0.0.1:9001" {
		t.Errorf("IdentityProviders = %+v", ip)
	}
}
