package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/transfer"
	"github.com/aws/aws-sdk-go-v2/service/transfer/types"
)

// TestConfigOwnsItsResources checks, with the AWS SDK and CLI, that what the config file creates
// is managed by it: shown with transferd:ManagedBy=config, readable, but not changeable through the
// API, which names the file; users the API adds to the file's server, and host keys, stay the
// API's and survive a SIGHUP.
func TestConfigOwnsItsResources(t *testing.T) {
	t.Parallel()
	const id = "s-0000000000000c0f1"
	alice, bob := keyFor(t, "ed25519"), keyFor(t, "ed25519#other")
	port := freePort(t)
	p, client, apiPort := apiClientFor(t, configYAML("", serverConf{ID: id, Port: port, Users: []userConf{chrootUser("alice", alice)}}))
	ctx := context.Background()
	managedBy := "transferd:ManagedBy=config"
	tags := func(tt []types.Tag) string {
		var s []string
		for _, t := range tt {
			s = append(s, aws.ToString(t.Key)+"="+aws.ToString(t.Value))
		}
		return strings.Join(s, " ")
	}

	ds, err := client.DescribeServer(ctx, &transfer.DescribeServerInput{ServerId: aws.String(id)})
	if err != nil || !strings.Contains(tags(ds.Server.Tags), managedBy) {
		t.Fatalf("DescribeServer: %v; tags %q, want %s", err, tags(ds.Server.Tags), managedBy)
	}
	du, err := client.DescribeUser(ctx, &transfer.DescribeUserInput{ServerId: aws.String(id), UserName: aws.String("alice")})
	if err != nil || tags(du.User.Tags) != managedBy {
		t.Fatalf("DescribeUser alice: %v; tags %q, want %s", err, tags(du.User.Tags), managedBy)
	}

	refused := func(op string, err error) {
		t.Helper()
		var ire *types.InvalidRequestException
		if !errors.As(err, &ire) || !strings.Contains(aws.ToString(ire.Message), "managed by the config file "+p.cfgPath) {
			t.Errorf("%s on what the config file manages: %v; want InvalidRequestException naming %s", op, err, p.cfgPath)
		}
	}
	_, err = client.UpdateServer(ctx, &transfer.UpdateServerInput{ServerId: aws.String(id), PreAuthenticationLoginBanner: aws.String("changed")})
	refused("UpdateServer", err)
	_, err = client.StopServer(ctx, &transfer.StopServerInput{ServerId: aws.String(id)})
	refused("StopServer", err)
	_, err = client.DeleteUser(ctx, &transfer.DeleteUserInput{ServerId: aws.String(id), UserName: aws.String("alice")})
	refused("DeleteUser", err)
	_, err = client.ImportSshPublicKey(ctx, &transfer.ImportSshPublicKeyInput{ServerId: aws.String(id), UserName: aws.String("alice"), SshPublicKeyBody: aws.String(bob.Authorized)})
	refused("ImportSshPublicKey", err)
	_, err = client.TagResource(ctx, &transfer.TagResourceInput{Arn: ds.Server.Arn, Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("x")}}})
	refused("TagResource", err)

	cli := awsCLI(t, p, apiPort)
	if _, stderr, err := cli("delete-server", "--server-id", id); err == nil ||
		!strings.Contains(stderr, "(InvalidRequestException) when calling the DeleteServer operation: ServerId: server "+id+" is managed by the config file "+p.cfgPath) {
		t.Errorf("aws transfer delete-server of the file's server: %v\n%s", err, stderr)
	}

	// The API may add users to the file's server and rotate its host keys.
	if _, err := client.CreateUser(ctx, &transfer.CreateUserInput{ServerId: aws.String(id), UserName: aws.String("bob"), Role: aws.String(testRole),
		HomeDirectoryType: types.HomeDirectoryTypeLogical, SshPublicKeyBody: aws.String(bob.Authorized),
		HomeDirectoryMappings: []types.HomeDirectoryMapEntry{{Entry: aws.String("/"), Target: aws.String("/bucket1/bob")}}}); err != nil {
		t.Fatalf("CreateUser bob on the file's server: %v", err)
	}
	hostKey, _ := hostKeyPEM(t, "ed25519")
	if _, err := client.ImportHostKey(ctx, &transfer.ImportHostKeyInput{ServerId: aws.String(id), HostKeyBody: aws.String(hostKey)}); err != nil {
		t.Errorf("ImportHostKey on the file's server: %v", err)
	}

	p.reload(t)
	for _, u := range []struct {
		name string
		key  *sshKey
	}{{"alice", alice}, {"bob", bob}} {
		mustSFTP(t, port, u.name, u.key, fmt.Sprintf("mkdir after-hup-%s\n", u.name))
	}
	m, stderr, err := cli("describe-server", "--server-id", id)
	srv, _ := m["Server"].(map[string]any)
	if err != nil || !strings.Contains(fmt.Sprint(srv["Tags"]), "Key:transferd:ManagedBy Value:config") || srv["PreAuthenticationLoginBanner"] != nil {
		t.Errorf("aws transfer describe-server after SIGHUP: %v %v; want the tag %s and no banner\n%s", srv, err, managedBy, stderr)
	}
}
