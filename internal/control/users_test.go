package control

import (
	"cmp"
	"crypto/elliptic"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/transferd/transferd/internal/transfer"
)

func TestCreateUser(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := f.server(t)
	efs := f.serverIn(t, transfer.DomainEFS)
	f.user(t, id, "taken")
	key := authorizedKey(t, ed25519Key(t))
	const userPolicy = `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::bucket/${transfer:UserName}/*"}}`
	const homePolicy = `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::${transfer:HomeDirectory}/*"}}`
	chroot := []transfer.Mapping{{Entry: "/", Target: "/bucket/${transfer:UserName}"}}
	withKey := func(body string) []transfer.SSHPublicKey { return []transfer.SSHPublicKey{{Body: body}} }
	for _, tc := range []struct {
		name string
		u    transfer.User
		want want
	}{
		{"path", transfer.User{ServerID: id, UserName: "alice", HomeDirectory: "/bucket/alice", SSHPublicKeys: withKey(key),
			Tags: []transfer.Tag{{Key: "team", Value: "a"}}}, want{}},
		{"logical", transfer.User{ServerID: id, UserName: "bob", HomeDirectoryType: transfer.HomeLogical, HomeDirectoryMappings: chroot,
			Role: "arn:aws:iam::123456789012:role/sftp", Policy: userPolicy}, want{}},
		{"home variables", transfer.User{ServerID: id, UserName: "bob2", HomeDirectory: "/bucket/bob2", Policy: homePolicy}, want{}},
		{"posix on EFS", transfer.User{ServerID: efs, UserName: "erin", HomeDirectory: "/fs/erin",
			PosixProfile: &transfer.PosixProfile{UID: 1000, GID: 1000, SecondaryGIDs: []uint32{4}}}, want{}},
		{"EFS without posix", transfer.User{ServerID: efs, UserName: "frank", HomeDirectory: "/fs/frank"}, want{}},
		{"posix on S3", transfer.User{ServerID: id, UserName: "dave", PosixProfile: &transfer.PosixProfile{UID: 1000, GID: 1000}},
			invalid("PosixProfile", "POSIX profiles apply to EFS-domain servers")},
		{"policy on EFS", transfer.User{ServerID: efs, UserName: "dave", Policy: userPolicy}, invalid("Policy", "session policies apply to S3-domain servers")},
		{"home variables with LOGICAL", transfer.User{ServerID: id, UserName: "dave", HomeDirectoryType: transfer.HomeLogical,
			HomeDirectoryMappings: chroot, Policy: homePolicy}, invalid("Policy", "cannot be used with a LOGICAL home directory")},
		{"home variables without a home", transfer.User{ServerID: id, UserName: "dave", Policy: homePolicy}, invalid("Policy", "needs a HomeDirectory")},
		{"policy transferd cannot evaluate", transfer.User{ServerID: id, UserName: "dave", Policy: `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"DateLessThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"}}}}`},
			invalid("Policy", "Statement[0].Condition.DateLessThan: is not a condition operator transferd evaluates")},
		{"no keys", transfer.User{ServerID: id, UserName: "carol"}, want{}},
		{"exists", transfer.User{ServerID: id, UserName: "taken"}, want{kind: transfer.KindExists, resourceType: "User", resource: "taken", text: "User already exists"}},
		{"unknown server", transfer.User{ServerID: unknownServer, UserName: "dave"}, want{kind: transfer.KindNotFound, resourceType: "Server", resource: unknownServer, text: "Unknown server"}},
		{"malformed server", transfer.User{ServerID: "server-1", UserName: "dave"}, invalid("ServerId", "")},
		{"bad name", transfer.User{ServerID: id, UserName: "-dave"}, invalid("UserName", "3 to 100")},
		{"short name", transfer.User{ServerID: id, UserName: "ab"}, invalid("UserName", "")},
		{"bad role", transfer.User{ServerID: id, UserName: "dave", Role: "admin"}, invalid("Role", "IAM role ARN")},
		{"bad policy", transfer.User{ServerID: id, UserName: "dave", Policy: "allow all"}, invalid("Policy", "JSON object")},
		{"logical without mappings", transfer.User{ServerID: id, UserName: "dave", HomeDirectoryType: transfer.HomeLogical}, invalid("HomeDirectoryMappings", "at least one mapping")},
		{"logical with home", transfer.User{ServerID: id, UserName: "dave", HomeDirectoryType: transfer.HomeLogical, HomeDirectory: "/bucket", HomeDirectoryMappings: chroot}, invalid("HomeDirectory", "must be empty")},
		{"path with mappings", transfer.User{ServerID: id, UserName: "dave", HomeDirectoryMappings: chroot}, invalid("HomeDirectoryMappings", "only allowed with HomeDirectoryType LOGICAL")},
		{"target trailing slash", transfer.User{ServerID: id, UserName: "dave", HomeDirectoryType: transfer.HomeLogical,
			HomeDirectoryMappings: []transfer.Mapping{{Entry: "/", Target: "/bucket/"}}}, invalid("HomeDirectoryMappings[0].Target", "must not end with /")},
		{"nested entries", transfer.User{ServerID: id, UserName: "dave", HomeDirectoryType: transfer.HomeLogical,
			HomeDirectoryMappings: []transfer.Mapping{{Entry: "/a", Target: "/b"}, {Entry: "/a/b", Target: "/c"}}}, invalid("HomeDirectoryMappings[1].Entry", "lies inside")},
		{"home type", transfer.User{ServerID: id, UserName: "dave", HomeDirectoryType: "HOME"}, invalid("HomeDirectoryType", "PATH or LOGICAL")},
		{"bad key", transfer.User{ServerID: id, UserName: "dave", SSHPublicKeys: withKey("ssh-ed25519 nope")}, invalid("SshPublicKeyBody", "not an SSH public key")},
		{"small RSA key", transfer.User{ServerID: id, UserName: "dave", SSHPublicKeys: withKey(authorizedKey(t, rsaKey(t, 1024)))}, invalid("SshPublicKeyBody", "at least 2048")},
		{"same key twice", transfer.User{ServerID: id, UserName: "dave", SSHPublicKeys: []transfer.SSHPublicKey{{Body: key}, {Body: key}}}, invalid("SshPublicKeys[1]", "same key")},
		{"many secondary GIDs", transfer.User{ServerID: id, UserName: "dave", PosixProfile: &transfer.PosixProfile{SecondaryGIDs: make([]uint32, 17)}}, invalid("PosixProfile.SecondaryGids", "at most 16")},
		{"aws tag", transfer.User{ServerID: id, UserName: "dave", Tags: []transfer.Tag{{Key: "AWS:x"}}}, invalid("Tags[0].Key", "aws:")},
	} {
		err := f.svc.CreateUser(f.ctx, tc.u)
		check(t, tc.name, err, tc.want)
		if !tc.want.ok() || err != nil {
			continue
		}
		d, err := f.svc.DescribeUser(f.ctx, tc.u.ServerID, tc.u.UserName)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		u := d.User
		if d.ARN != "arn:aws:transfer:eu-west-1:123456789012:user/"+tc.u.ServerID+"/"+tc.u.UserName || u.Source != transfer.SourceAPI ||
			u.HomeDirectoryType != cmp.Or(tc.u.HomeDirectoryType, transfer.HomePath) || !slices.Equal(d.Tags, tc.u.Tags) ||
			len(u.SSHPublicKeys) != len(tc.u.SSHPublicKeys) {
			t.Errorf("%s: described %+v", tc.name, d)
		}
		for _, k := range u.SSHPublicKeys {
			if !transfer.ValidSSHPublicKeyID(k.SSHPublicKeyID) || !strings.HasPrefix(k.Fingerprint, "SHA256:") || k.DateImported.IsZero() {
				t.Errorf("%s: key %+v", tc.name, k)
			}
		}
		for _, m := range u.HomeDirectoryMappings {
			if m.Type != transfer.MappingDirectory {
				t.Errorf("%s: mapping %+v: Type not defaulted to DIRECTORY", tc.name, m)
			}
		}
	}
	if notes := f.notes.take(); len(notes) != 0 {
		t.Errorf("user changes told the notifier %v; users are looked up at login", notes)
	}
	_, err := f.svc.DescribeUser(f.ctx, id, "nobody")
	check(t, "describe unknown user", err, want{kind: transfer.KindNotFound, resourceType: "User", resource: "nobody", text: "Unknown user"})
	_, err = f.svc.DescribeUser(f.ctx, unknownServer, "alice")
	check(t, "describe on unknown server", err, notFound("Server", unknownServer))
	_, err = f.svc.DescribeUser(f.ctx, id, "")
	check(t, "describe without a name", err, invalid("UserName", "required"))
}

