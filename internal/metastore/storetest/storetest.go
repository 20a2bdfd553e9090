// Package storetest is the conformance suite every metastore backend passes: SQLite today,
// PostgreSQL later. A backend's test calls Run with a function that opens a fresh, empty store.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/transferd/transferd/internal/transfer"
)

// Servers stores servers.
type Servers interface {
	CreateServer(ctx context.Context, srv *transfer.Server) error
	GetServer(ctx context.Context, serverID string) (*transfer.Server, error)
	UpdateServer(ctx context.Context, srv *transfer.Server) error
	SetServerState(ctx context.Context, serverID, state string) error
	SetServerStateReason(ctx context.Context, serverID, state, reason string) error
	DeleteServer(ctx context.Context, serverID string) error
	ListServers(ctx context.Context, afterID string, limit int) ([]transfer.Server, error)
	CountUsers(ctx context.Context, serverID string) (int, error)
}

// HostKeys stores the host keys of servers.
type HostKeys interface {
	AddHostKey(ctx context.Context, hk *transfer.HostKey) error
	ListHostKeys(ctx context.Context, serverID string) ([]transfer.HostKey, error)
	GetHostKey(ctx context.Context, serverID, hostKeyID string) (*transfer.HostKey, error)
	UpdateHostKeyDescription(ctx context.Context, serverID, hostKeyID, description string) error
	DeleteHostKey(ctx context.Context, serverID, hostKeyID string) error
}

// Users stores the users of servers.
type Users interface {
	CreateUser(ctx context.Context, u *transfer.User) error
	GetUser(ctx context.Context, serverID, userName string) (*transfer.User, error)
	UpdateUser(ctx context.Context, u *transfer.User) error
	DeleteUser(ctx context.Context, serverID, userName string) error
	ListUsers(ctx context.Context, serverID, afterName string, limit int) ([]transfer.User, error)
}

// SSHPublicKeys stores the public keys of users.
type SSHPublicKeys interface {
	AddSSHPublicKey(ctx context.Context, serverID, userName string, key transfer.SSHPublicKey) error
	DeleteSSHPublicKey(ctx context.Context, serverID, userName, keyID string) error
}

// Tags stores tags by ARN.
type Tags interface {
	TagResource(ctx context.Context, arn string, tags []transfer.Tag) error
	UntagResource(ctx context.Context, arn string, keys []string) error
	ListTags(ctx context.Context, arn string) ([]transfer.Tag, error)
}

// Workflows stores managed workflows.
type Workflows interface {
	CreateWorkflow(ctx context.Context, w *transfer.Workflow) error
	GetWorkflow(ctx context.Context, workflowID string) (*transfer.Workflow, error)
	DeleteWorkflow(ctx context.Context, workflowID string) error
	ListWorkflows(ctx context.Context, afterID string, limit int) ([]transfer.Workflow, error)
}

// Store is everything the suite exercises.
type Store interface {
	Servers
	HostKeys
	Users
	SSHPublicKeys
	Tags
	Workflows
}

// acct is the account the suite builds ARNs with: open must return stores built with the zero
// transfer.Account (the default region and account ID).
func acct() transfer.Account { return transfer.Account{} }

// Run runs the suite. Subtests run in parallel, each on its own store from open, which must be
// fresh and empty and is closed by open's own t.Cleanup.
func Run(t *testing.T, open func(t *testing.T) Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s Store)
	}{
		{"ServerCRUD", testServerCRUD},
		{"ServerErrors", testServerErrors},
		{"EndpointUnique", testEndpointUnique},
		{"ListServers", testListServers},
		{"HostKeys", testHostKeys},
		{"UserCRUD", testUserCRUD},
		{"UserErrors", testUserErrors},
		{"SSHPublicKeys", testSSHPublicKeys},
		{"KeyOrder", testKeyOrder},
		{"ListUsersPagination", testListUsersPagination},
		{"Tags", testTags},
		{"CascadeDelete", testCascadeDelete},
		{"DeleteUserCascade", testDeleteUserCascade},
		{"ConcurrentWriters", testConcurrentWriters},
		{"Workflows", testWorkflows},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open(t))
		})
	}
}

// base is a fixed instant with a fraction, so that round trips through text are checked to the
// nanosecond.
func base() time.Time { return time.Date(2025, 3, 31, 12, 27, 52, 614000000, time.UTC) }

func newServer(endpoint string) *transfer.Server {
	return &transfer.Server{
		ServerID:                      transfer.NewServerID(),
		Endpoint:                      endpoint,
		SecurityPolicyName:            transfer.DefaultSecurityPolicy,
		PreAuthenticationLoginBanner:  "pre\nbanner",
		PostAuthenticationLoginBanner: "post",
		Domain:                        transfer.DomainS3,
		IdentityProviderType:          transfer.IdentityServiceManaged,
		Protocols:                     []string{"SFTP"},
		SetStatOption:                 transfer.SetStatEnableNoOp,
		LoggingRole:                   "arn:aws:iam::000000000000:role/logging",
		State:                         transfer.StateOffline,
		Source:                        transfer.SourceAPI,
		CreatedAt:                     base(),
	}
}

func newUser(serverID, name string) *transfer.User {
	return &transfer.User{
		ServerID:          serverID,
		UserName:          name,
		Role:              "arn:aws:iam::000000000000:role/transfer",
		HomeDirectoryType: transfer.HomePath,
		HomeDirectory:     "/bucket/home/" + name,
		Policy:            `{"Version":"2012-10-17"}`,
		Source:            transfer.SourceAPI,
	}
}

// newKey returns a key with a fingerprint unique to seed.
func newKey(seed string, imported time.Time) transfer.SSHPublicKey {
	return transfer.SSHPublicKey{
		SSHPublicKeyID: transfer.NewSSHPublicKeyID(),
		Body:           "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA" + seed + " " + seed,
		Fingerprint:    "SHA256:" + seed,
		DateImported:   imported,
	}
}

