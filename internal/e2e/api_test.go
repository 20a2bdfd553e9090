package e2e

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/transfer"
	"github.com/aws/aws-sdk-go-v2/service/transfer/types"
	"golang.org/x/crypto/ssh"

	"github.com/transferd/transferd/internal/activity"
)

// apiClient starts transferd with the management API on a free port and no servers, and returns
// the process and an SDK client signed with the admin key pair it generated.
func apiClient(t *testing.T) (*proc, *transfer.Client) {
	t.Helper()
	p, client, _ := apiClientFor(t, "Servers: []\n")
	return p, client
}

// apiClientFor is apiClient for a transferd started on the config file cfg (and flags); it also
// returns the management API's port.
func apiClientFor(t *testing.T, cfg string, flags ...string) (*proc, *transfer.Client, int) {
	t.Helper()
	apiPort := freePort(t)
	p := start(t, cfg, append([]string{"--api-listen", "127.0.0.1:" + strconv.Itoa(apiPort)}, flags...)...)
	deadline := time.Now().Add(startLimit)
	for {
		c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(apiPort)))
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the management API did not listen on %d; stderr:\n%s", apiPort, p.stderrText())
		}
		time.Sleep(20 * time.Millisecond)
	}
	creds := readCredentials(t, p)
	if fi, err := os.Stat(filepath.Join(p.dataDir, "credentials.json")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("credentials.json: mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	return p, transfer.New(transfer.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String("http://127.0.0.1:" + strconv.Itoa(apiPort)),
		Credentials:  credentials.NewStaticCredentialsProvider(creds.AccessKeyId, creds.SecretAccessKey, ""),
	}), apiPort
}

// awsCLI returns a runner of the AWS CLI on PATH (`aws transfer ARGS --output json`; scripts/test
// installs Debian's when there is none) against p's management API, with p's admin key pair and
// nothing from the environment's AWS configuration. It returns the JSON answer, the standard error
// and how the CLI exited.
func awsCLI(t *testing.T, p *proc, apiPort int) func(args ...string) (map[string]any, string, error) {
	t.Helper()
	needTool(t, "aws")
	creds := readCredentials(t, p)
	return func(args ...string) (map[string]any, string, error) {
		cmd := exec.Command("aws", append([]string{"--endpoint-url", "http://127.0.0.1:" + strconv.Itoa(apiPort), "--output", "json", "transfer"}, args...)...)
		cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+creds.AccessKeyId, "AWS_SECRET_ACCESS_KEY="+creds.SecretAccessKey,
			"AWS_DEFAULT_REGION=us-east-1", "AWS_PAGER=", "AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var m map[string]any
		json.Unmarshal(stdout.Bytes(), &m)
		return m, stderr.String(), err
	}
}

// apiCredentials is the management API's admin key pair in credentials.json.
type apiCredentials struct{ AccessKeyId, SecretAccessKey string }

// readCredentials reads the admin key pair transferd generated in its data directory.
func readCredentials(t *testing.T, p *proc) apiCredentials {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(p.dataDir, "credentials.json"))
	if err != nil {
		t.Fatalf("the admin key pair: %v", err)
	}
	var creds apiCredentials
	if err := json.Unmarshal(data, &creds); err != nil {
		t.Fatal(err)
	}
	return creds
}

var serverHostKeyRE = regexp.MustCompile(`Server host key: (\S+) (SHA256:\S+)`)