func TestUpdateUser(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := f.server(t)
	f.user(t, id, "alice") // PATH, /bucket/alice
	chroot := []transfer.Mapping{{Entry: "/", Target: "/bucket/alice"}}
	const homePolicy = `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::${transfer:HomeDirectory}/*"}}`
	type home struct {
		typ, dir string
		mappings int
	}
	for _, tc := range []struct {
		name string
		in   UpdateUserInput
		want want
		home home // after the update
	}{
		{"role", UpdateUserInput{Role: ptr("arn:aws:iam::123456789012:role/sftp")}, want{}, home{"PATH", "/bucket/alice", 0}},
		{"to logical without mappings", UpdateUserInput{HomeDirectoryType: ptr("LOGICAL")}, invalid("HomeDirectoryMappings", "at least one mapping"), home{"PATH", "/bucket/alice", 0}},
		{"to logical with a home", UpdateUserInput{HomeDirectoryType: ptr("LOGICAL"), HomeDirectory: ptr("/bucket"), HomeDirectoryMappings: chroot}, invalid("HomeDirectory", "must be empty"), home{"PATH", "/bucket/alice", 0}},
		{"to logical", UpdateUserInput{HomeDirectoryType: ptr("LOGICAL"), HomeDirectoryMappings: chroot}, want{}, home{"LOGICAL", "", 1}},
		{"home while logical", UpdateUserInput{HomeDirectory: ptr("/bucket")}, invalid("HomeDirectory", "must be empty"), home{"LOGICAL", "", 1}},
		{"bad mapping", UpdateUserInput{HomeDirectoryMappings: []transfer.Mapping{{Entry: "/x", Target: "bucket"}}}, invalid("HomeDirectoryMappings[0].Target", "must start with /"), home{"LOGICAL", "", 1}},
		{"mappings while logical", UpdateUserInput{HomeDirectoryMappings: []transfer.Mapping{{Entry: "/a", Target: "/b/a"}, {Entry: "/c", Target: "/b/c"}}}, want{}, home{"LOGICAL", "", 2}},
		{"to path", UpdateUserInput{HomeDirectoryType: ptr("PATH"), HomeDirectory: ptr("/bucket/home")}, want{}, home{"PATH", "/bucket/home", 0}},
		{"policy", UpdateUserInput{Policy: ptr(homePolicy)}, want{}, home{"PATH", "/bucket/home", 0}},
		{"bad policy", UpdateUserInput{Policy: ptr("[")}, invalid("Policy", "JSON object"), home{"PATH", "/bucket/home", 0}},
		{"posix on S3", UpdateUserInput{PosixProfile: &transfer.PosixProfile{UID: 7, GID: 8}}, invalid("PosixProfile", "EFS-domain"), home{"PATH", "/bucket/home", 0}},
		{"to logical with home variables", UpdateUserInput{HomeDirectoryType: ptr("LOGICAL"), HomeDirectoryMappings: chroot},
			invalid("Policy", "cannot be used with a LOGICAL home directory"), home{"PATH", "/bucket/home", 0}},
	} {
		check(t, tc.name, f.svc.UpdateUser(f.ctx, id, "alice", tc.in), tc.want)
		d, err := f.svc.DescribeUser(f.ctx, id, "alice")
		if err != nil {
			t.Fatal(err)
		}
		u := d.User
		if got := (home{u.HomeDirectoryType, u.HomeDirectory, len(u.HomeDirectoryMappings)}); got != tc.home {
			t.Errorf("%s: home %+v, want %+v", tc.name, got, tc.home)
		}
	}
	d, _ := f.svc.DescribeUser(f.ctx, id, "alice")
	if d.User.Role != "arn:aws:iam::123456789012:role/sftp" || d.User.Policy != homePolicy || d.User.PosixProfile != nil || len(d.User.SSHPublicKeys) != 1 {
		t.Errorf("after the updates: %+v", d.User)
	}
	check(t, "unknown user", f.svc.UpdateUser(f.ctx, id, "nobody", UpdateUserInput{}), notFound("User", "nobody"))
	check(t, "unknown server", f.svc.UpdateUser(f.ctx, unknownServer, "alice", UpdateUserInput{}), notFound("Server", unknownServer))

	check(t, "delete", f.svc.DeleteUser(f.ctx, id, "alice"), want{})
	check(t, "delete again", f.svc.DeleteUser(f.ctx, id, "alice"), notFound("User", "alice"))
	check(t, "delete on unknown server", f.svc.DeleteUser(f.ctx, unknownServer, "alice"), notFound("Server", unknownServer))
}