func newHostKey(serverID, seed string, imported time.Time) *transfer.HostKey {
	return &transfer.HostKey{
		ServerID:     serverID,
		HostKeyID:    transfer.NewHostKeyID(),
		Description:  "host key " + seed,
		Type:         "ssh-ed25519",
		Fingerprint:  "SHA256:" + seed,
		PrivateKey:   []byte("-----BEGIN OPENSSH PRIVATE KEY-----\n" + seed + "\n-----END OPENSSH PRIVATE KEY-----\n"),
		DateImported: imported,
	}
}

func must(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// wantErr checks an error's kind and, for kinded errors, the resource type.
func wantErr(t *testing.T, err error, kind transfer.Kind, resourceType, what string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: got no error, want %v (%s)", what, kind, resourceType)
		return
	}
	if got := transfer.KindOf(err); got != kind {
		t.Errorf("%s: got error %q of kind %v, want %v", what, err, got, kind)
		return
	}
	if te := asTransferError(err); te != nil && te.ResourceType != resourceType {
		t.Errorf("%s: got ResourceType %q (error %q), want %q", what, te.ResourceType, err, resourceType)
	}
}

func asTransferError(err error) *transfer.Error {
	var te *transfer.Error
	if errors.As(err, &te) {
		return te
	}
	return nil
}

func diff(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got  %+v\n want %+v", what, got, want)
	}
}

func testServerCRUD(t *testing.T, s Store) {
	ctx := t.Context()
	srv := newServer("127.0.0.1:2222")
	srv.Tags = []transfer.Tag{{Key: "team", Value: "data"}, {Key: "env", Value: "prod"}}
	must(t, s.CreateServer(ctx, srv), "create server")

	got, err := s.GetServer(ctx, srv.ServerID)
	must(t, err, "get server")
	want := *srv
	want.Tags = []transfer.Tag{{Key: "env", Value: "prod"}, {Key: "team", Value: "data"}}
	diff(t, "server after create", *got, want)

	upd := *got
	upd.Endpoint = "127.0.0.1:2223"
	upd.SecurityPolicyName = "TransferSecurityPolicy-2023-05"
	upd.PreAuthenticationLoginBanner = ""
	upd.PostAuthenticationLoginBanner = "welcome"
	upd.IdentityProviderType = "API_GATEWAY"
	upd.IdentityProviderDetails = transfer.IdentityProviderDetails{URL: "https://idp.example.com/prod",
		InvocationRole: "arn:aws:iam::123456789012:role/idp", SftpAuthenticationMethods: transfer.AuthPublicKeyAndPassword}
	upd.Protocols = []string{"SFTP", "FTPS"}
	upd.SetStatOption = transfer.SetStatDefault
	upd.LoggingRole = ""
	upd.Domain = transfer.DomainEFS    // immutable: ignored
	upd.State = transfer.StateOnline   // not UpdateServer's business
	upd.Source = transfer.SourceConfig // immutable
	must(t, s.UpdateServer(ctx, &upd), "update server")
	got, err = s.GetServer(ctx, srv.ServerID)
	must(t, err, "get server after update")
	want = upd
	want.Domain, want.State, want.Source = srv.Domain, srv.State, srv.Source
	diff(t, "server after update", *got, want)

	const why = "listening on 127.0.0.1:2301: address already in use"
	must(t, s.SetServerStateReason(ctx, srv.ServerID, transfer.StateStartFailed, why), "set state with a reason")
	got, err = s.GetServer(ctx, srv.ServerID)
	must(t, err, "get server after set state with a reason")
	if got.State != transfer.StateStartFailed || got.StateReason != why {
		t.Errorf("after SetServerStateReason: state %q reason %q, want %q %q", got.State, got.StateReason, transfer.StateStartFailed, why)
	}
	must(t, s.SetServerState(ctx, srv.ServerID, transfer.StateOnline), "set state")
	got, err = s.GetServer(ctx, srv.ServerID)
	must(t, err, "get server after set state")
	if got.State != transfer.StateOnline || got.StateReason != "" {
		t.Errorf("state after SetServerState: got %q (reason %q), want %q and no reason", got.State, got.StateReason, transfer.StateOnline)
	}

	// A server created without a time gets one; nil protocols come back nil.
	bare := &transfer.Server{ServerID: transfer.NewServerID()}
	before := time.Now().Add(-time.Second)
	must(t, s.CreateServer(ctx, bare), "create bare server")
	if bare.CreatedAt.Before(before) {
		t.Errorf("CreatedAt of bare server: got %v, want about now", bare.CreatedAt)
	}
	got, err = s.GetServer(ctx, bare.ServerID)
	must(t, err, "get bare server")
	diff(t, "bare server", *got, *bare)

	n, err := s.CountUsers(ctx, srv.ServerID)
	must(t, err, "count users")
	if n != 0 {
		t.Errorf("CountUsers of new server: got %d, want 0", n)
	}

	must(t, s.DeleteServer(ctx, srv.ServerID), "delete server")
	_, err = s.GetServer(ctx, srv.ServerID)
	wantErr(t, err, transfer.KindNotFound, "Server", "get deleted server")
	tags, err := s.ListTags(ctx, acct().ServerARN(srv.ServerID))
	must(t, err, "list tags of deleted server")
	if len(tags) != 0 {
		t.Errorf("tags of deleted server: got %v, want none", tags)
	}
}