// TestManagementAPILiveChanges drives a real transferd with the AWS SDK and checks with OpenSSH
// that each change takes effect on the live server at once: no retries anywhere.
func TestManagementAPILiveChanges(t *testing.T) {
	t.Parallel()
	p, client := apiClient(t)
	ctx := context.Background()
	key, other := keyFor(t, "ed25519"), keyFor(t, "ecdsa-256")
	sftpPort := freePort(t)

	cs, err := client.CreateServer(ctx, &transfer.CreateServerInput{
		Tags: []types.Tag{{Key: aws.String("transferd:Endpoint"), Value: aws.String(fmt.Sprintf("127.0.0.1:%d", sftpPort))}},
	})
	if err != nil {
		t.Fatalf("CreateServer: %v", err)
	}
	id := aws.ToString(cs.ServerId)
	ds, err := client.DescribeServer(ctx, &transfer.DescribeServerInput{ServerId: &id})
	if err != nil || ds.Server.State != types.StateOnline {
		t.Fatalf("DescribeServer after CreateServer: %+v, %v; want ONLINE", ds, err)
	}

	// A user created through the API logs in straight away: the first attempt must work.
	_, err = client.CreateUser(ctx, &transfer.CreateUserInput{
		ServerId: &id, UserName: aws.String("alice"), Role: aws.String(testRole),
		HomeDirectoryType:     types.HomeDirectoryTypeLogical,
		HomeDirectoryMappings: []types.HomeDirectoryMapEntry{{Entry: aws.String("/"), Target: aws.String("/bucket1/alice")}},
		SshPublicKeyBody:      aws.String(key.Authorized),
	})
	if err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	created := time.Now()
	out := mustSFTP(t, sftpPort, "alice", key, "mkdir first\n")
	t.Logf("first login %v after CreateUser returned", time.Since(created).Round(time.Millisecond))
	m := serverHostKeyRE.FindStringSubmatch(out)
	if m == nil || m[2] != aws.ToString(ds.Server.HostKeyFingerprint) {
		t.Errorf("sftp saw host key %q; DescribeServer says %s", m, aws.ToString(ds.Server.HostKeyFingerprint))
	}
	conn := p.waitRecord(t, "CONNECTED of alice", func(r *activity.Record) bool {
		return r.ActivityType == activity.Connected && r.User == "alice"
	})
	if conn.ResourceARN != aws.ToString(ds.Server.Arn) || conn.Role != testRole || conn.HomeDir != "LOGICAL" {
		t.Errorf("CONNECTED: resource-arn %q role %q home-dir %q; want %q, %q, LOGICAL", conn.ResourceARN, conn.Role, conn.HomeDir, aws.ToString(ds.Server.Arn), testRole)
	}

	// Keys: an imported key logs in at once; a deleted one cannot.
	if _, err := sftpBatch(t, sftpPort, "alice", other, "ls\n"); err == nil {
		t.Fatal("a key that was never imported logged in")
	}
	ik, err := client.ImportSshPublicKey(ctx, &transfer.ImportSshPublicKeyInput{ServerId: &id, UserName: aws.String("alice"), SshPublicKeyBody: aws.String(other.Authorized)})
	if err != nil {
		t.Fatalf("ImportSshPublicKey: %v", err)
	}
	mustSFTP(t, sftpPort, "alice", other, "ls\n")
	if _, err := client.DeleteSshPublicKey(ctx, &transfer.DeleteSshPublicKeyInput{ServerId: &id, UserName: aws.String("alice"), SshPublicKeyId: ik.SshPublicKeyId}); err != nil {
		t.Fatalf("DeleteSshPublicKey: %v", err)
	}
	if out, err := sftpBatch(t, sftpPort, "alice", other, "ls\n"); err == nil {
		t.Fatalf("a deleted key still logs in:\n%s", out)
	}

	// ImportHostKey: the server offers the new key type at once.
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	hk, err := client.ImportHostKey(ctx, &transfer.ImportHostKeyInput{ServerId: &id, HostKeyBody: aws.String(string(pem.EncodeToMemory(block))), Description: aws.String("ed25519")})
	if err != nil {
		t.Fatalf("ImportHostKey: %v", err)
	}
	dh, err := client.DescribeHostKey(ctx, &transfer.DescribeHostKeyInput{ServerId: &id, HostKeyId: hk.HostKeyId})
	if err != nil {
		t.Fatalf("DescribeHostKey: %v", err)
	}
	out = mustSFTP(t, sftpPort, "alice", key, "ls\n", "-o", "HostKeyAlgorithms=ssh-ed25519")
	if m := serverHostKeyRE.FindStringSubmatch(out); m == nil || m[1] != "ssh-ed25519" || m[2] != aws.ToString(dh.HostKey.HostKeyFingerprint) {
		t.Errorf("after ImportHostKey, sftp saw host key %q; want ssh-ed25519 %s", m, aws.ToString(dh.HostKey.HostKeyFingerprint))
	}

	// UpdateServer's security policy applies to new connections.
	if _, err := client.UpdateServer(ctx, &transfer.UpdateServerInput{ServerId: &id, SecurityPolicyName: aws.String("TransferSecurityPolicy-FIPS-2024-01")}); err != nil {
		t.Fatalf("UpdateServer: %v", err)
	}
	if out, err := sftpBatch(t, sftpPort, "alice", key, "ls\n", "-o", "KexAlgorithms=curve25519-sha256"); err == nil {
		t.Errorf("curve25519-sha256 accepted after the policy became FIPS-2024-01:\n%s", out)
	}
	mustSFTP(t, sftpPort, "alice", key, "ls\n", "-o", "KexAlgorithms=ecdh-sha2-nistp256")

	// StopServer closes the listener; StartServer opens it.
	if _, err := client.StopServer(ctx, &transfer.StopServerInput{ServerId: &id}); err != nil {
		t.Fatalf("StopServer: %v", err)
	}
	if ds, err := client.DescribeServer(ctx, &transfer.DescribeServerInput{ServerId: &id}); err != nil || ds.Server.State != types.StateOffline {
		t.Errorf("after StopServer: %+v, %v; want OFFLINE", ds, err)
	}
	if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", sftpPort)); err == nil {
		c.Close()
		t.Error("a stopped server still accepts connections")
	}
	if _, err := client.StartServer(ctx, &transfer.StartServerInput{ServerId: &id}); err != nil {
		t.Fatalf("StartServer: %v", err)
	}
	if ds, err := client.DescribeServer(ctx, &transfer.DescribeServerInput{ServerId: &id}); err != nil || ds.Server.State != types.StateOnline {
		t.Errorf("after StartServer: %+v, %v; want ONLINE", ds, err)
	}
	mustSFTP(t, sftpPort, "alice", key, "ls\n")

	// DeleteUser refuses new logins; DeleteServer closes the listener and removes its users.
	if _, err := client.DeleteUser(ctx, &transfer.DeleteUserInput{ServerId: &id, UserName: aws.String("alice")}); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	if out, err := sftpBatch(t, sftpPort, "alice", key, "ls\n"); err == nil {
		t.Fatalf("a deleted user still logs in:\n%s", out)
	}
	if _, err := client.DeleteServer(ctx, &transfer.DeleteServerInput{ServerId: &id}); err != nil {
		t.Fatalf("DeleteServer: %v", err)
	}
	if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", sftpPort)); err == nil {
		c.Close()
		t.Error("a deleted server still accepts connections")
	}
	_, err = client.DescribeServer(ctx, &transfer.DescribeServerInput{ServerId: &id})
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("DescribeServer after DeleteServer: %v; want ResourceNotFoundException", err)
	}
}

