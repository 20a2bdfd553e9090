package control

import (
	"cmp"
	"crypto/elliptic"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/transferd/transferd/internal/policy"
	"github.com/transferd/transferd/internal/transfer"
)

func connectorPolicy(t *testing.T) string {
	t.Helper()
	c, err := policy.NewCatalog()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range c.Policies() {
		if !p.IsServer() {
			return p.SecurityPolicyName
		}
	}
	t.Fatal("the catalog has no connector policy")
	return ""
}

func TestCreateServer(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	hostKey := privatePEM(t, ed25519Key(t))
	taken, err := f.svc.CreateServer(f.ctx, CreateServerInput{Endpoint: "127.0.0.1:2222", HostKey: privatePEM(t, ed25519Key(t))})
	if err != nil {
		t.Fatal(err)
	}
	f.notes.take()
	encrypted, err := ssh.MarshalPrivateKeyWithPassphrase(ed25519Key(t), "", []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	manyTags := make([]transfer.Tag, 51)
	for i := range manyTags {
		manyTags[i] = transfer.Tag{Key: fmt.Sprintf("k%d", i)}
	}
	for _, tc := range []struct {
		name string
		in   CreateServerInput
		want want
	}{
		{"defaults", CreateServerInput{HostKey: hostKey}, want{}},
		{"all set", CreateServerInput{Endpoint: "[::1]:2300", SecurityPolicyName: "TransferSecurityPolicy-2018-11",
			PreAuthenticationLoginBanner: "Authorized use only\n", Domain: transfer.DomainEFS, Protocols: []string{"SFTP"},
			SetStatOption: transfer.SetStatEnableNoOp, LoggingRole: "arn:aws:iam::123456789012:role/logs",
			HostKey: privatePEM(t, ecdsaKey(t, elliptic.P256())), Tags: []transfer.Tag{{Key: "team", Value: "data"}}}, want{}},
		{"config ID", CreateServerInput{ServerID: "s-0123456789abcdef0", Endpoint: "127.0.0.1:2301", HostKey: privatePEM(t, ed25519Key(t)),
			Source: transfer.SourceConfig}, want{}},
		{"ID exists", CreateServerInput{ServerID: taken, HostKey: hostKey}, want{kind: transfer.KindExists, resourceType: "Server", resource: taken}},
		{"bad ID", CreateServerInput{ServerID: "s-123", HostKey: hostKey}, invalid("ServerId", "s- and 17")},
		{"policy typo", CreateServerInput{SecurityPolicyName: "TransferSecurityPolicy-2024-1"}, invalid("SecurityPolicyName", "did you mean TransferSecurityPolicy-2024-01?")},
		{"policy unknown", CreateServerInput{SecurityPolicyName: "Nothing"}, invalid("SecurityPolicyName", "is not a security policy")},
		{"connector policy", CreateServerInput{SecurityPolicyName: connectorPolicy(t)}, invalid("SecurityPolicyName", "servers need a SERVER policy")},
		{"FTP", CreateServerInput{Protocols: []string{"SFTP", "FTP"}}, invalid("Protocols[1]", "FTP is not supported")},
		{"protocol typo", CreateServerInput{Protocols: []string{"SCP"}}, invalid("Protocols[0]", "not a Transfer Family protocol")},
		{"protocol twice", CreateServerInput{Protocols: []string{"SFTP", "SFTP"}}, invalid("Protocols[1]", "also Protocols[0]")},
		{"API Gateway", CreateServerInput{IdentityProviderType: transfer.IdentityAPIGateway, HostKey: privatePEM(t, ed25519Key(t)),
			IdentityProviderDetails: transfer.IdentityProviderDetails{URL: "https://abc.execute-api.us-east-1.amazonaws.com/prod",
				InvocationRole: "arn:aws:iam::123456789012:role/idp", SftpAuthenticationMethods: transfer.AuthPublicKeyAndPassword}}, want{}},
		{"lambda", CreateServerInput{IdentityProviderType: transfer.IdentityLambda, HostKey: privatePEM(t, ed25519Key(t)),
			IdentityProviderDetails: transfer.IdentityProviderDetails{Function: "arn:aws:lambda:us-east-1:123456789012:function:idp"}}, want{}},
		{"lambda without function", CreateServerInput{IdentityProviderType: transfer.IdentityLambda}, invalid("IdentityProviderDetails.Function", "is required")},
		{"lambda bad function", CreateServerInput{IdentityProviderType: transfer.IdentityLambda,
			IdentityProviderDetails: transfer.IdentityProviderDetails{Function: "idp"}}, invalid("IdentityProviderDetails.Function", "not a Lambda function ARN")},
		{"API Gateway without URL", CreateServerInput{IdentityProviderType: transfer.IdentityAPIGateway}, invalid("IdentityProviderDetails.Url", "is required")},
		{"API Gateway bad URL", CreateServerInput{IdentityProviderType: transfer.IdentityAPIGateway,
			IdentityProviderDetails: transfer.IdentityProviderDetails{URL: "ftp://idp"}}, invalid("IdentityProviderDetails.Url", "http:// or https://")},
		{"API Gateway with a function", CreateServerInput{IdentityProviderType: transfer.IdentityAPIGateway,
			IdentityProviderDetails: transfer.IdentityProviderDetails{URL: "http://idp", Function: "arn:aws:lambda:us-east-1:1:function:f"}}, invalid("IdentityProviderDetails.Function", "not API_GATEWAY")},
		{"methods typo", CreateServerInput{IdentityProviderType: transfer.IdentityAPIGateway,
			IdentityProviderDetails: transfer.IdentityProviderDetails{URL: "http://idp", SftpAuthenticationMethods: "KEY"}}, invalid("IdentityProviderDetails.SftpAuthenticationMethods", "must be PASSWORD")},
		{"details on service-managed", CreateServerInput{IdentityProviderDetails: transfer.IdentityProviderDetails{URL: "http://idp"}},
			invalid("IdentityProviderDetails", "must be empty with IdentityProviderType SERVICE_MANAGED")},
		{"directory service", CreateServerInput{IdentityProviderType: transfer.IdentityDirectoryService}, invalid("IdentityProviderType", "not supported by transferd")},
		{"identity typo", CreateServerInput{IdentityProviderType: "LDAP"}, invalid("IdentityProviderType", "must be SERVICE_MANAGED")},
		{"domain", CreateServerInput{Domain: "FSX"}, invalid("Domain", "S3 or EFS")},
		{"setstat", CreateServerInput{SetStatOption: "IGNORE"}, invalid("ProtocolDetails.SetStatOption", "DEFAULT, ENABLE_NO_OP or STORE_METADATA")},
		{"banner", CreateServerInput{PreAuthenticationLoginBanner: "caf\u00e9"}, invalid("PreAuthenticationLoginBanner", "printable ASCII")},
		{"post banner", CreateServerInput{PostAuthenticationLoginBanner: strings.Repeat("x", 4097)}, invalid("PostAuthenticationLoginBanner", "at most 4096")},
		{"logging role", CreateServerInput{LoggingRole: "logs"}, invalid("LoggingRole", "IAM role ARN")},
		{"aws tag", CreateServerInput{Tags: []transfer.Tag{{Key: "aws:x"}}}, invalid("Tags[0].Key", "reserves")},
		{"empty tag key", CreateServerInput{Tags: []transfer.Tag{{Key: ""}}}, invalid("Tags[0].Key", "required")},
		{"long tag value", CreateServerInput{Tags: []transfer.Tag{{Key: "k", Value: strings.Repeat("v", 257)}}}, invalid("Tags[0].Value", "at most 256")},
		{"tag twice", CreateServerInput{Tags: []transfer.Tag{{Key: "k"}, {Key: "k"}}}, invalid("Tags[1].Key", "also the Key of Tags[0]")},
		{"51 tags", CreateServerInput{Tags: manyTags}, invalid("Tags", "at most 50")},
		{"endpoint no port", CreateServerInput{Endpoint: "127.0.0.1"}, invalid("Endpoint", "has no port")},
		{"endpoint port 0", CreateServerInput{Endpoint: "127.0.0.1:0"}, invalid("Endpoint", "1 to 65535")},
		{"endpoint port big", CreateServerInput{Endpoint: "127.0.0.1:70000"}, invalid("Endpoint", "1 to 65535")},
		{"endpoint bad host", CreateServerInput{Endpoint: "a b:22"}, invalid("Endpoint", "neither an IP address nor a host name")},
		{"endpoint taken", CreateServerInput{Endpoint: "127.0.0.1:2222"}, invalid("Endpoint", "already the endpoint of server "+taken)},
		{"endpoint overlaps", CreateServerInput{Endpoint: ":2222"}, invalid("Endpoint", "all interfaces")},
		{"encrypted host key", CreateServerInput{HostKey: string(pem.EncodeToMemory(encrypted))}, invalid("HostKey", "encrypted with a passphrase")},
		{"small RSA host key", CreateServerInput{HostKey: privatePEM(t, rsaKey(t, 1024))}, invalid("HostKey", "1024 bits; at least 2048")},
		{"public key as host key", CreateServerInput{HostKey: authorizedKey(t, ed25519Key(t))}, invalid("HostKey", "not a private key")},
	} {
		id, err := f.svc.CreateServer(f.ctx, tc.in)
		check(t, tc.name, err, tc.want)
		notes := f.notes.take()
		if !tc.want.ok() {
			if len(notes) != 0 {
				t.Errorf("%s: failed, yet the notifier was told about %v", tc.name, notes)
			}
			continue
		}
		if !slices.Equal(notes, []string{id}) {
			t.Errorf("%s: notifier told %v, want [%s]", tc.name, notes, id)
		}
		d, err := f.svc.DescribeServer(f.ctx, id)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		s := d.Server
		if d.ARN != "arn:aws:transfer:eu-west-1:123456789012:server/"+id || s.State != transfer.StateOnline ||
			!strings.HasPrefix(d.HostKeyFingerprint, "SHA256:") || d.UserCount != 0 || s.CreatedAt.IsZero() {
			t.Errorf("%s: described %+v", tc.name, d)
		}
		if tc.in.ServerID != "" && id != tc.in.ServerID {
			t.Errorf("%s: ID %s, want %s", tc.name, id, tc.in.ServerID)
		}
		if got, want := s.Source, cmp.Or(tc.in.Source, transfer.SourceAPI); got != want {
			t.Errorf("%s: Source %q, want %q", tc.name, got, want)
		}
		if want := append(slices.Clone(tc.in.Tags), transfer.Tag{Key: transfer.EndpointTag, Value: s.Endpoint}); !slices.Equal(d.Tags, want) {
			t.Errorf("%s: tags %v, want %v", tc.name, d.Tags, want)
		}
		if want := tc.in.IdentityProviderDetails; !want.IsZero() {
			want.SftpAuthenticationMethods = cmp.Or(want.SftpAuthenticationMethods, transfer.AuthPublicKeyOrPassword)
			if s.IdentityProviderDetails != want {
				t.Errorf("%s: identity provider details %+v, want %+v", tc.name, s.IdentityProviderDetails, want)
			}
		}
	}

	// The defaults, field by field.
	id, err := f.svc.CreateServer(f.ctx, CreateServerInput{HostKey: privatePEM(t, ed25519Key(t))})
	if err != nil {
		t.Fatal(err)
	}
	d, _ := f.svc.DescribeServer(f.ctx, id)
	got := fmt.Sprintf("%s %s %s %v %s %s", d.Server.SecurityPolicyName, d.Server.Domain, d.Server.IdentityProviderType,
		d.Server.Protocols, d.Server.SetStatOption, d.Server.Source)
	if want := "TransferSecurityPolicy-2024-01 S3 SERVICE_MANAGED [SFTP] DEFAULT api"; got != want {
		t.Errorf("defaults: got %s, want %s", got, want)
	}
	if !strings.HasPrefix(d.Server.Endpoint, "127.0.0.1:400") {
		t.Errorf("allocated endpoint %q, want one of the allocator's", d.Server.Endpoint)
	}
}

func TestCreateServerWithoutAllocator(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.svc.alloc = nil
	_, err := f.svc.CreateServer(f.ctx, CreateServerInput{HostKey: privatePEM(t, ed25519Key(t))})
	check(t, "no endpoint, no allocator", err, invalid("Endpoint", "is required"))
}

func TestDescribeServer(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := f.server(t)
	f.user(t, id, "alice")
	f.user(t, id, "bob")
	d, err := f.svc.DescribeServer(f.ctx, id)
	if err != nil || d.UserCount != 2 {
		t.Fatalf("DescribeServer = %+v, %v; want UserCount 2", d, err)
	}
	_, err = f.svc.DescribeServer(f.ctx, unknownServer)
	check(t, "unknown server", err, want{kind: transfer.KindNotFound, resourceType: "Server", resource: unknownServer, text: "Unknown server"})
	_, err = f.svc.DescribeServer(f.ctx, "nope")
	check(t, "malformed ID", err, invalid("ServerId", "not a server ID"))
}

func TestUpdateServer(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := f.server(t)
	other, err := f.svc.CreateServer(f.ctx, CreateServerInput{Endpoint: "127.0.0.1:2222", HostKey: privatePEM(t, ed25519Key(t))})
	if err != nil {
		t.Fatal(err)
	}
	f.notes.take()
	before, _ := f.svc.DescribeServer(f.ctx, id)
	for _, tc := range []struct {
		name string
		id   string
		in   UpdateServerInput
		want want
	}{
		{"nothing", id, UpdateServerInput{}, want{}},
		{"policy and banner", id, UpdateServerInput{SecurityPolicyName: ptr("TransferSecurityPolicy-2018-11"), PreAuthenticationLoginBanner: ptr("hi")}, want{}},
		{"endpoint", id, UpdateServerInput{Endpoint: ptr("127.0.0.1:2400")}, want{}},
		{"unknown server", unknownServer, UpdateServerInput{}, notFound("Server", unknownServer)},
		{"policy typo", id, UpdateServerInput{SecurityPolicyName: ptr("TransferSecurityPolicy-2018-1")}, invalid("SecurityPolicyName", "did you mean TransferSecurityPolicy-2018-11?")},
		{"FTP", id, UpdateServerInput{Protocols: []string{"FTP"}}, invalid("Protocols[0]", "not supported")},
		{"no protocols", id, UpdateServerInput{Protocols: []string{}}, invalid("Protocols", "1 to 4")},
		{"endpoint taken", id, UpdateServerInput{Endpoint: ptr("127.0.0.1:2222")}, invalid("Endpoint", "server "+other)},
		{"endpoint empty", id, UpdateServerInput{Endpoint: ptr("")}, invalid("Endpoint", "must not be empty")},
		{"setstat", id, UpdateServerInput{SetStatOption: ptr("NO")}, invalid("ProtocolDetails.SetStatOption", "")},
		{"bad host key", id, UpdateServerInput{HostKey: ptr("junk")}, invalid("HostKey", "not a private key")},
		{"to lambda without details", id, UpdateServerInput{IdentityProviderType: ptr(transfer.IdentityLambda)}, invalid("IdentityProviderDetails.Function", "is required")},
		{"to API Gateway", id, UpdateServerInput{IdentityProviderType: ptr(transfer.IdentityAPIGateway),
			IdentityProviderDetails: &IdentityDetailsUpdate{URL: ptr("http://127.0.0.1:9/idp"), SftpAuthenticationMethods: ptr(transfer.AuthPublicKeyAndPassword)}}, want{}},
		{"URL only", id, UpdateServerInput{IdentityProviderDetails: &IdentityDetailsUpdate{URL: ptr("http://127.0.0.1:10/idp")}}, want{}},
		{"back to service-managed", id, UpdateServerInput{IdentityProviderType: ptr(transfer.IdentityServiceManaged)}, want{}},
	} {
		if tc.name == "back to service-managed" {
			// Changing only the URL kept the authentication methods.
			d, _ := f.svc.DescribeServer(f.ctx, id)
			if got := d.Server.IdentityProviderDetails; got.URL != "http://127.0.0.1:10/idp" || got.SftpAuthenticationMethods != transfer.AuthPublicKeyAndPassword {
				t.Errorf("after changing the URL only: %+v", got)
			}
		}
		err := f.svc.UpdateServer(f.ctx, tc.id, tc.in)
		check(t, tc.name, err, tc.want)
		notes := f.notes.take()
		if tc.want.ok() != (len(notes) == 1) {
			t.Errorf("%s: notifier told %v", tc.name, notes)
		}
	}
	d, _ := f.svc.DescribeServer(f.ctx, id)
	s := d.Server
	if s.IdentityProviderType != transfer.IdentityServiceManaged || !s.IdentityProviderDetails.IsZero() {
		t.Errorf("back to SERVICE_MANAGED: %s %+v", s.IdentityProviderType, s.IdentityProviderDetails)
	}
	// A server with users cannot move to a custom identity provider: they would be ignored.
	f.user(t, id, "alice")
	check(t, "to a custom provider with users", f.svc.UpdateServer(f.ctx, id, UpdateServerInput{IdentityProviderType: ptr(transfer.IdentityAPIGateway),
		IdentityProviderDetails: &IdentityDetailsUpdate{URL: ptr("http://127.0.0.1:9/idp")}}), invalid("IdentityProviderType", "has 1 service-managed users"))
	f.notes.take()
	if s.SecurityPolicyName != "TransferSecurityPolicy-2018-11" || s.PreAuthenticationLoginBanner != "hi" ||
		s.Endpoint != "127.0.0.1:2400" || s.Domain != before.Server.Domain || !slices.Equal(s.Protocols, []string{"SFTP"}) {
		t.Errorf("after the updates: %+v", s)
	}

	// A HostKey replaces the key of its type and adds one of a new type.
	keys := func() []transfer.HostKey {
		t.Helper()
		ks, err := f.store.ListHostKeys(f.ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return ks
	}
	old := keys()
	newEd := ed25519Key(t)
	if err := f.svc.UpdateServer(f.ctx, id, UpdateServerInput{HostKey: ptr(privatePEM(t, newEd))}); err != nil {
		t.Fatal(err)
	}
	ks := keys()
	if len(old) != 1 || len(ks) != 1 || ks[0].Fingerprint != fingerprintOf(t, newEd) {
		t.Fatalf("ED25519 replaced by ED25519: before %v, after %v", old, ks)
	}
	ec := ecdsaKey(t, elliptic.P384())
	if err := f.svc.UpdateServer(f.ctx, id, UpdateServerInput{HostKey: ptr(privatePEM(t, ec))}); err != nil {
		t.Fatal(err)
	}
	if ks = keys(); len(ks) != 2 || ks[1].Type != ssh.KeyAlgoECDSA384 {
		t.Fatalf("ECDSA added next to ED25519: %v", ks)
	}
	// With a newer ED25519 key staged, the replacement takes the served (oldest) key's place.
	staged := ed25519Key(t)
	if _, err := f.svc.ImportHostKey(f.ctx, id, privatePEM(t, staged), "", nil); err != nil {
		t.Fatal(err)
	}
	third := ed25519Key(t)
	if err := f.svc.UpdateServer(f.ctx, id, UpdateServerInput{HostKey: ptr(privatePEM(t, third))}); err != nil {
		t.Fatal(err)
	}
	var eds []string
	for _, k := range keys() {
		if k.Type == ssh.KeyAlgoED25519 {
			eds = append(eds, k.Fingerprint)
		}
	}
	if want := []string{fingerprintOf(t, third), fingerprintOf(t, staged)}; !slices.Equal(eds, want) {
		t.Errorf("ED25519 keys oldest first after replacing with one staged: %v, want %v (the new key served, the staged one still staged)", eds, want)
	}
}

func TestDeleteServer(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := f.server(t)
	f.user(t, id, "alice")
	if err := f.svc.TagResource(f.ctx, testAccount().ServerARN(id), []transfer.Tag{{Key: "k"}}); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.DeleteServer(f.ctx, id); err != nil {
		t.Fatal(err)
	}
	if notes := f.notes.take(); !slices.Equal(notes, []string{id}) {
		t.Errorf("notifier told %v, want [%s]", notes, id)
	}
	_, err := f.svc.DescribeServer(f.ctx, id)
	check(t, "describe deleted", err, notFound("Server", id))
	_, err = f.svc.DescribeUser(f.ctx, id, "alice")
	check(t, "user of deleted", err, notFound("Server", id))
	check(t, "delete again", f.svc.DeleteServer(f.ctx, id), notFound("Server", id))
	if notes := f.notes.take(); len(notes) != 0 {
		t.Errorf("a failed delete told the notifier %v", notes)
	}
}

func TestServerStates(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := f.server(t)
	state := func() string {
		t.Helper()
		d, err := f.svc.DescribeServer(f.ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return d.Server.State
	}
	steps := []struct {
		name   string
		op     func() error
		state  string
		notify bool
	}{
		{"start online", func() error { return f.svc.StartServer(f.ctx, id) }, transfer.StateOnline, false},
		{"stop", func() error { return f.svc.StopServer(f.ctx, id) }, transfer.StateStopping, true},
		{"stop stopping", func() error { return f.svc.StopServer(f.ctx, id) }, transfer.StateStopping, false},
		{"daemon: offline", func() error { return f.svc.SetServerState(f.ctx, id, transfer.StateOffline) }, transfer.StateOffline, false},
		{"stop offline", func() error { return f.svc.StopServer(f.ctx, id) }, transfer.StateOffline, false},
		{"start", func() error { return f.svc.StartServer(f.ctx, id) }, transfer.StateStarting, true},
		{"daemon: failed", func() error { return f.svc.SetServerState(f.ctx, id, transfer.StateStartFailed) }, transfer.StateStartFailed, false},
		{"start again", func() error { return f.svc.StartServer(f.ctx, id) }, transfer.StateStarting, true},
		{"daemon: online", func() error { return f.svc.SetServerState(f.ctx, id, transfer.StateOnline) }, transfer.StateOnline, false},
	}
	for _, st := range steps {
		if err := st.op(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got := state(); got != st.state {
			t.Errorf("%s: state %s, want %s", st.name, got, st.state)
		}
		if notes := f.notes.take(); (len(notes) == 1) != st.notify {
			t.Errorf("%s: notifier told %v, want told: %v", st.name, notes, st.notify)
		}
	}
	check(t, "start unknown", f.svc.StartServer(f.ctx, unknownServer), notFound("Server", unknownServer))
	check(t, "stop unknown", f.svc.StopServer(f.ctx, unknownServer), notFound("Server", unknownServer))
	check(t, "bad state", f.svc.SetServerState(f.ctx, id, "RUNNING"), invalid("State", "not a server state"))
}

func TestListServers(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var ids []string
	for range 5 {
		id := f.server(t)
		ids = append(ids, id)
		f.user(t, id, "alice")
	}
	slices.Sort(ids)
	var got []string
	p := Page{MaxResults: 2}
	for pages := 0; ; pages++ {
		list, next, err := f.svc.ListServers(f.ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range list {
			got = append(got, s.Server.ServerID)
			if s.UserCount != 1 || s.ARN != testAccount().ServerARN(s.Server.ServerID) {
				t.Errorf("summary %+v", s)
			}
		}
		if next == "" {
			if pages != 2 || len(list) != 1 {
				t.Errorf("last page was page %d with %d servers; want page 2 with 1", pages, len(list))
			}
			break
		}
		p.NextToken = next
	}
	if !slices.Equal(got, ids) {
		t.Errorf("listed %v, want %v", got, ids)
	}
	all, next, err := f.svc.ListServers(f.ctx, Page{})
	if err != nil || len(all) != 5 || next != "" {
		t.Errorf("default page: %d servers, token %q, %v", len(all), next, err)
	}

	f.user(t, ids[0], "bob")
	_, usersToken, err := f.svc.ListUsers(f.ctx, ids[0], Page{MaxResults: 1})
	if err != nil || usersToken == "" {
		t.Fatalf("ListUsers: %q, %v", usersToken, err)
	}
	for _, tc := range []struct {
		name string
		p    Page
		want want
	}{
		{"MaxResults 1000", Page{MaxResults: 1000}, want{}},
		{"MaxResults 1001", Page{MaxResults: 1001}, invalid("MaxResults", "1 to 1000")},
		{"MaxResults -1", Page{MaxResults: -1}, invalid("MaxResults", "1 to 1000")},
		{"garbage token", Page{NextToken: "!!!"}, invalidToken()},
		{"token of another list", Page{NextToken: usersToken}, invalidToken()},
		{"forged token", Page{NextToken: nextToken(serversList(), "not-an-id")}, invalidToken()},
		{"long token", Page{NextToken: strings.Repeat("A", 7000)}, invalidToken()},
	} {
		_, _, err := f.svc.ListServers(f.ctx, tc.p)
		check(t, tc.name, err, tc.want)
	}
}

func TestEndpointConflicts(t *testing.T) {
	t.Parallel()
	servers := []transfer.Server{{ServerID: "s-1", Endpoint: "127.0.0.1:2222"}, {ServerID: "s-2", Endpoint: ":3333"}}
	for _, tc := range []struct {
		ep   string
		want string // "" = free
	}{
		{"127.0.0.1:2223", ""},
		{"127.0.0.2:2222", ""},
		{"localhost:2224", ""},
		{"127.0.0.1:2222", "already the endpoint of server s-1"},
		{"[::ffff:127.0.0.1]:2222", "same address"},
		{"0.0.0.0:2222", "all interfaces"},
		{"10.0.0.1:3333", "all interfaces"},
	} {
		err := checkEndpoint(tc.ep, "s-3", servers)
		if tc.want == "" {
			check(t, tc.ep, err, want{})
		} else {
			check(t, tc.ep, err, invalid("Endpoint", tc.want))
		}
	}
	// A server does not conflict with itself.
	check(t, "itself", checkEndpoint("127.0.0.1:2222", "s-1", servers), want{})
}