func testServerErrors(t *testing.T, s Store) {
	ctx := t.Context()
	srv := newServer("")
	must(t, s.CreateServer(ctx, srv), "create server")
	dup := newServer("")
	dup.ServerID = srv.ServerID
	wantErr(t, s.CreateServer(ctx, dup), transfer.KindExists, "Server", "create server with a taken ID")

	missing := transfer.NewServerID()
	_, err := s.GetServer(ctx, missing)
	wantErr(t, err, transfer.KindNotFound, "Server", "GetServer")
	m := newServer("")
	m.ServerID = missing
	wantErr(t, s.UpdateServer(ctx, m), transfer.KindNotFound, "Server", "UpdateServer")
	wantErr(t, s.SetServerState(ctx, missing, transfer.StateOnline), transfer.KindNotFound, "Server", "SetServerState")
	wantErr(t, s.DeleteServer(ctx, missing), transfer.KindNotFound, "Server", "DeleteServer")
	_, err = s.CountUsers(ctx, missing)
	wantErr(t, err, transfer.KindNotFound, "Server", "CountUsers")
	_, err = s.ListUsers(ctx, missing, "", 10)
	wantErr(t, err, transfer.KindNotFound, "Server", "ListUsers")
	_, err = s.ListHostKeys(ctx, missing)
	wantErr(t, err, transfer.KindNotFound, "Server", "ListHostKeys")

	te := asTransferError(func() error { _, err := s.GetServer(ctx, missing); return err }())
	if te == nil || te.Resource != missing || te.Message != "Unknown server" {
		t.Errorf("GetServer of a missing server: got %+v, want Resource %s and Message %q", te, missing, "Unknown server")
	}
}

func testEndpointUnique(t *testing.T, s Store) {
	ctx := t.Context()
	a := newServer("127.0.0.1:2022")
	must(t, s.CreateServer(ctx, a), "create a")
	b := newServer("127.0.0.1:2022")
	err := s.CreateServer(ctx, b)
	wantErr(t, err, transfer.KindExists, "Server", "create b on a's endpoint")
	if te := asTransferError(err); te != nil && te.Resource != a.ServerID {
		t.Errorf("endpoint conflict names %q, want the server holding it, %s", te.Resource, a.ServerID)
	}
	if _, err := s.GetServer(ctx, b.ServerID); transfer.KindOf(err) != transfer.KindNotFound {
		t.Errorf("server refused for its endpoint exists anyway (err %v)", err)
	}

	// Servers without an endpoint do not conflict.
	for i := range 3 {
		must(t, s.CreateServer(ctx, newServer("")), fmt.Sprintf("create server %d without endpoint", i))
	}

	b.Endpoint = "127.0.0.1:2023"
	must(t, s.CreateServer(ctx, b), "create b on its own endpoint")
	b.Endpoint = a.Endpoint
	wantErr(t, s.UpdateServer(ctx, b), transfer.KindExists, "Server", "move b onto a's endpoint")
	a.PostAuthenticationLoginBanner = "still here"
	must(t, s.UpdateServer(ctx, a), "update a keeping its endpoint")

	must(t, s.DeleteServer(ctx, a.ServerID), "delete a")
	must(t, s.UpdateServer(ctx, b), "move b onto the endpoint a freed")
}

func testListServers(t *testing.T, s Store) {
	ctx := t.Context()
	var ids []string
	for range 25 {
		srv := newServer("")
		must(t, s.CreateServer(ctx, srv), "create server")
		ids = append(ids, srv.ServerID)
	}
	slices.Sort(ids)

	var got []string
	after := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("ListServers does not stop")
		}
		page, err := s.ListServers(ctx, after, 10)
		must(t, err, "list servers")
		if len(page) > 10 {
			t.Fatalf("page of %d servers, limit 10", len(page))
		}
		for _, srv := range page {
			got = append(got, srv.ServerID)
			if srv.Tags != nil {
				t.Errorf("ListServers filled Tags of %s", srv.ServerID)
			}
		}
		if len(page) < 10 {
			break
		}
		after = page[len(page)-1].ServerID
	}
	diff(t, "server IDs over pages", got, ids)

	all, err := s.ListServers(ctx, "", 0)
	must(t, err, "list all servers")
	if len(all) != len(ids) {
		t.Errorf("ListServers with limit 0: got %d servers, want %d", len(all), len(ids))
	}
	want := newServer("")
	want.ServerID = ids[0]
	diff(t, "first listed server", all[0], *want)
}

func testHostKeys(t *testing.T, s Store) {
	ctx := t.Context()
	srv := newServer("")
	must(t, s.CreateServer(ctx, srv), "create server")
	other := newServer("")
	must(t, s.CreateServer(ctx, other), "create other server")

	// Imported out of order: the list is by DateImported. In RFC 3339 with trailing zeros
	// dropped, t0 prints as "…:52Z" and sorts after "…:52.4Z"; the order must not depend on that.
	t0 := base().Truncate(time.Second)
	k2 := newHostKey(srv.ServerID, "two", t0.Add(400*time.Millisecond))
	k1 := newHostKey(srv.ServerID, "one", t0)
	must(t, s.AddHostKey(ctx, k2), "add k2")
	must(t, s.AddHostKey(ctx, k1), "add k1")

	dup := newHostKey(srv.ServerID, "one", base())
	wantErr(t, s.AddHostKey(ctx, dup), transfer.KindExists, "HostKey", "add a fingerprint the server has")
	same := newHostKey(other.ServerID, "one", base())
	must(t, s.AddHostKey(ctx, same), "add the same fingerprint to another server")
	wantErr(t, s.AddHostKey(ctx, newHostKey(transfer.NewServerID(), "x", base())), transfer.KindNotFound, "Server", "add to a missing server")

	list, err := s.ListHostKeys(ctx, srv.ServerID)
	must(t, err, "list host keys")
	diff(t, "host keys", list, []transfer.HostKey{*k1, *k2})

	got, err := s.GetHostKey(ctx, srv.ServerID, k2.HostKeyID)
	must(t, err, "get host key")
	diff(t, "host key", *got, *k2)
	_, err = s.GetHostKey(ctx, other.ServerID, k2.HostKeyID)
	wantErr(t, err, transfer.KindNotFound, "HostKey", "get a host key through another server")
	_, err = s.GetHostKey(ctx, transfer.NewServerID(), k2.HostKeyID)
	wantErr(t, err, transfer.KindNotFound, "Server", "get a host key of a missing server")

	must(t, s.UpdateHostKeyDescription(ctx, srv.ServerID, k2.HostKeyID, "rotated"), "update description")
	got, err = s.GetHostKey(ctx, srv.ServerID, k2.HostKeyID)
	must(t, err, "get host key after update")
	if got.Description != "rotated" {
		t.Errorf("description: got %q, want %q", got.Description, "rotated")
	}
	wantErr(t, s.UpdateHostKeyDescription(ctx, srv.ServerID, transfer.NewHostKeyID(), "x"), transfer.KindNotFound, "HostKey", "update a missing host key")

	arn := acct().HostKeyARN(srv.ServerID, k1.HostKeyID)
	must(t, s.TagResource(ctx, arn, []transfer.Tag{{Key: "k", Value: "v"}}), "tag host key")
	must(t, s.DeleteHostKey(ctx, srv.ServerID, k1.HostKeyID), "delete host key")
	wantErr(t, s.DeleteHostKey(ctx, srv.ServerID, k1.HostKeyID), transfer.KindNotFound, "HostKey", "delete it again")
	wantErr(t, s.DeleteHostKey(ctx, transfer.NewServerID(), k1.HostKeyID), transfer.KindNotFound, "Server", "delete on a missing server")
	tags, err := s.ListTags(ctx, arn)
	must(t, err, "list tags of deleted host key")
	if len(tags) != 0 {
		t.Errorf("tags of deleted host key: got %v, want none", tags)
	}
	list, err = s.ListHostKeys(ctx, srv.ServerID)
	must(t, err, "list host keys after delete")
	if len(list) != 1 || list[0].HostKeyID != k2.HostKeyID {
		t.Errorf("host keys after delete: got %+v, want only %s", list, k2.HostKeyID)
	}
	must(t, s.AddHostKey(ctx, newHostKey(srv.ServerID, "one", base())), "re-add the deleted fingerprint")
}

