package mgmtapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/transfer"
	"github.com/aws/aws-sdk-go-v2/service/transfer/types"
)

func tagOf(k, v string) types.Tag { return types.Tag{Key: aws.String(k), Value: aws.String(v)} }

func tagMap(tags []types.Tag) map[string]string {
	m := map[string]string{}
	for _, t := range tags {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return m
}

var (
	serverIDRE  = regexp.MustCompile(`^s-[0-9a-f]{17}$`)
	keyIDRE     = regexp.MustCompile(`^key-[0-9a-f]{17}$`)
	hostKeyIDRE = regexp.MustCompile(`^hostkey-[0-9a-f]{17}$`)
)

func TestServerOperations(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()

	created, err := e.client.CreateServer(ctx, &transfer.CreateServerInput{
		Domain:                        types.DomainS3,
		EndpointType:                  types.EndpointTypePublic,
		IpAddressType:                 types.IpAddressTypeIpv4,
		HostKey:                       aws.String(hostKeyPEM(t)),
		IdentityProviderType:          types.IdentityProviderTypeServiceManaged,
		PreAuthenticationLoginBanner:  aws.String("Authorized use only"),
		PostAuthenticationLoginBanner: aws.String("Welcome"),
		ProtocolDetails:               &types.ProtocolDetails{SetStatOption: types.SetStatOptionEnableNoOp},
		Protocols:                     []types.Protocol{types.ProtocolSftp},
		SecurityPolicyName:            aws.String("TransferSecurityPolicy-2023-05"),
		S3StorageOptions:              &types.S3StorageOptions{DirectoryListingOptimization: types.DirectoryListingOptimizationEnabled},
		Tags:                          []types.Tag{tagOf("env", "test"), tagOf("transferd:Endpoint", "127.0.0.1:2301")},
	})
	if err != nil {
		t.Fatalf("CreateServer: %v", err)
	}
	id := aws.ToString(created.ServerId)
	if !serverIDRE.MatchString(id) {
		t.Fatalf("ServerId %q", id)
	}

	d, err := e.client.DescribeServer(ctx, &transfer.DescribeServerInput{ServerId: &id})
	if err != nil {
		t.Fatalf("DescribeServer: %v", err)
	}
	s := d.Server
	for _, c := range []struct{ member, got, want string }{
		{"Arn", aws.ToString(s.Arn), "arn:aws:transfer:us-east-1:000000000000:server/" + id},
		{"Domain", string(s.Domain), "S3"},
		{"EndpointType", string(s.EndpointType), "PUBLIC"},
		{"IdentityProviderType", string(s.IdentityProviderType), "SERVICE_MANAGED"},
		{"IpAddressType", string(s.IpAddressType), "IPV4"},
		{"PreAuthenticationLoginBanner", aws.ToString(s.PreAuthenticationLoginBanner), "Authorized use only"},
		{"PostAuthenticationLoginBanner", aws.ToString(s.PostAuthenticationLoginBanner), "Welcome"},
		{"ProtocolDetails.SetStatOption", string(s.ProtocolDetails.SetStatOption), "ENABLE_NO_OP"},
		{"Protocols", fmt.Sprint(s.Protocols), "[SFTP]"},
		{"SecurityPolicyName", aws.ToString(s.SecurityPolicyName), "TransferSecurityPolicy-2023-05"},
		{"ServerId", aws.ToString(s.ServerId), id},
		{"State", string(s.State), "ONLINE"},
		{"Tags", fmt.Sprint(tagMap(s.Tags)), "map[env:test transferd:Endpoint:127.0.0.1:2301]"},
		{"UserCount", fmt.Sprint(aws.ToInt32(s.UserCount)), "0"},
	} {
		if c.got != c.want {
			t.Errorf("DescribeServer %s = %q, want %q", c.member, c.got, c.want)
		}
	}
	if fp := aws.ToString(s.HostKeyFingerprint); !strings.HasPrefix(fp, "SHA256:") {
		t.Errorf("HostKeyFingerprint %q", fp)
	}
	if s.S3StorageOptions != nil || s.EndpointDetails != nil || s.IdentityProviderDetails != nil {
		t.Errorf("DescribeServer has members transferd does not set: %+v", s)
	}
	// The extension member Endpoint, which the SDK does not see.
	raw := e.call("DescribeServer", `{"ServerId":"`+id+`"}`)
	var ext struct{ Server struct{ Endpoint string } }
	if err := json.Unmarshal(raw.body, &ext); err != nil || ext.Server.Endpoint != "127.0.0.1:2301" {
		t.Errorf("DescribeServer Endpoint = %q (%v), want 127.0.0.1:2301; body %s", ext.Server.Endpoint, err, raw.body)
	}

	updated, err := e.client.UpdateServer(ctx, &transfer.UpdateServerInput{
		ServerId:                     &id,
		PreAuthenticationLoginBanner: aws.String("Changed"),
		SecurityPolicyName:           aws.String("TransferSecurityPolicy-2024-01"),
		ProtocolDetails:              &types.ProtocolDetails{SetStatOption: types.SetStatOptionDefault},
	})
	if err != nil || aws.ToString(updated.ServerId) != id {
		t.Fatalf("UpdateServer: %v, %v", updated, err)
	}
	d, err = e.client.DescribeServer(ctx, &transfer.DescribeServerInput{ServerId: &id})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(d.Server.PreAuthenticationLoginBanner) + " " + aws.ToString(d.Server.SecurityPolicyName) + " " +
		string(d.Server.ProtocolDetails.SetStatOption) + " " + aws.ToString(d.Server.PostAuthenticationLoginBanner); got != "Changed TransferSecurityPolicy-2024-01 DEFAULT Welcome" {
		t.Errorf("after UpdateServer: %s", got)
	}
	// transferd's own SetStatOption goes through the SDK, which passes enum values it does not
	// know unchanged both ways.
	if _, err := e.client.UpdateServer(ctx, &transfer.UpdateServerInput{
		ServerId: &id, ProtocolDetails: &types.ProtocolDetails{SetStatOption: "STORE_METADATA"},
	}); err != nil {
		t.Fatalf("UpdateServer SetStatOption STORE_METADATA: %v", err)
	}
	if d, err = e.client.DescribeServer(ctx, &transfer.DescribeServerInput{ServerId: &id}); err != nil {
		t.Fatal(err)
	} else if got := d.Server.ProtocolDetails.SetStatOption; got != "STORE_METADATA" {
		t.Errorf("after UpdateServer SetStatOption STORE_METADATA: DescribeServer says %q", got)
	}

	for _, step := range []struct {
		name  string
		call  func() error
		state types.State
	}{
		{"StopServer", func() error { _, err := e.client.StopServer(ctx, &transfer.StopServerInput{ServerId: &id}); return err }, types.StateStopping},
		{"StartServer", func() error {
			_, err := e.client.StartServer(ctx, &transfer.StartServerInput{ServerId: &id})
			return err
		}, types.StateStarting},
	} {
		if err := step.call(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		d, err := e.client.DescribeServer(ctx, &transfer.DescribeServerInput{ServerId: &id})
		if err != nil {
			t.Fatal(err)
		}
		if d.Server.State != step.state {
			t.Errorf("after %s: State %s, want %s", step.name, d.Server.State, step.state)
		}
	}

	list, err := e.client.ListServers(ctx, &transfer.ListServersInput{})
	if err != nil {
		t.Fatalf("ListServers: %v", err)
	}
	if len(list.Servers) != 1 || list.NextToken != nil {
		t.Fatalf("ListServers: %+v", list)
	}
	ls := list.Servers[0]
	if got := fmt.Sprintf("%s %s %s %s %s %s %d", aws.ToString(ls.Arn), ls.Domain, ls.EndpointType, ls.IdentityProviderType,
		aws.ToString(ls.ServerId), ls.State, aws.ToInt32(ls.UserCount)); got != fmt.Sprintf("%s S3 PUBLIC SERVICE_MANAGED %s STARTING 0", aws.ToString(s.Arn), id) {
		t.Errorf("ListServers entry: %s", got)
	}
	raw = e.call("ListServers", `{}`)
	var rawList struct{ Servers []struct{ Endpoint string } }
	if err := json.Unmarshal(raw.body, &rawList); err != nil || len(rawList.Servers) != 1 || rawList.Servers[0].Endpoint != "127.0.0.1:2301" {
		t.Errorf("ListServers Endpoint: %s", raw.body)
	}

	if _, err := e.client.DeleteServer(ctx, &transfer.DeleteServerInput{ServerId: &id}); err != nil {
		t.Fatalf("DeleteServer: %v", err)
	}
	_, err = e.client.DescribeServer(ctx, &transfer.DescribeServerInput{ServerId: &id})
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) || aws.ToString(nf.Resource) != id || aws.ToString(nf.ResourceType) != "Server" {
		t.Errorf("DescribeServer after DeleteServer: %v", err)
	}
}

func TestCreateServerAllocatesEndpoint(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, tags := range [][]string{nil, {"transferd:Endpoint", ""}} {
		id := e.createServer(tags...)
		raw := e.call("DescribeServer", `{"ServerId":"`+id+`"}`)
		var d struct {
			Server struct {
				Endpoint string
				Tags     []struct{ Key, Value string }
			}
		}
		if err := json.Unmarshal(raw.body, &d); err != nil {
			t.Fatal(err)
		}
		// The endpoint shows as a tag too (the CLI drops the Endpoint member); no other tag is stored.
		want := []struct{ Key, Value string }{{"transferd:Endpoint", d.Server.Endpoint}}
		if !strings.HasPrefix(d.Server.Endpoint, "127.0.0.1:4") || !slices.Equal(d.Server.Tags, want) {
			t.Errorf("tags %q: Endpoint %q, Tags %v; want an allocated endpoint shown as the only tag", tags, d.Server.Endpoint, d.Server.Tags)
		}
	}
}

func TestUserOperations(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	id := e.createServer()
	key1 := userKey(t, "alice@laptop")
	const policy = `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::bucket/home/${transfer:UserName}/*"}}`

	created, err := e.client.CreateUser(ctx, &transfer.CreateUserInput{
		ServerId:         &id,
		UserName:         aws.String("alice"),
		Role:             aws.String("arn:aws:iam::000000000000:role/transfer-alice"),
		HomeDirectory:    aws.String("/bucket/home/alice"),
		Policy:           aws.String(policy),
		SshPublicKeyBody: &key1,
		Tags:             []types.Tag{tagOf("team", "blue")},
	})
	if err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	if aws.ToString(created.ServerId) != id || aws.ToString(created.UserName) != "alice" {
		t.Errorf("CreateUser output %+v", created)
	}

	before := time.Now().Add(-time.Minute)
	d, err := e.client.DescribeUser(ctx, &transfer.DescribeUserInput{ServerId: &id, UserName: aws.String("alice")})
	if err != nil {
		t.Fatalf("DescribeUser: %v", err)
	}
	if aws.ToString(d.ServerId) != id {
		t.Errorf("DescribeUser ServerId %q", aws.ToString(d.ServerId))
	}
	u := d.User
	for _, c := range []struct{ member, got, want string }{
		{"Arn", aws.ToString(u.Arn), "arn:aws:transfer:us-east-1:000000000000:user/" + id + "/alice"},
		{"HomeDirectory", aws.ToString(u.HomeDirectory), "/bucket/home/alice"},
		{"HomeDirectoryType", string(u.HomeDirectoryType), "PATH"},
		{"HomeDirectoryMappings", fmt.Sprint(len(u.HomeDirectoryMappings)), "0"},
		{"Policy", aws.ToString(u.Policy), policy},
		{"PosixProfile", fmt.Sprint(u.PosixProfile), "<nil>"},
		{"Role", aws.ToString(u.Role), "arn:aws:iam::000000000000:role/transfer-alice"},
		{"Tags", fmt.Sprint(tagMap(u.Tags)), "map[team:blue]"},
		{"UserName", aws.ToString(u.UserName), "alice"},
		{"SshPublicKeys", fmt.Sprint(len(u.SshPublicKeys)), "1"},
	} {
		if c.got != c.want {
			t.Errorf("DescribeUser %s = %q, want %q", c.member, c.got, c.want)
		}
	}
	if len(u.SshPublicKeys) == 1 {
		k := u.SshPublicKeys[0]
		if aws.ToString(k.SshPublicKeyBody) != key1 || !keyIDRE.MatchString(aws.ToString(k.SshPublicKeyId)) ||
			k.DateImported == nil || k.DateImported.Before(before) || k.DateImported.After(time.Now().Add(time.Minute)) {
			t.Errorf("SshPublicKeys[0] = %s %s %v", aws.ToString(k.SshPublicKeyBody), aws.ToString(k.SshPublicKeyId), k.DateImported)
		}
	}

	updated, err := e.client.UpdateUser(ctx, &transfer.UpdateUserInput{
		ServerId:          &id,
		UserName:          aws.String("alice"),
		HomeDirectoryType: types.HomeDirectoryTypeLogical,
		HomeDirectoryMappings: []types.HomeDirectoryMapEntry{
			{Entry: aws.String("/"), Target: aws.String("/bucket/home/${transfer:UserName}")},
		},
	})
	if err != nil || aws.ToString(updated.ServerId) != id || aws.ToString(updated.UserName) != "alice" {
		t.Fatalf("UpdateUser: %+v, %v", updated, err)
	}
	d, err = e.client.DescribeUser(ctx, &transfer.DescribeUserInput{ServerId: &id, UserName: aws.String("alice")})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(d.User.HomeDirectoryType, " ", aws.ToString(d.User.HomeDirectory), " ", len(d.User.HomeDirectoryMappings)); got != "LOGICAL  1" {
		t.Errorf("after UpdateUser: %s", got)
	} else if m := d.User.HomeDirectoryMappings[0]; aws.ToString(m.Entry) != "/" || aws.ToString(m.Target) != "/bucket/home/${transfer:UserName}" || m.Type != types.MapTypeDirectory {
		t.Errorf("mapping %s %s %s", aws.ToString(m.Entry), aws.ToString(m.Target), m.Type)
	}

	imported, err := e.client.ImportSshPublicKey(ctx, &transfer.ImportSshPublicKeyInput{
		ServerId: &id, UserName: aws.String("alice"), SshPublicKeyBody: aws.String(userKey(t, "second")),
	})
	if err != nil {
		t.Fatalf("ImportSshPublicKey: %v", err)
	}
	if aws.ToString(imported.ServerId) != id || aws.ToString(imported.UserName) != "alice" || !keyIDRE.MatchString(aws.ToString(imported.SshPublicKeyId)) {
		t.Errorf("ImportSshPublicKey output %+v", imported)
	}

	countKeys := func() int32 {
		t.Helper()
		l, err := e.client.ListUsers(ctx, &transfer.ListUsersInput{ServerId: &id})
		if err != nil {
			t.Fatalf("ListUsers: %v", err)
		}
		if aws.ToString(l.ServerId) != id || len(l.Users) != 1 {
			t.Fatalf("ListUsers: %+v", l)
		}
		lu := l.Users[0]
		if got := fmt.Sprint(aws.ToString(lu.Arn), " ", lu.HomeDirectoryType, " ", aws.ToString(lu.Role), " ", aws.ToString(lu.UserName)); got != aws.ToString(u.Arn)+" LOGICAL arn:aws:iam::000000000000:role/transfer-alice alice" {
			t.Errorf("ListUsers entry: %s", got)
		}
		return aws.ToInt32(lu.SshPublicKeyCount)
	}
	if n := countKeys(); n != 2 {
		t.Errorf("SshPublicKeyCount %d after import, want 2", n)
	}
	if _, err := e.client.DeleteSshPublicKey(ctx, &transfer.DeleteSshPublicKeyInput{
		ServerId: &id, UserName: aws.String("alice"), SshPublicKeyId: imported.SshPublicKeyId,
	}); err != nil {
		t.Fatalf("DeleteSshPublicKey: %v", err)
	}
	if n := countKeys(); n != 1 {
		t.Errorf("SshPublicKeyCount %d after delete, want 1", n)
	}
	ds, err := e.client.DescribeServer(ctx, &transfer.DescribeServerInput{ServerId: &id})
	if err != nil || aws.ToInt32(ds.Server.UserCount) != 1 {
		t.Errorf("UserCount after CreateUser: %v", err)
	}

	if _, err := e.client.DeleteUser(ctx, &transfer.DeleteUserInput{ServerId: &id, UserName: aws.String("alice")}); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	_, err = e.client.DescribeUser(ctx, &transfer.DescribeUserInput{ServerId: &id, UserName: aws.String("alice")})
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) || aws.ToString(nf.ResourceType) != "User" || aws.ToString(nf.Resource) == "" {
		t.Errorf("DescribeUser after DeleteUser: %v", err)
	}
}

