package transfer

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

func TestIDs(t *testing.T) {
	t.Parallel()
	for range 100 {
		if id := NewServerID(); !ValidServerID(id) || len(id) != 19 {
			t.Fatalf("NewServerID() = %q: not s- and 17 lowercase hex", id)
		}
		if id := NewSSHPublicKeyID(); !ValidSSHPublicKeyID(id) {
			t.Fatalf("NewSSHPublicKeyID() = %q", id)
		}
		if id := NewHostKeyID(); !ValidHostKeyID(id) {
			t.Fatalf("NewHostKeyID() = %q", id)
		}
		if id := NewSessionID(); len(id) != 20 || strings.Trim(id, "0123456789abcdef") != "" {
			t.Fatalf("NewSessionID() = %q: not 20 hex digits", id)
		}
	}
	for _, bad := range []string{"s-0123456789ABCDEF0", "s-0123456789abcdef", "x-0123456789abcdef0", "s-0123456789abcdef00"} {
		if ValidServerID(bad) {
			t.Errorf("ValidServerID(%q) = true, want false", bad)
		}
	}
}

func TestARNs(t *testing.T) {
	t.Parallel()
	var a Account
	if got, want := a.ServerARN("s-0123456789abcdef0"), "arn:aws:transfer:us-east-1:000000000000:server/s-0123456789abcdef0"; got != want {
		t.Errorf("ServerARN = %q, want %q", got, want)
	}
	a = Account{Region: "eu-west-1", AccountID: "123456789012"}
	if got, want := a.UserARN("s-0123456789abcdef0", "alice"), "arn:aws:transfer:eu-west-1:123456789012:user/s-0123456789abcdef0/alice"; got != want {
		t.Errorf("UserARN = %q, want %q", got, want)
	}
	if got, want := a.HostKeyARN("s-0123456789abcdef0", "hostkey-0123456789abcdef0"), "arn:aws:transfer:eu-west-1:123456789012:host-key/s-0123456789abcdef0/hostkey-0123456789abcdef0"; got != want {
		t.Errorf("HostKeyARN = %q, want %q", got, want)
	}
}

func TestValidateUserName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		ok    bool
		login bool
	}{
		{"alice", true, true},
		{"a_b", true, true},
		{"user@example.com", true, true},
		{"x.y-z", true, true},
		{strings.Repeat("a", 100), true, true},
		{strings.Repeat("a", 101), false, false},
		{"ab", false, false},
		{"-ab", false, false},
		{".ab", false, false},
		{"@ab", false, false},
		{"a b", false, false},
		{"a/b", false, false},
		{"root", true, false},
	} {
		if err := ValidateUserName(tc.name); (err == nil) != tc.ok {
			t.Errorf("ValidateUserName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if got := LoginAllowed(tc.name); got != tc.login {
			t.Errorf("LoginAllowed(%q) = %v, want %v", tc.name, got, tc.login)
		}
	}
}