func testUserCRUD(t *testing.T, s Store) {
	ctx := t.Context()
	srv := newServer("")
	must(t, s.CreateServer(ctx, srv), "create server")

	u := newUser(srv.ServerID, "alice")
	u.HomeDirectoryType = transfer.HomeLogical
	u.HomeDirectory = ""
	u.HomeDirectoryMappings = []transfer.Mapping{
		{Entry: "/", Target: "/bucket/${transfer:UserName}"},
		{Entry: "/shared", Target: "/bucket/shared", Type: transfer.MappingDirectory},
		{Entry: "/readme.txt", Target: "/bucket/readme.txt", Type: transfer.MappingFile},
	}
	u.PosixProfile = &transfer.PosixProfile{UID: 1000, GID: 1000, SecondaryGIDs: []uint32{4, 27}}
	u.SSHPublicKeys = []transfer.SSHPublicKey{newKey("a1", base()), newKey("a2", base().Add(time.Second))}
	u.Tags = []transfer.Tag{{Key: "b", Value: "2"}, {Key: "a", Value: "1"}}
	must(t, s.CreateUser(ctx, u), "create user")

	got, err := s.GetUser(ctx, srv.ServerID, "alice")
	must(t, err, "get user")
	want := *u
	want.Tags = []transfer.Tag{{Key: "a", Value: "1"}, {Key: "b", Value: "2"}}
	diff(t, "user after create", *got, want)

	upd := *got
	upd.Role = "arn:aws:iam::000000000000:role/other"
	upd.HomeDirectoryType = transfer.HomePath
	upd.HomeDirectory = "/bucket/alice"
	upd.HomeDirectoryMappings = nil
	upd.Policy = ""
	upd.PosixProfile = nil
	upd.SSHPublicKeys = nil            // not UpdateUser's business
	upd.Tags = nil                     // nor this
	upd.Source = transfer.SourceConfig // immutable
	must(t, s.UpdateUser(ctx, &upd), "update user")
	got, err = s.GetUser(ctx, srv.ServerID, "alice")
	must(t, err, "get user after update")
	want = upd
	want.SSHPublicKeys, want.Tags, want.Source = u.SSHPublicKeys, []transfer.Tag{{Key: "a", Value: "1"}, {Key: "b", Value: "2"}}, u.Source
	diff(t, "user after update", *got, want)

	// A user without keys, mappings or POSIX profile; keys get a time when they have none.
	bob := newUser(srv.ServerID, "bob")
	bob.PosixProfile = &transfer.PosixProfile{UID: 0, GID: 0}
	bob.SSHPublicKeys = []transfer.SSHPublicKey{newKey("b1", time.Time{})}
	must(t, s.CreateUser(ctx, bob), "create bob")
	if bob.SSHPublicKeys[0].DateImported.IsZero() {
		t.Error("CreateUser left DateImported of a key zero")
	}
	got, err = s.GetUser(ctx, srv.ServerID, "bob")
	must(t, err, "get bob")
	diff(t, "bob", *got, *bob)

	n, err := s.CountUsers(ctx, srv.ServerID)
	must(t, err, "count users")
	if n != 2 {
		t.Errorf("CountUsers: got %d, want 2", n)
	}

	must(t, s.DeleteUser(ctx, srv.ServerID, "alice"), "delete alice")
	_, err = s.GetUser(ctx, srv.ServerID, "alice")
	wantErr(t, err, transfer.KindNotFound, "User", "get deleted user")
	n, err = s.CountUsers(ctx, srv.ServerID)
	must(t, err, "count users after delete")
	if n != 1 {
		t.Errorf("CountUsers after delete: got %d, want 1", n)
	}
}