// TestManagementAPISurvivesRestart checks that servers and users created through the API come
// back after a restart, with the same host key and listen address.
func TestManagementAPISurvivesRestart(t *testing.T) {
	t.Parallel()
	p, client := apiClient(t)
	ctx := context.Background()
	key := keyFor(t, "ed25519")
	sftpPort := freePort(t)
	cs, err := client.CreateServer(ctx, &transfer.CreateServerInput{
		Tags: []types.Tag{{Key: aws.String("transferd:Endpoint"), Value: aws.String(fmt.Sprintf("127.0.0.1:%d", sftpPort))}},
	})
	if err != nil {
		t.Fatalf("CreateServer: %v", err)
	}
	if _, err := client.CreateUser(ctx, &transfer.CreateUserInput{ServerId: cs.ServerId, UserName: aws.String("bob"), Role: aws.String(testRole),
		HomeDirectory: aws.String("/bucket1/bob"), SshPublicKeyBody: aws.String(key.Authorized)}); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	before := serverHostKeyRE.FindStringSubmatch(mustSFTP(t, sftpPort, "bob", key, "pwd\n"))
	p.restart(t)
	waitPort(t, p, sftpPort)
	after := serverHostKeyRE.FindStringSubmatch(mustSFTP(t, sftpPort, "bob", key, "pwd\n"))
	if before == nil || after == nil || before[2] != after[2] {
		t.Errorf("host key before restart %q, after %q; want the same", before, after)
	}
}

