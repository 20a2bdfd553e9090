package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/transfer"
	"github.com/aws/aws-sdk-go-v2/service/transfer/types"

	"github.com/transferd/transferd/internal/activity"
)

// rawRecord returns the activity log line of the first record matching pred, as written.
func (p *proc) rawRecord(t *testing.T, what string, pred func(r *activity.Record) bool) string {
	t.Helper()
	p.waitRecord(t, what, pred)
	f, err := os.Open(p.actLog)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		var r activity.Record
		if json.Unmarshal(sc.Bytes(), &r) == nil && pred(&r) {
			return sc.Text()
		}
	}
	t.Fatalf("record %s vanished from %s", what, p.actLog)
	return ""
}

// TestRecordClientOfferConfig checks the config field RecordClientOffer: a server with it puts
// the client's whole offer in CONNECTED and KEX_FAILURE, one without does not; a record line is
// what `transferd explain --client-offer` reads, and `transferd policy-impact` reads the log.
func TestRecordClientOfferConfig(t *testing.T) {
	t.Parallel()
	key := keyFor(t, "ed25519")
	recording := serverConf{ID: "s-0000000000000ec01", Port: freePort(t), Policy: policy2024, Users: []userConf{chrootUser("sftp_user", key)}}
	quiet := serverConf{ID: "s-0000000000000ec02", Port: freePort(t), Policy: policy2024, Users: []userConf{chrootUser("other_user", key)}}
	cfg := configYAML("", recording, quiet)
	cfg = strings.Replace(cfg, fmt.Sprintf("  - Endpoint: \"127.0.0.1:%d\"\n", recording.Port),
		fmt.Sprintf("  - Endpoint: \"127.0.0.1:%d\"\n    RecordClientOffer: true\n", recording.Port), 1)
	p := start(t, cfg)

	opts := opt("Ciphers=aes256-ctr,aes128-gcm@openssh.com")
	mustSFTP(t, recording.Port, "sftp_user", key, "pwd\n", opts...)
	mustSFTP(t, quiet.Port, "other_user", key, "pwd\n")
	if out, err := sftpBatch(t, recording.Port, "sftp_user", key, "pwd\n", opt("Ciphers=chacha20-poly1305@openssh.com")...); err == nil {
		t.Fatalf("chacha20-poly1305 negotiated under %s:\n%s", policy2024, out)
	}
	line := p.rawRecord(t, "CONNECTED on "+recording.ID, func(r *activity.Record) bool {
		return r.ActivityType == activity.Connected && r.ResourceARN == serverARN(recording.ID)
	})
	var rec activity.Record
	if err := json.Unmarshal([]byte(line), &rec); err != nil {
		t.Fatal(err)
	}
	if !sameOffer(&rec, openSSHOffer(t, opts)) {
		t.Errorf("CONNECTED client-offer %+v, want the offer ssh -G describes", rec.ClientOffer)
	}
	failure := p.waitRecord(t, "KEX_FAILURE on "+recording.ID, func(r *activity.Record) bool {
		return r.ActivityType == activity.KexFailure && r.ResourceARN == serverARN(recording.ID)
	})
	if !sameOffer(&failure, openSSHOffer(t, opt("Ciphers=chacha20-poly1305@openssh.com"))) {
		t.Errorf("KEX_FAILURE client-offer %+v, want the offer ssh -G describes", failure.ClientOffer)
	}
	other := p.waitRecord(t, "CONNECTED on "+quiet.ID, func(r *activity.Record) bool {
		return r.ActivityType == activity.Connected && r.ResourceARN == serverARN(quiet.ID)
	})
	if other.ClientOffer != nil {
		t.Errorf("a server without RecordClientOffer recorded %+v", other.ClientOffer)
	}

	// The record line, as the log holds it, is a --client-offer file.
	file := filepath.Join(t.TempDir(), "record.json")
	if err := os.WriteFile(file, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	want := explainOffer(t, policy2024, file)
	if want.Record.Kex != rec.Kex || want.Record.HostKeyAlgorithm != rec.HostKeyAlgorithm || want.Record.Ciphers != rec.Ciphers || want.Record.Macs != rec.Macs {
		t.Errorf("explain --client-offer with the record line predicts %+v; the record says kex %q host key %q ciphers %q macs %q",
			want.Record, rec.Kex, rec.HostKeyAlgorithm, rec.Ciphers, rec.Macs)
	}

	// policy-impact over the log: under the same policy the recorded client keeps its
	// algorithms and the refused one stays refused; under FIPS-2024-01 its key exchange changes.
	impact := func(policy string) map[string]string {
		out, err := exec.Command(suite.bin, "policy-impact", "--policy", policy, "--logs", p.actLog, "--json").Output()
		if err != nil {
			t.Fatalf("policy-impact: %v", err)
		}
		var im struct {
			Clients []struct{ User, Basis, Change string }
		}
		if err := json.Unmarshal(out, &im); err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, c := range im.Clients {
			got[c.User] = c.Basis + ": " + c.Change
		}
		return got
	}
	if got := impact(policy2024); got["sftp_user"] != "recorded offer: same" || got[""] != "recorded offer: still fails" {
		t.Errorf("policy-impact under %s: %v; want sftp_user the same and the refused client still failing, both from recorded offers", policy2024, got)
	}
	if got := impact(policyFIPS); got["sftp_user"] != "recorded offer: changes" {
		t.Errorf("policy-impact under %s: %v; want sftp_user's algorithms to change", policyFIPS, got)
	}
}

// explainOffer runs `transferd explain --json` for a recorded offer against one policy.
func explainOffer(t testing.TB, policy, offerFile string) prediction {
	t.Helper()
	args := []string{"explain", "--policy", policy, "--client-offer", offerFile, "--json"}
	out, err := exec.Command(suite.bin, args...).Output()
	if err != nil {
		t.Fatalf("transferd %q: %v", args, err)
	}
	var p prediction
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatalf("transferd %q: %v in\n%s", args, err, out)
	}
	return p
}