func testUserErrors(t *testing.T, s Store) {
	ctx := t.Context()
	srv := newServer("")
	must(t, s.CreateServer(ctx, srv), "create server")
	must(t, s.CreateUser(ctx, newUser(srv.ServerID, "alice")), "create alice")

	err := s.CreateUser(ctx, newUser(srv.ServerID, "alice"))
	wantErr(t, err, transfer.KindExists, "User", "create alice again")
	if te := asTransferError(err); te != nil && (te.Resource != "alice" || te.Message != "User already exists") {
		t.Errorf("create alice again: got Resource %q Message %q, want alice and %q", te.Resource, te.Message, "User already exists")
	}
	missing := transfer.NewServerID()
	wantErr(t, s.CreateUser(ctx, newUser(missing, "alice")), transfer.KindNotFound, "Server", "create on a missing server")

	_, err = s.GetUser(ctx, srv.ServerID, "nobody")
	wantErr(t, err, transfer.KindNotFound, "User", "get a missing user")
	if te := asTransferError(err); te != nil && (te.Resource != "nobody" || te.Message != "Unknown user") {
		t.Errorf("get a missing user: got Resource %q Message %q, want nobody and %q", te.Resource, te.Message, "Unknown user")
	}
	_, err = s.GetUser(ctx, missing, "alice")
	wantErr(t, err, transfer.KindNotFound, "Server", "get a user of a missing server")
	wantErr(t, s.UpdateUser(ctx, newUser(srv.ServerID, "nobody")), transfer.KindNotFound, "User", "update a missing user")
	wantErr(t, s.UpdateUser(ctx, newUser(missing, "alice")), transfer.KindNotFound, "Server", "update on a missing server")
	wantErr(t, s.DeleteUser(ctx, srv.ServerID, "nobody"), transfer.KindNotFound, "User", "delete a missing user")
	wantErr(t, s.DeleteUser(ctx, missing, "alice"), transfer.KindNotFound, "Server", "delete on a missing server")

	// Two keys with one fingerprint: nothing is stored.
	carol := newUser(srv.ServerID, "carol")
	k := newKey("c1", base())
	k2 := newKey("c1", base())
	carol.SSHPublicKeys = []transfer.SSHPublicKey{k, k2}
	wantErr(t, s.CreateUser(ctx, carol), transfer.KindExists, "SshPublicKey", "create a user with a repeated key")
	_, err = s.GetUser(ctx, srv.ServerID, "carol")
	wantErr(t, err, transfer.KindNotFound, "User", "get the user whose creation failed")

	// A key ID another user has: the transaction rolls back the user too.
	dave := newUser(srv.ServerID, "dave")
	dk := newKey("d1", base())
	dave.SSHPublicKeys = []transfer.SSHPublicKey{dk}
	must(t, s.CreateUser(ctx, dave), "create dave")
	erin := newUser(srv.ServerID, "erin")
	ek := newKey("e1", base())
	ek.SSHPublicKeyID = dk.SSHPublicKeyID
	erin.SSHPublicKeys = []transfer.SSHPublicKey{ek}
	wantErr(t, s.CreateUser(ctx, erin), transfer.KindExists, "SshPublicKey", "create a user with a taken key ID")
	_, err = s.GetUser(ctx, srv.ServerID, "erin")
	wantErr(t, err, transfer.KindNotFound, "User", "get the user whose key was refused")
}

func testSSHPublicKeys(t *testing.T, s Store) {
	ctx := t.Context()
	srv := newServer("")
	must(t, s.CreateServer(ctx, srv), "create server")
	must(t, s.CreateUser(ctx, newUser(srv.ServerID, "alice")), "create alice")
	must(t, s.CreateUser(ctx, newUser(srv.ServerID, "bob")), "create bob")

	k1 := newKey("k1", base())
	must(t, s.AddSSHPublicKey(ctx, srv.ServerID, "alice", k1), "add k1 to alice")
	dup := newKey("k1", base())
	err := s.AddSSHPublicKey(ctx, srv.ServerID, "alice", dup)
	wantErr(t, err, transfer.KindExists, "SshPublicKey", "add k1's fingerprint to alice again")
	if te := asTransferError(err); te != nil && te.Resource != k1.SSHPublicKeyID {
		t.Errorf("duplicate key names %q, want the key holding the fingerprint, %s", te.Resource, k1.SSHPublicKeyID)
	}
	must(t, s.AddSSHPublicKey(ctx, srv.ServerID, "bob", dup), "add k1's fingerprint to bob")
	k2 := newKey("k2", base().Add(time.Minute))
	must(t, s.AddSSHPublicKey(ctx, srv.ServerID, "alice", k2), "add k2 to alice")

	wantErr(t, s.AddSSHPublicKey(ctx, srv.ServerID, "nobody", newKey("x", base())), transfer.KindNotFound, "User", "add to a missing user")
	wantErr(t, s.AddSSHPublicKey(ctx, transfer.NewServerID(), "alice", newKey("x", base())), transfer.KindNotFound, "Server", "add on a missing server")

	alice, err := s.GetUser(ctx, srv.ServerID, "alice")
	must(t, err, "get alice")
	diff(t, "alice's keys", alice.SSHPublicKeys, []transfer.SSHPublicKey{k1, k2})

	must(t, s.DeleteSSHPublicKey(ctx, srv.ServerID, "alice", k1.SSHPublicKeyID), "delete k1")
	wantErr(t, s.DeleteSSHPublicKey(ctx, srv.ServerID, "alice", k1.SSHPublicKeyID), transfer.KindNotFound, "SshPublicKey", "delete k1 again")
	wantErr(t, s.DeleteSSHPublicKey(ctx, srv.ServerID, "alice", dup.SSHPublicKeyID), transfer.KindNotFound, "SshPublicKey", "delete bob's key through alice")
	wantErr(t, s.DeleteSSHPublicKey(ctx, srv.ServerID, "nobody", k2.SSHPublicKeyID), transfer.KindNotFound, "User", "delete from a missing user")
	wantErr(t, s.DeleteSSHPublicKey(ctx, transfer.NewServerID(), "alice", k2.SSHPublicKeyID), transfer.KindNotFound, "Server", "delete on a missing server")

	alice, err = s.GetUser(ctx, srv.ServerID, "alice")
	must(t, err, "get alice after delete")
	diff(t, "alice's keys after delete", alice.SSHPublicKeys, []transfer.SSHPublicKey{k2})
	bob, err := s.GetUser(ctx, srv.ServerID, "bob")
	must(t, err, "get bob")
	diff(t, "bob's keys", bob.SSHPublicKeys, []transfer.SSHPublicKey{dup})
	must(t, s.AddSSHPublicKey(ctx, srv.ServerID, "alice", newKey("k1", base())), "re-add the deleted fingerprint")
}