func TestValidateHome(t *testing.T) {
	t.Parallel()
	m := func(entry, target string) Mapping { return Mapping{Entry: entry, Target: target} }
	for _, tc := range []struct {
		name string
		user User
		want string // "" = valid; else a substring of the error
	}{
		{"chroot", User{UserName: "alice", HomeDirectoryType: HomeLogical, HomeDirectoryMappings: []Mapping{m("/", "/b/${transfer:UserName}")}}, ""},
		{"tree", User{UserName: "alice", HomeDirectoryType: HomeLogical, HomeDirectoryMappings: []Mapping{m("/pics", "/b/p"), m("/a/b/c", "/b/c"), {Entry: "/f.txt", Target: "/b/f.txt", Type: MappingFile}}}, ""},
		{"no mappings", User{UserName: "alice", HomeDirectoryType: HomeLogical}, "at least one mapping"},
		{"root with others", User{UserName: "alice", HomeDirectoryType: HomeLogical, HomeDirectoryMappings: []Mapping{m("/", "/b"), m("/x", "/c")}}, "must be the only mapping"},
		{"nested", User{UserName: "alice", HomeDirectoryType: HomeLogical, HomeDirectoryMappings: []Mapping{m("/a", "/b"), m("/a/b", "/c")}}, "lies inside"},
		{"duplicate entry", User{UserName: "alice", HomeDirectoryType: HomeLogical, HomeDirectoryMappings: []Mapping{m("/a", "/b"), m("/a/", "/c")}}, "is also"},
		{"target trailing slash", User{UserName: "alice", HomeDirectoryType: HomeLogical, HomeDirectoryMappings: []Mapping{m("/", "/b/")}}, "must not end with /"},
		{"target relative", User{UserName: "alice", HomeDirectoryType: HomeLogical, HomeDirectoryMappings: []Mapping{m("/", "b/x")}}, "must start with /"},
		{"target dotdot", User{UserName: "alice", HomeDirectoryType: HomeLogical, HomeDirectoryMappings: []Mapping{m("/", "/b/../c")}}, `".." segment`},
		{"target empty segment", User{UserName: "alice", HomeDirectoryType: HomeLogical, HomeDirectoryMappings: []Mapping{m("/", "/b//c")}}, "empty segment"},
		{"target root", User{UserName: "alice", HomeDirectoryType: HomeLogical, HomeDirectoryMappings: []Mapping{m("/", "/")}}, "must name a bucket"},
		{"file at bucket", User{UserName: "alice", HomeDirectoryType: HomeLogical, HomeDirectoryMappings: []Mapping{{Entry: "/f", Target: "/b", Type: MappingFile}}}, "must name an object"},
		{"file at root entry", User{UserName: "alice", HomeDirectoryType: HomeLogical, HomeDirectoryMappings: []Mapping{{Entry: "/", Target: "/b/f", Type: MappingFile}}}, "FILE cannot be used"},
		{"bad type", User{UserName: "alice", HomeDirectoryType: HomeLogical, HomeDirectoryMappings: []Mapping{{Entry: "/x", Target: "/b", Type: "LINK"}}}, "DIRECTORY or FILE"},
		{"long name", User{UserName: "alice", HomeDirectoryType: HomeLogical, HomeDirectoryMappings: []Mapping{m("/"+strings.Repeat("n", 256), "/b")}}, "longer than 255"},
		{"NUL", User{UserName: "alice", HomeDirectoryType: HomeLogical, HomeDirectoryMappings: []Mapping{m("/", "/b/\x00")}}, "NUL"},
		{"logical with home", User{UserName: "alice", HomeDirectoryType: HomeLogical, HomeDirectory: "/b", HomeDirectoryMappings: []Mapping{m("/", "/b")}}, "must be empty"},
		{"path", User{UserName: "alice", HomeDirectoryType: HomePath, HomeDirectory: "/b/${transfer:UserName}"}, ""},
		{"path root", User{UserName: "alice", HomeDirectoryType: HomePath, HomeDirectory: "/"}, ""},
		{"path empty", User{UserName: "alice", HomeDirectoryType: HomePath}, ""},
		{"path with mappings", User{UserName: "alice", HomeDirectoryType: HomePath, HomeDirectoryMappings: []Mapping{m("/", "/b")}}, "only allowed with HomeDirectoryType LOGICAL"},
		{"bad type name", User{UserName: "alice", HomeDirectoryType: "HOME"}, "PATH or LOGICAL"},
	} {
		err := ValidateHome(&tc.user)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: ValidateHome = %v, want nil", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: ValidateHome = %v, want an error containing %q", tc.name, err, tc.want)
		case tc.want != "" && KindOf(err) != KindInvalid:
			t.Errorf("%s: kind %v, want invalid", tc.name, KindOf(err))
		}
	}
}

func TestParseSSHPublicKey(t *testing.T) {
	t.Parallel()
	line := func(pub any) string {
		k, err := ssh.NewPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k))) + " me@host"
	}
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	ec, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rsaSmall, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, body, want string
	}{
		{"ed25519", line(edPub), ""},
		{"ecdsa", "  " + line(&ec.PublicKey) + "  ", ""},
		{"rsa 1024", line(&rsaSmall.PublicKey), "at least 2048"},
		{"empty", "", "is empty"},
		{"garbage", "ssh-ed25519 not-base64", "not an SSH public key"},
		{"two lines", line(edPub) + "\n" + line(edPub), "single line"},
		{"dss", "ssh-dss AAAAB3NzaC1kc3MAAACBAP", "not an SSH public key"},
		{"from option", `from="10.0.0.0/8" ` + line(edPub), "authorized_keys options (from)"},
		{"options", `restrict,command="/bin/false",no-pty ` + line(edPub), "authorized_keys options (restrict, command, no-pty)"},
	} {
		k, _, err := ParseSSHPublicKey("SshPublicKeyBody", tc.body)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want == "" && !strings.HasPrefix(k.Fingerprint, "SHA256:"):
			t.Errorf("%s: fingerprint %q", tc.name, k.Fingerprint)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "SshPublicKeyBody: ")):
			t.Errorf("%s: got %v, want an error naming SshPublicKeyBody containing %q", tc.name, err, tc.want)
		}
	}
	if HasKeyOptions(line(edPub)) || !HasKeyOptions(`from="10.0.0.0/8" `+line(edPub)) {
		t.Error("HasKeyOptions does not tell a key with options from one without")
	}
}