func TestListUsersPages(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := f.server(t)
	other := f.server(t)
	var names []string
	for i := range 150 {
		name := fmt.Sprintf("user%03d", i)
		names = append(names, name)
		if err := f.svc.CreateUser(f.ctx, transfer.User{ServerID: id, UserName: name}); err != nil {
			t.Fatal(err)
		}
	}
	f.user(t, other, "someone")
	var got []string
	var sizes []int
	p := Page{MaxResults: 40}
	for {
		page, next, err := f.svc.ListUsers(f.ctx, id, p)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, userNames(page)...)
		sizes = append(sizes, len(page))
		for _, u := range page {
			if u.ARN != testAccount().UserARN(id, u.User.UserName) {
				t.Errorf("ARN %s", u.ARN)
			}
		}
		if next == "" {
			break
		}
		if len(sizes) > 10 {
			t.Fatal("too many pages")
		}
		// The token belongs to this server's list.
		_, _, err = f.svc.ListUsers(f.ctx, other, Page{NextToken: next})
		check(t, "token on another server", err, invalidToken())
		p.NextToken = next
	}
	if !slices.Equal(sizes, []int{40, 40, 40, 30}) {
		t.Errorf("page sizes %v, want [40 40 40 30]", sizes)
	}
	if !slices.Equal(got, names) {
		t.Errorf("listed %d users, want each of the 150 once, in order", len(got))
	}

	for _, tc := range []struct {
		name   string
		server string
		p      Page
		want   want
	}{
		{"unknown server", unknownServer, Page{}, notFound("Server", unknownServer)},
		{"MaxResults 0 is 1000", id, Page{}, want{}},
		{"MaxResults 1001", id, Page{MaxResults: 1001}, invalid("MaxResults", "")},
		{"bad token", id, Page{NextToken: "x"}, invalidToken()},
		{"servers token", id, Page{NextToken: nextToken(serversList(), id)}, invalidToken()},
	} {
		_, _, err := f.svc.ListUsers(f.ctx, tc.server, tc.p)
		check(t, tc.name, err, tc.want)
	}
}