// testKeyOrder checks that keys come back in time order even when their times print with
// different numbers of fraction digits, and by ID when the times are equal.
func testKeyOrder(t *testing.T, s Store) {
	ctx := t.Context()
	srv := newServer("")
	must(t, s.CreateServer(ctx, srv), "create server")
	must(t, s.CreateUser(ctx, newUser(srv.ServerID, "alice")), "create alice")
	t0 := base().Truncate(time.Second)
	times := []time.Time{
		t0.Add(time.Second),
		t0.Add(500 * time.Millisecond),
		t0,
		t0.Add(123456789),
		t0.Add(time.Nanosecond),
	}
	var want []transfer.SSHPublicKey
	for i, ts := range times {
		k := newKey(fmt.Sprintf("k%d", i), ts)
		must(t, s.AddSSHPublicKey(ctx, srv.ServerID, "alice", k), "add key")
		want = append(want, k)
	}
	twin1, twin2 := newKey("twin1", t0.Add(2*time.Second)), newKey("twin2", t0.Add(2*time.Second))
	twin1.SSHPublicKeyID, twin2.SSHPublicKeyID = "key-ffffffffffffffff0", "key-00000000000000000"
	must(t, s.AddSSHPublicKey(ctx, srv.ServerID, "alice", twin1), "add twin1")
	must(t, s.AddSSHPublicKey(ctx, srv.ServerID, "alice", twin2), "add twin2")
	want = append(want, twin2, twin1)
	slices.SortStableFunc(want, func(a, b transfer.SSHPublicKey) int { return a.DateImported.Compare(b.DateImported) })

	u, err := s.GetUser(ctx, srv.ServerID, "alice")
	must(t, err, "get alice")
	diff(t, "keys", u.SSHPublicKeys, want)
	page, err := s.ListUsers(ctx, srv.ServerID, "", 10)
	must(t, err, "list users")
	if len(page) != 1 {
		t.Fatalf("ListUsers: got %d users, want 1", len(page))
	}
	diff(t, "keys from ListUsers", page[0].SSHPublicKeys, want)
}

func testListUsersPagination(t *testing.T, s Store) {
	ctx := t.Context()
	srv := newServer("")
	must(t, s.CreateServer(ctx, srv), "create server")
	other := newServer("")
	must(t, s.CreateServer(ctx, other), "create other server")

	const users = 150
	wantKeys := map[string][]transfer.SSHPublicKey{}
	var names []string
	for i := range users {
		// Created out of order so that the store, not insertion, orders them.
		name := fmt.Sprintf("user%03d", (i*7)%users)
		u := newUser(srv.ServerID, name)
		for j := range i % 3 {
			u.SSHPublicKeys = append(u.SSHPublicKeys, newKey(fmt.Sprintf("%s-%d", name, j), base().Add(time.Duration(j)*time.Second)))
		}
		must(t, s.CreateUser(ctx, u), "create "+name)
		wantKeys[name] = u.SSHPublicKeys
		names = append(names, name)
	}
	// Same names on another server, to catch queries that forget the server.
	for _, name := range names[:20] {
		u := newUser(other.ServerID, name)
		u.SSHPublicKeys = []transfer.SSHPublicKey{newKey("other-"+name, base())}
		must(t, s.CreateUser(ctx, u), "create "+name+" on the other server")
	}
	slices.Sort(names)

	var got []string
	after := ""
	var sizes []int
	for len(sizes) <= users/40+1 {
		page, err := s.ListUsers(ctx, srv.ServerID, after, 40)
		must(t, err, "list users")
		sizes = append(sizes, len(page))
		for _, u := range page {
			got = append(got, u.UserName)
			diff(t, "keys of "+u.UserName, u.SSHPublicKeys, wantKeys[u.UserName])
			if u.ServerID != srv.ServerID {
				t.Errorf("user %s listed with server %s, want %s", u.UserName, u.ServerID, srv.ServerID)
			}
		}
		if len(page) < 40 {
			break
		}
		after = page[len(page)-1].UserName
	}
	diff(t, "page sizes", sizes, []int{40, 40, 40, 30})
	diff(t, "user names over pages", got, names)

	all, err := s.ListUsers(ctx, srv.ServerID, "", 0)
	must(t, err, "list all users")
	if len(all) != users {
		t.Errorf("ListUsers with limit 0: got %d users, want %d", len(all), users)
	}
	n, err := s.CountUsers(ctx, srv.ServerID)
	must(t, err, "count users")
	if n != users {
		t.Errorf("CountUsers: got %d, want %d", n, users)
	}
}

func testTags(t *testing.T, s Store) {
	ctx := t.Context()
	srv := newServer("")
	must(t, s.CreateServer(ctx, srv), "create server")
	must(t, s.CreateUser(ctx, newUser(srv.ServerID, "alice")), "create alice")
	arn := acct().ServerARN(srv.ServerID)

	must(t, s.TagResource(ctx, arn, []transfer.Tag{{Key: "z", Value: "1"}, {Key: "a", Value: "1"}}), "tag")
	must(t, s.TagResource(ctx, arn, []transfer.Tag{{Key: "a", Value: "2"}, {Key: "m", Value: ""}}), "tag again")
	tags, err := s.ListTags(ctx, arn)
	must(t, err, "list tags")
	diff(t, "tags after upsert", tags, []transfer.Tag{{Key: "a", Value: "2"}, {Key: "m", Value: ""}, {Key: "z", Value: "1"}})

	got, err := s.GetServer(ctx, srv.ServerID)
	must(t, err, "get server")
	diff(t, "server tags", got.Tags, tags)

	must(t, s.UntagResource(ctx, arn, []string{"z", "missing"}), "untag")
	tags, err = s.ListTags(ctx, arn)
	must(t, err, "list tags after untag")
	diff(t, "tags after untag", tags, []transfer.Tag{{Key: "a", Value: "2"}, {Key: "m", Value: ""}})

	userARN := acct().UserARN(srv.ServerID, "alice")
	must(t, s.TagResource(ctx, userARN, []transfer.Tag{{Key: "owner", Value: "alice"}}), "tag user")
	u, err := s.GetUser(ctx, srv.ServerID, "alice")
	must(t, err, "get user")
	diff(t, "user tags", u.Tags, []transfer.Tag{{Key: "owner", Value: "alice"}})

	tags, err = s.ListTags(ctx, acct().ServerARN(transfer.NewServerID()))
	must(t, err, "list tags of an untagged ARN")
	if len(tags) != 0 {
		t.Errorf("tags of an untagged ARN: got %v, want none", tags)
	}
}