// TestUserPolicyAndPosixProfile checks where session policies and POSIX profiles are accepted: a
// policy that transferd cannot evaluate and a profile on an S3-domain server are refused; a
// profile on an EFS-domain server round-trips.
func TestUserPolicyAndPosixProfile(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	s3 := e.createServer()
	out, err := e.client.CreateServer(ctx, &transfer.CreateServerInput{HostKey: aws.String(hostKeyPEM(t)), Domain: types.DomainEfs})
	if err != nil {
		t.Fatalf("CreateServer EFS: %v", err)
	}
	efs := aws.ToString(out.ServerId)
	role := aws.String("arn:aws:iam::000000000000:role/transfer-erin")
	var ire *types.InvalidRequestException
	_, err = e.client.CreateUser(ctx, &transfer.CreateUserInput{ServerId: &s3, UserName: aws.String("erin"), Role: role,
		PosixProfile: &types.PosixProfile{Uid: aws.Int64(1001), Gid: aws.Int64(1002)}})
	if !errors.As(err, &ire) || !strings.Contains(aws.ToString(ire.Message), "PosixProfile: POSIX profiles apply to EFS-domain servers") {
		t.Errorf("CreateUser with a PosixProfile on an S3 server: %v", err)
	}
	_, err = e.client.CreateUser(ctx, &transfer.CreateUserInput{ServerId: &s3, UserName: aws.String("erin"), Role: role,
		Policy: aws.String(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","NotPrincipal":{"AWS":"x"},"Action":"s3:*","Resource":"*"}}`)})
	if !errors.As(err, &ire) || !strings.Contains(aws.ToString(ire.Message), "Policy: Statement[0].NotPrincipal: a session policy has no principal") {
		t.Errorf("CreateUser with a policy transferd cannot evaluate: %v", err)
	}
	if _, err := e.client.CreateUser(ctx, &transfer.CreateUserInput{ServerId: &efs, UserName: aws.String("erin"), Role: role,
		HomeDirectory: aws.String("/fs-1/erin"),
		PosixProfile:  &types.PosixProfile{Uid: aws.Int64(1001), Gid: aws.Int64(1002), SecondaryGids: []int64{4294967295}}}); err != nil {
		t.Fatalf("CreateUser with a PosixProfile on an EFS server: %v", err)
	}
	d, err := e.client.DescribeUser(ctx, &transfer.DescribeUserInput{ServerId: &efs, UserName: aws.String("erin")})
	if err != nil {
		t.Fatal(err)
	}
	if p := d.User.PosixProfile; p == nil || fmt.Sprint(aws.ToInt64(p.Uid), aws.ToInt64(p.Gid), p.SecondaryGids) != "1001 1002 [4294967295]" {
		t.Errorf("DescribeUser PosixProfile = %+v", p)
	}
}

func TestHostKeyOperations(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	id := e.createServer()

	imported, err := e.client.ImportHostKey(ctx, &transfer.ImportHostKeyInput{
		ServerId: &id, HostKeyBody: aws.String(hostKeyPEM(t)), Description: aws.String("second key"),
		Tags: []types.Tag{tagOf("rotation", "2026")},
	})
	if err != nil {
		t.Fatalf("ImportHostKey: %v", err)
	}
	hk := aws.ToString(imported.HostKeyId)
	if aws.ToString(imported.ServerId) != id || !hostKeyIDRE.MatchString(hk) {
		t.Errorf("ImportHostKey output %+v", imported)
	}

	d, err := e.client.DescribeHostKey(ctx, &transfer.DescribeHostKeyInput{ServerId: &id, HostKeyId: &hk})
	if err != nil {
		t.Fatalf("DescribeHostKey: %v", err)
	}
	k := d.HostKey
	if got := fmt.Sprint(aws.ToString(k.Arn), " ", aws.ToString(k.Description), " ", aws.ToString(k.HostKeyId), " ",
		aws.ToString(k.Type), " ", tagMap(k.Tags)); got != "arn:aws:transfer:us-east-1:000000000000:host-key/"+id+"/"+hk+" second key "+hk+" ssh-ed25519 map[rotation:2026]" {
		t.Errorf("DescribeHostKey: %s", got)
	}
	if !strings.HasPrefix(aws.ToString(k.HostKeyFingerprint), "SHA256:") || k.DateImported == nil || time.Since(*k.DateImported) > time.Minute {
		t.Errorf("DescribeHostKey fingerprint %q, DateImported %v", aws.ToString(k.HostKeyFingerprint), k.DateImported)
	}

	up, err := e.client.UpdateHostKey(ctx, &transfer.UpdateHostKeyInput{ServerId: &id, HostKeyId: &hk, Description: aws.String("renamed")})
	if err != nil || aws.ToString(up.HostKeyId) != hk || aws.ToString(up.ServerId) != id {
		t.Fatalf("UpdateHostKey: %+v, %v", up, err)
	}

	l, err := e.client.ListHostKeys(ctx, &transfer.ListHostKeysInput{ServerId: &id})
	if err != nil {
		t.Fatalf("ListHostKeys: %v", err)
	}
	if aws.ToString(l.ServerId) != id || len(l.HostKeys) != 2 {
		t.Fatalf("ListHostKeys: %+v", l)
	}
	i := slices.IndexFunc(l.HostKeys, func(k types.ListedHostKey) bool { return aws.ToString(k.HostKeyId) == hk })
	if i < 0 {
		t.Fatalf("ListHostKeys lacks %s", hk)
	}
	lk := l.HostKeys[i]
	if aws.ToString(lk.Description) != "renamed" || aws.ToString(lk.Fingerprint) != aws.ToString(k.HostKeyFingerprint) ||
		aws.ToString(lk.Type) != "ssh-ed25519" || aws.ToString(lk.Arn) != aws.ToString(k.Arn) || !lk.DateImported.Equal(*k.DateImported) {
		t.Errorf("ListHostKeys entry %+v", lk)
	}

	if _, err := e.client.DeleteHostKey(ctx, &transfer.DeleteHostKeyInput{ServerId: &id, HostKeyId: &hk}); err != nil {
		t.Fatalf("DeleteHostKey: %v", err)
	}
	_, err = e.client.DescribeHostKey(ctx, &transfer.DescribeHostKeyInput{ServerId: &id, HostKeyId: &hk})
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) || aws.ToString(nf.Resource) != hk || aws.ToString(nf.ResourceType) != "HostKey" {
		t.Errorf("DescribeHostKey after DeleteHostKey: %v", err)
	}
}

func TestSecurityPolicyOperations(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()

	var names []string
	pages := 0
	p := transfer.NewListSecurityPoliciesPaginator(e.client, &transfer.ListSecurityPoliciesInput{MaxResults: aws.Int32(7)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("ListSecurityPolicies page %d: %v", pages, err)
		}
		pages++
		names = append(names, out.SecurityPolicyNames...)
	}
	if want := e.catalog.Names(); !slices.Equal(names, want) {
		t.Errorf("ListSecurityPolicies: %v\nwant %v", names, want)
	}
	if want := (len(names) + 6) / 7; pages != want {
		t.Errorf("%d pages, want %d", pages, want)
	}

	d, err := e.client.DescribeSecurityPolicy(ctx, &transfer.DescribeSecurityPolicyInput{SecurityPolicyName: aws.String("TransferSecurityPolicy-2024-01")})
	if err != nil {
		t.Fatalf("DescribeSecurityPolicy: %v", err)
	}
	want, err := e.catalog.Lookup("TransferSecurityPolicy-2024-01")
	if err != nil {
		t.Fatal(err)
	}
	sp := d.SecurityPolicy
	if aws.ToString(sp.SecurityPolicyName) != want.SecurityPolicyName || aws.ToBool(sp.Fips) != want.Fips ||
		!slices.Equal(sp.SshCiphers, want.SshCiphers) || !slices.Equal(sp.SshKexs, want.SshKexs) ||
		!slices.Equal(sp.SshMacs, want.SshMacs) || !slices.Equal(sp.TlsCiphers, want.TlsCiphers) ||
		string(sp.Type) != want.Type || fmt.Sprint(sp.Protocols) != fmt.Sprint(want.Protocols) {
		t.Errorf("DescribeSecurityPolicy: %+v\nwant %+v", sp, want)
	}
}

func TestTagOperations(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	id := e.createServer("a", "1")
	arn := "arn:aws:transfer:us-east-1:000000000000:server/" + id

	if _, err := e.client.TagResource(ctx, &transfer.TagResourceInput{Arn: &arn, Tags: []types.Tag{tagOf("b", "2"), tagOf("a", "one")}}); err != nil {
		t.Fatalf("TagResource: %v", err)
	}
	list := func() string {
		t.Helper()
		out, err := e.client.ListTagsForResource(ctx, &transfer.ListTagsForResourceInput{Arn: &arn})
		if err != nil {
			t.Fatalf("ListTagsForResource: %v", err)
		}
		if aws.ToString(out.Arn) != arn {
			t.Errorf("ListTagsForResource Arn %q", aws.ToString(out.Arn))
		}
		// The same tags as DescribeServer, with the listen address among them.
		ds, err := e.client.DescribeServer(ctx, &transfer.DescribeServerInput{ServerId: &id})
		if err != nil {
			t.Fatalf("DescribeServer: %v", err)
		}
		m := tagMap(out.Tags)
		if d := fmt.Sprint(tagMap(ds.Server.Tags)); d != fmt.Sprint(m) || m["transferd:Endpoint"] == "" {
			t.Errorf("ListTagsForResource %v; DescribeServer %s; want the same, with transferd:Endpoint", m, d)
		}
		delete(m, "transferd:Endpoint")
		return fmt.Sprint(m)
	}
	if got := list(); got != "map[a:one b:2]" {
		t.Errorf("after TagResource: %s", got)
	}
	if _, err := e.client.UntagResource(ctx, &transfer.UntagResourceInput{Arn: &arn, TagKeys: []string{"a"}}); err != nil {
		t.Fatalf("UntagResource: %v", err)
	}
	if got := list(); got != "map[b:2]" {
		t.Errorf("after UntagResource: %s", got)
	}
}

func TestListUsersPagination(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	id := e.createServer()
	var want []string
	for i := range 150 {
		name := fmt.Sprintf("user%03d", i)
		want = append(want, name)
		if _, err := e.client.CreateUser(ctx, &transfer.CreateUserInput{
			ServerId: &id, UserName: &name, Role: aws.String("arn:aws:iam::000000000000:role/transfer"),
		}); err != nil {
			t.Fatalf("CreateUser %s: %v", name, err)
		}
	}
	var got []string
	var sizes []int
	p := transfer.NewListUsersPaginator(e.client, &transfer.ListUsersInput{ServerId: &id, MaxResults: aws.Int32(40)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("ListUsers page %d: %v", len(sizes), err)
		}
		sizes = append(sizes, len(out.Users))
		for _, u := range out.Users {
			got = append(got, aws.ToString(u.UserName))
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("ListUsers names:\n%v\nwant\n%v", got, want)
	}
	if fmt.Sprint(sizes) != "[40 40 40 30]" {
		t.Errorf("page sizes %v, want [40 40 40 30]", sizes)
	}
}

func TestListServersPagination(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	var want []string
	for range 5 {
		want = append(want, e.createServer())
	}
	slices.Sort(want)
	var got []string
	pages := 0
	p := transfer.NewListServersPaginator(e.client, &transfer.ListServersInput{MaxResults: aws.Int32(2)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("ListServers page %d: %v", pages, err)
		}
		pages++
		for _, s := range out.Servers {
			got = append(got, aws.ToString(s.ServerId))
		}
	}
	if !slices.Equal(got, want) || pages != 3 {
		t.Errorf("ListServers over %d pages: %v, want %v over 3", pages, got, want)
	}
}

// TestIdentityProviderServers checks that a custom identity provider's details round-trip
// through CreateServer, DescribeServer and UpdateServer, and TestIdentityProvider's errors for
// servers that do not have one, with Transfer Family's messages.
func TestIdentityProviderServers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	out, err := e.client.CreateServer(ctx, &transfer.CreateServerInput{HostKey: aws.String(hostKeyPEM(t)),
		IdentityProviderType: types.IdentityProviderTypeApiGateway,
		IdentityProviderDetails: &types.IdentityProviderDetails{Url: aws.String("https://abc.execute-api.eu-west-1.amazonaws.com/prod"),
			InvocationRole: aws.String("arn:aws:iam::000000000000:role/idp")}})
	if err != nil {
		t.Fatalf("CreateServer API_GATEWAY: %v", err)
	}
	id := aws.ToString(out.ServerId)
	describe := func() *types.IdentityProviderDetails {
		t.Helper()
		d, err := e.client.DescribeServer(ctx, &transfer.DescribeServerInput{ServerId: &id})
		if err != nil {
			t.Fatal(err)
		}
		return d.Server.IdentityProviderDetails
	}
	d := describe()
	if d == nil || aws.ToString(d.Url) != "https://abc.execute-api.eu-west-1.amazonaws.com/prod" ||
		aws.ToString(d.InvocationRole) != "arn:aws:iam::000000000000:role/idp" || d.SftpAuthenticationMethods != types.SftpAuthenticationMethodsPublicKeyOrPassword {
		t.Errorf("DescribeServer IdentityProviderDetails = %+v", d)
	}
	if _, err := e.client.UpdateServer(ctx, &transfer.UpdateServerInput{ServerId: &id, IdentityProviderType: types.IdentityProviderTypeAwsLambda,
		IdentityProviderDetails: &types.IdentityProviderDetails{Function: aws.String("arn:aws:lambda:eu-west-1:000000000000:function:idp"),
			SftpAuthenticationMethods: types.SftpAuthenticationMethodsPassword}}); err != nil {
		t.Fatalf("UpdateServer to AWS_LAMBDA: %v", err)
	}
	if d := describe(); d == nil || aws.ToString(d.Function) != "arn:aws:lambda:eu-west-1:000000000000:function:idp" || d.Url != nil ||
		d.SftpAuthenticationMethods != types.SftpAuthenticationMethodsPassword {
		t.Errorf("after UpdateServer: %+v", d)
	}
	_, err = e.client.CreateUser(ctx, &transfer.CreateUserInput{ServerId: &id, UserName: aws.String("alice"), Role: aws.String("arn:aws:iam::000000000000:role/x")})
	var ire *types.InvalidRequestException
	if !errors.As(err, &ire) || !strings.Contains(aws.ToString(ire.Message), "users can be created only on SERVICE_MANAGED servers") {
		t.Errorf("CreateUser on an AWS_LAMBDA server: %v", err)
	}

	managed := e.createServer()
	_, err = e.client.TestIdentityProvider(ctx, &transfer.TestIdentityProviderInput{ServerId: &managed, UserName: aws.String("alice")})
	if !errors.As(err, &ire) || aws.ToString(ire.Message) != managed+" not configured for external auth" {
		t.Errorf("TestIdentityProvider on a SERVICE_MANAGED server: %v", err)
	}
	unknown := "s-00000000000000000"
	_, err = e.client.TestIdentityProvider(ctx, &transfer.TestIdentityProviderInput{ServerId: &unknown, UserName: aws.String("alice")})
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) || aws.ToString(nf.Message) != "Unknown server" {
		t.Errorf("TestIdentityProvider on an unknown server: %v", err)
	}
	_, err = e.client.TestIdentityProvider(ctx, &transfer.TestIdentityProviderInput{ServerId: &id, UserName: aws.String("alice"), SourceIp: aws.String("not-an-ip")})
	if !errors.As(err, &ire) || !strings.Contains(aws.ToString(ire.Message), "SourceIp") {
		t.Errorf("TestIdentityProvider with a bad SourceIp: %v", err)
	}
}