func TestSSHPublicKeys(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := f.server(t)
	if err := f.svc.CreateUser(f.ctx, transfer.User{ServerID: id, UserName: "alice"}); err != nil {
		t.Fatal(err)
	}
	ed, ec, rs := authorizedKey(t, ed25519Key(t)), authorizedKey(t, ecdsaKey(t, elliptic.P521())), authorizedKey(t, rsaKey(t, 2048))
	var firstID string
	for _, tc := range []struct {
		name, server, user, body string
		want                     want
	}{
		{"ed25519", id, "alice", ed, want{}},
		{"ecdsa", id, "alice", ec, want{}},
		{"rsa", id, "alice", rs, want{}},
		{"duplicate", id, "alice", ed, want{kind: transfer.KindExists, resourceType: "SshPublicKey", text: "already exists"}},
		{"garbage", id, "alice", "hello", invalid("SshPublicKeyBody", "not an SSH public key")},
		{"empty", id, "alice", "", invalid("SshPublicKeyBody", "is empty")},
		{"unknown user", id, "bob", authorizedKey(t, ed25519Key(t)), notFound("User", "bob")},
		{"unknown server", unknownServer, "alice", authorizedKey(t, ed25519Key(t)), notFound("Server", unknownServer)},
	} {
		keyID, err := f.svc.ImportSSHPublicKey(f.ctx, tc.server, tc.user, tc.body)
		check(t, tc.name, err, tc.want)
		if tc.want.ok() && !transfer.ValidSSHPublicKeyID(keyID) {
			t.Errorf("%s: key ID %q", tc.name, keyID)
		}
		if firstID == "" {
			firstID = keyID
		}
		if tc.name == "duplicate" {
			check(t, "duplicate names the key it duplicates", err, want{kind: transfer.KindExists, resource: firstID})
		}
	}
	d, _ := f.svc.DescribeUser(f.ctx, id, "alice")
	if len(d.User.SSHPublicKeys) != 3 || d.User.SSHPublicKeys[0].SSHPublicKeyID != firstID {
		t.Fatalf("keys: %+v", d.User.SSHPublicKeys)
	}

	// At most 50 keys.
	for range transfer.MaxKeysPerUser - 3 {
		if _, err := f.svc.ImportSSHPublicKey(f.ctx, id, "alice", authorizedKey(t, ed25519Key(t))); err != nil {
			t.Fatal(err)
		}
	}
	_, err := f.svc.ImportSSHPublicKey(f.ctx, id, "alice", authorizedKey(t, ed25519Key(t)))
	check(t, "51st key", err, invalid("SshPublicKeyBody", "the most allowed"))

	for _, tc := range []struct {
		name, server, user, keyID string
		want                      want
	}{
		{"delete", id, "alice", firstID, want{}},
		{"delete again", id, "alice", firstID, want{kind: transfer.KindNotFound, resourceType: "SshPublicKey", resource: firstID}},
		{"malformed ID", id, "alice", "key-1", invalid("SshPublicKeyId", "key- and 17")},
		{"unknown user", id, "bob", "key-00000000000000000", notFound("User", "bob")},
		{"unknown server", unknownServer, "alice", "key-00000000000000000", notFound("Server", unknownServer)},
	} {
		check(t, tc.name, f.svc.DeleteSSHPublicKey(f.ctx, tc.server, tc.user, tc.keyID), tc.want)
	}
}