func TestActivityHomeDir(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		u    User
		want string
	}{
		{User{UserName: "bob", HomeDirectoryType: HomeLogical}, "LOGICAL"},
		{User{UserName: "bob", HomeDirectoryType: HomePath, HomeDirectory: "/b/${transfer:UserName}"}, "/b/bob"},
		{User{UserName: "bob", HomeDirectoryType: HomePath}, "/"},
	} {
		if got := tc.u.ActivityHomeDir(); got != tc.want {
			t.Errorf("%+v: ActivityHomeDir() = %q, want %q", tc.u, got, tc.want)
		}
	}
}

func TestErrorKinds(t *testing.T) {
	t.Parallel()
	err := errors.Join(errors.New("context"), NotFound("User", "alice", "Unknown user"))
	if KindOf(err) != KindNotFound {
		t.Errorf("KindOf(wrapped NotFound) = %v", KindOf(err))
	}
	if KindOf(errors.New("x")) != KindInternal {
		t.Error("a plain error is not internal")
	}
	if got := Invalid("UserName", "%q is bad", "x").Error(); got != `UserName: "x" is bad` {
		t.Errorf("Invalid().Error() = %q", got)
	}
}

func TestParseEndpoint(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		ep, want string // want: "" for an error, else host/any/port
	}{
		{"127.0.0.1:2222", "127.0.0.1/false/2222"},
		{":22", "/true/22"},
		{"0.0.0.0:22", "/true/22"},
		{"[::]:22", "/true/22"},
		{"[::ffff:127.0.0.1]:22", "127.0.0.1/false/22"},
		{"LocalHost.:2222", "localhost/false/2222"},
		{"127.0.0.1", ""},
		{"127.0.0.1:0", ""},
		{"127.0.0.1:65536", ""},
		{"a b:22", ""},
		{"::1:22", ""},
	} {
		a, err := ParseEndpoint("Endpoint", tc.ep)
		got := ""
		if err == nil {
			got = fmt.Sprintf("%s/%v/%d", a.Host, a.Any, a.Port)
		} else if !strings.HasPrefix(err.Error(), "Endpoint: ") {
			t.Errorf("ParseEndpoint(%q) error %q does not name the field", tc.ep, err)
		}
		if got != tc.want {
			t.Errorf("ParseEndpoint(%q) = %q (%v), want %q", tc.ep, got, err, tc.want)
		}
	}
	any, _ := ParseEndpoint("Endpoint", ":22")
	lo, _ := ParseEndpoint("Endpoint", "127.0.0.1:22")
	other, _ := ParseEndpoint("Endpoint", "127.0.0.2:22")
	if !any.Overlaps(lo) || lo.Overlaps(other) || !lo.Overlaps(lo) {
		t.Error("Overlaps: all interfaces overlap any address on the port; distinct addresses do not")
	}
}

func TestUserBuckets(t *testing.T) {
	for _, tc := range []struct {
		u    User
		want []string
	}{
		{User{UserName: "alice", HomeDirectoryType: HomePath, HomeDirectory: "/bucket1/home/alice"}, []string{"bucket1"}},
		{User{UserName: "alice", HomeDirectoryType: HomePath}, nil},
		{User{UserName: "alice", HomeDirectoryType: HomeLogical, HomeDirectoryMappings: []Mapping{
			{Entry: "/", Target: "/${transfer:UserName}-bucket/home"}, {Entry: "/pub", Target: "/shared/pub"}, {Entry: "/x", Target: "/shared/x"}}},
			[]string{"alice-bucket", "shared"}},
	} {
		if got := tc.u.Buckets(); !slices.Equal(got, tc.want) {
			t.Errorf("%+v: Buckets() = %q, want %q", tc.u, got, tc.want)
		}
	}
}