func testCascadeDelete(t *testing.T, s Store) {
	ctx := t.Context()
	type fixture struct {
		srv     *transfer.Server
		hostKey *transfer.HostKey
		arns    []string
	}
	build := func(endpoint string) fixture {
		srv := newServer(endpoint)
		srv.Tags = []transfer.Tag{{Key: "s", Value: "1"}}
		must(t, s.CreateServer(ctx, srv), "create server")
		hk := newHostKey(srv.ServerID, "hk-"+srv.ServerID, base())
		must(t, s.AddHostKey(ctx, hk), "add host key")
		f := fixture{srv: srv, hostKey: hk, arns: []string{acct().ServerARN(srv.ServerID), acct().HostKeyARN(srv.ServerID, hk.HostKeyID)}}
		must(t, s.TagResource(ctx, f.arns[1], []transfer.Tag{{Key: "h", Value: "1"}}), "tag host key")
		for _, name := range []string{"alice", "bob"} {
			u := newUser(srv.ServerID, name)
			u.SSHPublicKeys = []transfer.SSHPublicKey{newKey(name+srv.ServerID, base())}
			u.Tags = []transfer.Tag{{Key: "u", Value: name}}
			must(t, s.CreateUser(ctx, u), "create "+name)
			f.arns = append(f.arns, acct().UserARN(srv.ServerID, name))
		}
		return f
	}
	doomed, kept := build("127.0.0.1:3000"), build("127.0.0.1:3001")

	must(t, s.DeleteServer(ctx, doomed.srv.ServerID), "delete server")
	id := doomed.srv.ServerID
	_, err := s.GetUser(ctx, id, "alice")
	wantErr(t, err, transfer.KindNotFound, "Server", "get a user of the deleted server")
	for _, arn := range doomed.arns {
		tags, err := s.ListTags(ctx, arn)
		must(t, err, "list tags")
		if len(tags) != 0 {
			t.Errorf("tags of %s after its server was deleted: got %v, want none", arn, tags)
		}
	}

	// The same ID again starts empty: no users, keys or host keys survive.
	again := newServer(doomed.srv.Endpoint)
	again.ServerID = id
	must(t, s.CreateServer(ctx, again), "re-create the deleted server (its endpoint is free)")
	users, err := s.ListUsers(ctx, id, "", 0)
	must(t, err, "list users of the re-created server")
	if len(users) != 0 {
		t.Errorf("users of the re-created server: got %d, want 0", len(users))
	}
	hks, err := s.ListHostKeys(ctx, id)
	must(t, err, "list host keys of the re-created server")
	if len(hks) != 0 {
		t.Errorf("host keys of the re-created server: got %d, want 0", len(hks))
	}
	must(t, s.CreateUser(ctx, newUser(id, "alice")), "re-create alice")
	alice, err := s.GetUser(ctx, id, "alice")
	must(t, err, "get re-created alice")
	if len(alice.SSHPublicKeys) != 0 || len(alice.Tags) != 0 {
		t.Errorf("re-created alice has keys %v and tags %v, want none", alice.SSHPublicKeys, alice.Tags)
	}

	// The other server is untouched.
	for _, arn := range kept.arns {
		tags, err := s.ListTags(ctx, arn)
		must(t, err, "list tags of the kept server")
		if len(tags) != 1 {
			t.Errorf("tags of %s: got %v, want one", arn, tags)
		}
	}
	n, err := s.CountUsers(ctx, kept.srv.ServerID)
	must(t, err, "count users of the kept server")
	if n != 2 {
		t.Errorf("users of the kept server: got %d, want 2", n)
	}
	if _, err := s.GetHostKey(ctx, kept.srv.ServerID, kept.hostKey.HostKeyID); err != nil {
		t.Errorf("host key of the kept server: %v", err)
	}
}

func testDeleteUserCascade(t *testing.T, s Store) {
	ctx := t.Context()
	srv := newServer("")
	must(t, s.CreateServer(ctx, srv), "create server")
	u := newUser(srv.ServerID, "alice")
	k := newKey("a", base())
	u.SSHPublicKeys = []transfer.SSHPublicKey{k}
	u.Tags = []transfer.Tag{{Key: "t", Value: "v"}}
	must(t, s.CreateUser(ctx, u), "create alice")
	must(t, s.CreateUser(ctx, newUser(srv.ServerID, "alice2")), "create alice2")
	must(t, s.TagResource(ctx, acct().UserARN(srv.ServerID, "alice2"), []transfer.Tag{{Key: "t", Value: "v"}}), "tag alice2")

	must(t, s.DeleteUser(ctx, srv.ServerID, "alice"), "delete alice")
	must(t, s.CreateUser(ctx, newUser(srv.ServerID, "alice")), "re-create alice")
	got, err := s.GetUser(ctx, srv.ServerID, "alice")
	must(t, err, "get re-created alice")
	if len(got.SSHPublicKeys) != 0 || len(got.Tags) != 0 {
		t.Errorf("re-created alice has keys %v and tags %v, want none", got.SSHPublicKeys, got.Tags)
	}
	// The key ID is free again too.
	must(t, s.AddSSHPublicKey(ctx, srv.ServerID, "alice", k), "re-add alice's old key")
	tags, err := s.ListTags(ctx, acct().UserARN(srv.ServerID, "alice2"))
	must(t, err, "list tags of alice2")
	if len(tags) != 1 {
		t.Errorf("tags of alice2 after alice was deleted: got %v, want one", tags)
	}
}