// waitPort waits until a port accepts connections.
func waitPort(t *testing.T, p *proc, port int) {
	t.Helper()
	deadline := time.Now().Add(startLimit)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %d; stderr:\n%s", port, p.stderrText())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestManagementAPIOperations drives the operations the live-change test does not, through the
// SDK against the real binary: listings with pagination, user and host key updates, security
// policies, tags, and a request with a wrong secret.
func TestManagementAPIOperations(t *testing.T) {
	t.Parallel()
	_, client := apiClient(t)
	ctx := context.Background()
	cs, err := client.CreateServer(ctx, &transfer.CreateServerInput{
		Tags: []types.Tag{{Key: aws.String("transferd:Endpoint"), Value: aws.String(fmt.Sprintf("127.0.0.1:%d", freePort(t)))},
			{Key: aws.String("team"), Value: aws.String("data")}},
	})
	if err != nil {
		t.Fatalf("CreateServer: %v", err)
	}
	id := aws.ToString(cs.ServerId)
	ls, err := client.ListServers(ctx, &transfer.ListServersInput{})
	if err != nil || len(ls.Servers) != 1 || aws.ToString(ls.Servers[0].ServerId) != id || ls.Servers[0].State != types.StateOnline {
		t.Fatalf("ListServers: %+v, %v", ls, err)
	}

	// 150 users, listed 40 at a time with the SDK's paginator.
	key := keyFor(t, "ed25519")
	want := make([]string, 150)
	for i := range want {
		want[i] = fmt.Sprintf("user%03d", i)
		if _, err := client.CreateUser(ctx, &transfer.CreateUserInput{ServerId: &id, UserName: &want[i], Role: aws.String(testRole),
			HomeDirectory: aws.String("/bucket1/" + want[i]), SshPublicKeyBody: aws.String(key.Authorized)}); err != nil {
			t.Fatalf("CreateUser %s: %v", want[i], err)
		}
	}
	var got []string
	pages := 0
	for pg := transfer.NewListUsersPaginator(client, &transfer.ListUsersInput{ServerId: &id, MaxResults: aws.Int32(40)}); pg.HasMorePages(); {
		page, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatalf("ListUsers page %d: %v", pages+1, err)
		}
		pages++
		for _, u := range page.Users {
			got = append(got, aws.ToString(u.UserName))
		}
	}
	if pages != 4 || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("ListUsers: %d pages, %d names; want 4 pages with the 150 names in order", pages, len(got))
	}
	if ds, err := client.DescribeServer(ctx, &transfer.DescribeServerInput{ServerId: &id}); err != nil || aws.ToInt32(ds.Server.UserCount) != 150 {
		t.Errorf("DescribeServer UserCount: %+v, %v; want 150", ds, err)
	}

	// UpdateUser, then DescribeUser shows it.
	if _, err := client.UpdateUser(ctx, &transfer.UpdateUserInput{ServerId: &id, UserName: aws.String("user007"),
		HomeDirectoryType:     types.HomeDirectoryTypeLogical,
		HomeDirectoryMappings: []types.HomeDirectoryMapEntry{{Entry: aws.String("/"), Target: aws.String("/bucket1/seven")}}}); err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	du, err := client.DescribeUser(ctx, &transfer.DescribeUserInput{ServerId: &id, UserName: aws.String("user007")})
	if err != nil || du.User.HomeDirectoryType != types.HomeDirectoryTypeLogical || len(du.User.HomeDirectoryMappings) != 1 || len(du.User.SshPublicKeys) != 1 {
		t.Errorf("DescribeUser after UpdateUser: %+v, %v", du, err)
	}

	// Host keys: list, describe, update, and delete one (not the last).
	hks, err := client.ListHostKeys(ctx, &transfer.ListHostKeysInput{ServerId: &id})
	if err != nil || len(hks.HostKeys) != 1 || aws.ToString(hks.HostKeys[0].Type) != "ssh-rsa" {
		t.Fatalf("ListHostKeys: %+v, %v; want the generated ssh-rsa key", hks, err)
	}
	first := hks.HostKeys[0].HostKeyId
	if _, err := client.UpdateHostKey(ctx, &transfer.UpdateHostKeyInput{ServerId: &id, HostKeyId: first, Description: aws.String("original")}); err != nil {
		t.Fatalf("UpdateHostKey: %v", err)
	}
	if dh, err := client.DescribeHostKey(ctx, &transfer.DescribeHostKeyInput{ServerId: &id, HostKeyId: first}); err != nil || aws.ToString(dh.HostKey.Description) != "original" {
		t.Errorf("DescribeHostKey after UpdateHostKey: %+v, %v", dh, err)
	}
	var ire *types.InvalidRequestException
	if _, err := client.DeleteHostKey(ctx, &transfer.DeleteHostKeyInput{ServerId: &id, HostKeyId: first}); !errors.As(err, &ire) {
		t.Errorf("DeleteHostKey of the last host key: %v; want InvalidRequestException", err)
	}

	// Security policies.
	sp, err := client.ListSecurityPolicies(ctx, &transfer.ListSecurityPoliciesInput{})
	if err != nil || len(sp.SecurityPolicyNames) != 21 {
		t.Errorf("ListSecurityPolicies: %d names, %v; want 21", len(sp.SecurityPolicyNames), err)
	}
	dp, err := client.DescribeSecurityPolicy(ctx, &transfer.DescribeSecurityPolicyInput{SecurityPolicyName: aws.String("TransferSecurityPolicy-2018-11")})
	if err != nil || len(dp.SecurityPolicy.SshKexs) == 0 || dp.SecurityPolicy.SshKexs[len(dp.SecurityPolicy.SshKexs)-1] != "diffie-hellman-group14-sha1" {
		t.Errorf("DescribeSecurityPolicy: %+v, %v", dp, err)
	}

	// Tags on a user.
	arn := aws.ToString(du.User.Arn)
	if _, err := client.TagResource(ctx, &transfer.TagResourceInput{Arn: &arn, Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}}); err != nil {
		t.Fatalf("TagResource: %v", err)
	}
	if lt, err := client.ListTagsForResource(ctx, &transfer.ListTagsForResourceInput{Arn: &arn}); err != nil || len(lt.Tags) != 1 || aws.ToString(lt.Tags[0].Key) != "k" {
		t.Errorf("ListTagsForResource: %+v, %v", lt, err)
	}
	if _, err := client.UntagResource(ctx, &transfer.UntagResourceInput{Arn: &arn, TagKeys: []string{"k"}}); err != nil {
		t.Fatalf("UntagResource: %v", err)
	}
	if lt, err := client.ListTagsForResource(ctx, &transfer.ListTagsForResourceInput{Arn: &arn}); err != nil || len(lt.Tags) != 0 {
		t.Errorf("ListTagsForResource after UntagResource: %+v, %v", lt, err)
	}

	// A wrong secret is refused with AWS's error code.
	bad := transfer.New(client.Options(), func(o *transfer.Options) {
		o.Credentials = credentials.NewStaticCredentialsProvider("AKIAIOSFODNN7EXAMPLE", "wrong", "")
	})
	if _, err := bad.ListServers(ctx, &transfer.ListServersInput{}); err == nil || !regexp.MustCompile(`UnrecognizedClientException|InvalidSignatureException`).MatchString(err.Error()) {
		t.Errorf("a wrong key pair: %v; want UnrecognizedClientException", err)
	}
}