// TestRecordClientOfferAPI checks the tag transferd:RecordClientOffer through the AWS SDK: set on
// CreateServer it records offers at once, TagResource false stops it for new connections, and
// other values are refused.
func TestRecordClientOfferAPI(t *testing.T) {
	t.Parallel()
	p, client := apiClient(t)
	ctx := context.Background()
	key := keyFor(t, "ed25519")
	port := freePort(t)
	tag := func(k, v string) types.Tag { return types.Tag{Key: aws.String(k), Value: aws.String(v)} }

	_, err := client.CreateServer(ctx, &transfer.CreateServerInput{Tags: []types.Tag{tag("transferd:RecordClientOffer", "yes")}})
	if err == nil || !strings.Contains(err.Error(), "InvalidRequestException") || !strings.Contains(err.Error(), "transferd:RecordClientOffer must be true or false") {
		t.Errorf("CreateServer with transferd:RecordClientOffer=yes: %v; want InvalidRequestException naming the tag", err)
	}
	cs, err := client.CreateServer(ctx, &transfer.CreateServerInput{Tags: []types.Tag{
		tag("transferd:Endpoint", fmt.Sprintf("127.0.0.1:%d", port)), tag("transferd:RecordClientOffer", "true")}})
	if err != nil {
		t.Fatalf("CreateServer: %v", err)
	}
	id := aws.ToString(cs.ServerId)
	if _, err := client.CreateUser(ctx, &transfer.CreateUserInput{
		ServerId: &id, UserName: aws.String("alice"), Role: aws.String(testRole),
		HomeDirectoryType:     types.HomeDirectoryTypeLogical,
		HomeDirectoryMappings: []types.HomeDirectoryMapEntry{{Entry: aws.String("/"), Target: aws.String("/bucket1/alice")}},
		SshPublicKeyBody:      aws.String(key.Authorized),
	}); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	ds, err := client.DescribeServer(ctx, &transfer.DescribeServerInput{ServerId: &id})
	if err != nil {
		t.Fatal(err)
	}
	shown := false
	for _, tg := range ds.Server.Tags {
		shown = shown || aws.ToString(tg.Key) == "transferd:RecordClientOffer" && aws.ToString(tg.Value) == "true"
	}
	if !shown {
		t.Errorf("DescribeServer tags %v lack transferd:RecordClientOffer=true", ds.Server.Tags)
	}

	connected := func(dir string) activity.Record {
		mustSFTP(t, port, "alice", key, "mkdir "+dir+"\n")
		return p.session(t, "MKDIR "+dir, func(r *activity.Record) bool {
			return r.ActivityType == activity.Mkdir && r.Path == "/bucket1/alice/"+dir
		})[0]
	}
	if r := connected("first"); r.ClientOffer == nil || !sameOffer(&r, openSSHOffer(t, nil)) {
		t.Errorf("CONNECTED on a server tagged to record offers: client-offer %+v", r.ClientOffer)
	}
	_, err = client.TagResource(ctx, &transfer.TagResourceInput{Arn: ds.Server.Arn, Tags: []types.Tag{tag("transferd:RecordClientOffer", "TRUE")}})
	if err == nil || !strings.Contains(err.Error(), "must be true or false") {
		t.Errorf("TagResource transferd:RecordClientOffer=TRUE: %v; want it refused", err)
	}
	if _, err := client.TagResource(ctx, &transfer.TagResourceInput{Arn: ds.Server.Arn, Tags: []types.Tag{tag("transferd:RecordClientOffer", "false")}}); err != nil {
		t.Fatalf("TagResource: %v", err)
	}
	if r := connected("second"); r.ClientOffer != nil {
		t.Errorf("CONNECTED after tagging transferd:RecordClientOffer=false still holds an offer")
	}
}