func testConcurrentWriters(t *testing.T, s Store) {
	ctx := t.Context()
	srv := newServer("")
	must(t, s.CreateServer(ctx, srv), "create server")

	const writers, each = 8, 20
	var wg sync.WaitGroup
	errs := make(chan error, writers*each*2)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				name := fmt.Sprintf("w%d-user%02d", w, i)
				u := newUser(srv.ServerID, name)
				u.SSHPublicKeys = []transfer.SSHPublicKey{newKey(name, base())}
				u.Tags = []transfer.Tag{{Key: "writer", Value: fmt.Sprint(w)}}
				if err := s.CreateUser(ctx, u); err != nil {
					errs <- fmt.Errorf("create %s: %w", name, err)
					continue
				}
				if err := s.AddSSHPublicKey(ctx, srv.ServerID, name, newKey(name+"-2", base())); err != nil {
					errs <- fmt.Errorf("add key to %s: %w", name, err)
				}
			}
		})
		// Readers alongside the writers.
		wg.Go(func() {
			for range each {
				if _, err := s.ListUsers(ctx, srv.ServerID, "", 50); err != nil {
					errs <- fmt.Errorf("list users: %w", err)
				}
				if _, err := s.GetServer(ctx, srv.ServerID); err != nil {
					errs <- fmt.Errorf("get server: %w", err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	n, err := s.CountUsers(ctx, srv.ServerID)
	must(t, err, "count users")
	if n != writers*each {
		t.Errorf("CountUsers: got %d, want %d", n, writers*each)
	}
	users, err := s.ListUsers(ctx, srv.ServerID, "", 0)
	must(t, err, "list users")
	for _, u := range users {
		if len(u.SSHPublicKeys) != 2 {
			t.Errorf("user %s has %d keys, want 2", u.UserName, len(u.SSHPublicKeys))
		}
	}
}

// Workflows round-trip with every kind of step, list in ID order over pages, keep their tags under
// the workflow ARN and lose them when deleted.
func testWorkflows(t *testing.T, s Store) {
	ctx := t.Context()
	w := &transfer.Workflow{
		WorkflowId:  transfer.NewWorkflowID(),
		Description: "copy tag decrypt call delete",
		Steps: []transfer.WorkflowStep{
			{Type: transfer.StepCopy, CopyStepDetails: &transfer.CopyStepDetails{Name: "copy", OverwriteExisting: "TRUE",
				DestinationFileLocation: &transfer.InputFileLocation{S3FileLocation: &transfer.S3InputFileLocation{Bucket: "archive", Key: "${transfer:UserName}/"}}}},
			{Type: transfer.StepTag, TagStepDetails: &transfer.TagStepDetails{Tags: []transfer.S3Tag{{Key: "state", Value: ""}}}},
			{Type: transfer.StepDecrypt, DecryptStepDetails: &transfer.DecryptStepDetails{Type: "PGP", SourceFileLocation: transfer.OriginalFile,
				DestinationFileLocation: &transfer.InputFileLocation{EfsFileLocation: &transfer.EfsFileLocation{FileSystemId: "fs-0123456789abcdef0", Path: "/plain"}}}},
			{Type: transfer.StepCustom, CustomStepDetails: &transfer.CustomStepDetails{Target: "arn:aws:lambda:us-east-1:000000000000:function:f", TimeoutSeconds: 90}},
		},
		OnExceptionSteps: []transfer.WorkflowStep{{Type: transfer.StepDelete, DeleteStepDetails: &transfer.DeleteStepDetails{Name: "cleanup"}}},
		Tags:             []transfer.Tag{{Key: "team", Value: "ops"}},
		Source:           transfer.SourceAPI,
		CreatedAt:        base(),
	}
	must(t, s.CreateWorkflow(ctx, w), "create workflow")
	got, err := s.GetWorkflow(ctx, w.WorkflowId)
	must(t, err, "get workflow")
	diff(t, "workflow", *got, *w)
	wantErr(t, s.CreateWorkflow(ctx, &transfer.Workflow{WorkflowId: w.WorkflowId, Steps: []transfer.WorkflowStep{}}), transfer.KindExists, "Workflow", "create a workflow with a taken ID")
	tags, err := s.ListTags(ctx, acct().WorkflowARN(w.WorkflowId))
	must(t, err, "list tags")
	diff(t, "tags under the workflow ARN", tags, w.Tags)

	ids := []string{w.WorkflowId}
	for range 11 {
		o := &transfer.Workflow{WorkflowId: transfer.NewWorkflowID(), Steps: []transfer.WorkflowStep{}}
		must(t, s.CreateWorkflow(ctx, o), "create workflow")
		ids = append(ids, o.WorkflowId)
	}
	slices.Sort(ids)
	var listed []string
	for after := ""; ; {
		page, err := s.ListWorkflows(ctx, after, 5)
		must(t, err, "list workflows")
		for _, l := range page {
			listed = append(listed, l.WorkflowId)
		}
		if len(page) < 5 {
			break
		}
		after = page[len(page)-1].WorkflowId
	}
	diff(t, "workflow IDs over pages", listed, ids)

	must(t, s.DeleteWorkflow(ctx, w.WorkflowId), "delete workflow")
	_, err = s.GetWorkflow(ctx, w.WorkflowId)
	wantErr(t, err, transfer.KindNotFound, "Workflow", "get a deleted workflow")
	wantErr(t, s.DeleteWorkflow(ctx, w.WorkflowId), transfer.KindNotFound, "Workflow", "delete a deleted workflow")
	if tags, err := s.ListTags(ctx, acct().WorkflowARN(w.WorkflowId)); err != nil || len(tags) != 0 {
		t.Errorf("tags of a deleted workflow: %v, %v", tags, err)
	}
}