// TestCredentialsExport checks that the lines `transferd credentials --export` prints are enough
// for an AWS SDK: with them in the environment, the SDK for Go's default configuration reaches
// the management API without an endpoint in the code (AWS_ENDPOINT_URL_TRANSFER). It sets the
// process environment, so it does not run in parallel.
func TestCredentialsExport(t *testing.T) {
	p, _, apiPort := apiClientFor(t, "Servers: []\n")
	out, err := exec.Command(suite.bin, "credentials", "--data-dir", p.dataDir, "--export",
		"--endpoint-url", "http://127.0.0.1:"+strconv.Itoa(apiPort)).Output()
	if err != nil {
		t.Fatalf("transferd credentials --export: %v", err)
	}
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	for line := range strings.Lines(string(out)) {
		kv, ok := strings.CutPrefix(strings.TrimSpace(line), "export ")
		k, v, ok2 := strings.Cut(kv, "=")
		if !ok || !ok2 {
			t.Fatalf("credentials --export printed %q, not an export line", line)
		}
		t.Setenv(k, v)
	}
	cfg, err := config.LoadDefaultConfig(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := transfer.NewFromConfig(cfg).ListServers(t.Context(), &transfer.ListServersInput{}); err != nil {
		t.Errorf("ListServers with the environment credentials --export sets: %v\nthe lines:\n%s", err, out)
	}
}
