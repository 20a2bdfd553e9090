package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/transfer"
	"github.com/aws/aws-sdk-go-v2/service/transfer/types"
)

// workflowRecord is a workflow record of the activity log, in Transfer Family's shape.
type workflowRecord struct {
	Type            string         `json:"type"`
	Details         map[string]any `json:"details"`
	WorkflowID      string         `json:"workflowId"`
	ExecutionID     string         `json:"executionId"`
	TransferDetails struct {
		ServerID, Username, SessionID string
	} `json:"transferDetails"`
}

// workflowRecords returns the workflow records of p's activity log.
func (p *proc) workflowRecords(t *testing.T) []workflowRecord {
	t.Helper()
	b, err := os.ReadFile(p.actLog)
	if err != nil {
		t.Fatal(err)
	}
	var out []workflowRecord
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		var r workflowRecord
		if json.Unmarshal(sc.Bytes(), &r) == nil && r.Type != "" && r.ExecutionID != "" {
			out = append(out, r)
		}
	}
	return out
}

// execution waits until the execution of workflow wid that an upload of path (bucket/key) started
// has ended, and returns its records in order.
func (p *proc) execution(t *testing.T, wid, bucket, key string) []workflowRecord {
	t.Helper()
	return p.executionWithin(t, recordLimit, wid, bucket, key)
}

// executionWithin is execution for executions that take longer than recordLimit.
func (p *proc) executionWithin(t *testing.T, limit time.Duration, wid, bucket, key string) []workflowRecord {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		recs := p.workflowRecords(t)
		id := ""
		for _, r := range recs {
			if r.Type == "ExecutionStarted" && r.WorkflowID == wid {
				loc, _ := r.Details["input"].(map[string]any)["initialFileLocation"].(map[string]any)
				if loc["bucket"] == bucket && loc["key"] == key || loc["fileSystemId"] == bucket && loc["path"] == "/"+key {
					id = r.ExecutionID
				}
			}
		}
		var mine []workflowRecord
		for _, r := range recs {
			if r.ExecutionID == id {
				mine = append(mine, r)
			}
		}
		if n := len(mine); id != "" && (mine[n-1].Type == "ExecutionCompleted" || mine[n-1].Type == "ExecutionErrored") {
			return mine
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ended execution of workflow %s for /%s/%s after %v; workflow records: %+v", wid, bucket, key, limit, recs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func recordTypes(recs []workflowRecord) string {
	var out []string
	for _, r := range recs {
		s := r.Type
		if st, ok := r.Details["stepType"].(string); ok {
			s += ":" + st
		}
		if et, ok := r.Details["errorType"].(string); ok {
			s += ":" + et
		}
		out = append(out, s)
	}
	return strings.Join(out, " ")
}

// workflowSite is a transferd with the management API and one API-made server with a LOGICAL
// user whose "/" is /BUCKET/home.
type workflowSite struct {
	p      *proc
	client *transfer.Client
	id     string
	port   int
	key    *sshKey
	bucket string
	api    string // the management API's URL
}

const workflowRole = "arn:aws:iam::123456789012:role/workflow"

func newWorkflowSite(t *testing.T, cfg, domain, bucket string, flags ...string) *workflowSite {
	t.Helper()
	p, client, apiPort := apiClientFor(t, cfg, flags...)
	return (&workflowSite{p: p, client: client, key: keyFor(t, "ed25519"), api: fmt.Sprintf("http://127.0.0.1:%d", apiPort)}).server(t, domain, bucket)
}

// server adds to s's transferd a server of domain whose user wfuser's "/" is /bucket/home.
func (s *workflowSite) server(t *testing.T, domain, bucket string) *workflowSite {
	t.Helper()
	o := &workflowSite{p: s.p, client: s.client, port: freePort(t), key: s.key, bucket: bucket, api: s.api}
	out, err := s.client.CreateServer(t.Context(), &transfer.CreateServerInput{Domain: types.Domain(domain),
		Tags: []types.Tag{{Key: aws.String("transferd:Endpoint"), Value: aws.String(fmt.Sprintf("127.0.0.1:%d", o.port))}}})
	if err != nil {
		t.Fatal(err)
	}
	o.id = aws.ToString(out.ServerId)
	pub, err := os.ReadFile(s.key.Path + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.CreateUser(t.Context(), &transfer.CreateUserInput{ServerId: &o.id, UserName: aws.String("wfuser"), Role: aws.String(testRole),
		HomeDirectoryType: types.HomeDirectoryTypeLogical, SshPublicKeyBody: aws.String(string(pub)),
		HomeDirectoryMappings: []types.HomeDirectoryMapEntry{{Entry: aws.String("/"), Target: aws.String("/" + bucket + "/home")}},
		PosixProfile:          posixFor(domain)}); err != nil {
		t.Fatal(err)
	}
	waitListening(t, o.port, true)
	return o
}

func posixFor(domain string) *types.PosixProfile {
	if domain != "EFS" {
		return nil
	}
	return &types.PosixProfile{Uid: aws.Int64(int64(os.Getuid())), Gid: aws.Int64(int64(os.Getgid()))}
}

// workflow creates a workflow and makes it the server's workflow for trigger.
func (s *workflowSite) workflow(t *testing.T, trigger string, steps, onException []types.WorkflowStep) string {
	t.Helper()
	out, err := s.client.CreateWorkflow(t.Context(), &transfer.CreateWorkflowInput{Steps: steps, OnExceptionSteps: onException})
	if err != nil {
		t.Fatal(err)
	}
	wd := &types.WorkflowDetails{OnUpload: []types.WorkflowDetail{}}
	detail := []types.WorkflowDetail{{WorkflowId: out.WorkflowId, ExecutionRole: aws.String(workflowRole)}}
	if trigger == "OnUpload" {
		wd.OnUpload = detail
	} else {
		wd.OnPartialUpload = detail
	}
	if _, err := s.client.UpdateServer(t.Context(), &transfer.UpdateServerInput{ServerId: &s.id, WorkflowDetails: wd}); err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.WorkflowId)
}

// archiveSteps copy the upload to archive/USER/, tag the copy and delete the original.
func archiveSteps(bucket string) []types.WorkflowStep {
	return []types.WorkflowStep{
		{Type: types.WorkflowStepTypeCopy, CopyStepDetails: &types.CopyStepDetails{Name: aws.String("archive"), OverwriteExisting: types.OverwriteExistingTrue,
			DestinationFileLocation: &types.InputFileLocation{S3FileLocation: &types.S3InputFileLocation{Bucket: aws.String(bucket), Key: aws.String("archive/${transfer:UserName}/")}}}},
		{Type: types.WorkflowStepTypeTag, TagStepDetails: &types.TagStepDetails{Name: aws.String("mark"), Tags: []types.S3Tag{{Key: aws.String("state"), Value: aws.String("archived")}}}},
		{Type: types.WorkflowStepTypeDelete, DeleteStepDetails: &types.DeleteStepDetails{Name: aws.String("remove"), SourceFileLocation: aws.String("${original.file}")}},
	}
}

// On S3 (versitygw, checked with the AWS SDK), an upload through OpenSSH's sftp runs the
// server's OnUpload workflow: the copy, its tags and the deleted original are exactly as the
// steps say, and the records follow Transfer Family's. A COPY that may not overwrite fails, and
// the exception steps tag the original, which stays.
func TestWorkflowS3(t *testing.T) {
	t.Parallel()
	e := newS3Env(t)
	e.put(t, "home/", nil)
	metricsPort := freePort(t)
	s := newWorkflowSite(t, strings.Replace(s3ConfigYAML(e.srv), "Servers:\n", "Servers: []\n", 1), "S3", e.bucket,
		"--metrics-listen", fmt.Sprintf("127.0.0.1:%d", metricsPort))
	wid := s.workflow(t, "OnUpload", archiveSteps(e.bucket), nil)
	src := filepath.Join(t.TempDir(), "report.csv")
	sum := writeRandom(t, src, 3<<20)
	mustSFTP(t, s.port, "wfuser", s.key, "put "+src+" report.csv\n")

	recs := s.p.execution(t, wid, e.bucket, "home/report.csv")
	if got := recordTypes(recs); got != "ExecutionStarted StepStarted:COPY StepCompleted:COPY StepStarted:TAG StepCompleted:TAG StepStarted:DELETE StepCompleted:DELETE ExecutionCompleted" {
		t.Errorf("records: %s", got)
	}
	if td := recs[0].TransferDetails; td.ServerID != s.id || td.Username != "wfuser" || td.SessionID == "" {
		t.Errorf("transferDetails %+v", td)
	}
	if size, got, ok := e.object(t, "archive/wfuser/report.csv"); !ok || got != sum || size != 3<<20 {
		t.Errorf("the copy: %v, %d bytes, sha256 %s", ok, size, got)
	}
	tags, err := e.c.GetObjectTagging(t.Context(), &s3.GetObjectTaggingInput{Bucket: &e.bucket, Key: aws.String("archive/wfuser/report.csv")})
	if err != nil || len(tags.TagSet) != 1 || aws.ToString(tags.TagSet[0].Key) != "state" || aws.ToString(tags.TagSet[0].Value) != "archived" {
		t.Errorf("the copy's tags: %v, %+v", err, tags)
	}
	if keys := e.mustKeys(t, ""); !slices.Equal(keys, []string{"archive/wfuser/report.csv", "home/"}) {
		t.Errorf("the bucket holds %q; want the copy and the home marker only", keys)
	}

	// A COPY that may not overwrite: the second upload of the name fails at it, and the exception
	// step tags the original, which stays where it was uploaded.
	wid = s.workflow(t, "OnUpload", []types.WorkflowStep{
		{Type: types.WorkflowStepTypeCopy, CopyStepDetails: &types.CopyStepDetails{Name: aws.String("once"),
			DestinationFileLocation: &types.InputFileLocation{S3FileLocation: &types.S3InputFileLocation{Bucket: aws.String(e.bucket), Key: aws.String("once/data.bin")}}}},
	}, []types.WorkflowStep{
		{Type: types.WorkflowStepTypeTag, TagStepDetails: &types.TagStepDetails{Name: aws.String("flag"), Tags: []types.S3Tag{{Key: aws.String("state"), Value: aws.String("failed")}}}},
	})
	mustSFTP(t, s.port, "wfuser", s.key, "put "+src+" first.bin\n")
	if got := recordTypes(s.p.execution(t, wid, e.bucket, "home/first.bin")); !strings.HasSuffix(got, "ExecutionCompleted") {
		t.Errorf("the first upload: %s", got)
	}
	mustSFTP(t, s.port, "wfuser", s.key, "put "+src+" second.bin\n")
	recs = s.p.execution(t, wid, e.bucket, "home/second.bin")
	if got := recordTypes(recs); got != "ExecutionStarted StepStarted:COPY StepErrored:COPY:ALREADY_EXISTS StepStarted:TAG StepCompleted:TAG ExecutionErrored" {
		t.Errorf("the second upload: %s", got)
	}
	tags, err = e.c.GetObjectTagging(t.Context(), &s3.GetObjectTaggingInput{Bucket: &e.bucket, Key: aws.String("home/second.bin")})
	if err != nil || len(tags.TagSet) != 1 || aws.ToString(tags.TagSet[0].Value) != "failed" {
		t.Errorf("the original after the exception steps: %v, %+v", err, tags)
	}
	m := scrape(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort))
	for event, want := range map[string]float64{"started": 3, "success": 2, "failed": 1} {
		name := fmt.Sprintf(`transferd_workflow_executions_total{event=%q,server_id=%q,trigger="OnUpload"}`, event, s.id)
		if m[name] != want {
			t.Errorf("%s = %v, want %v", name, m[name], want)
		}
	}
}

// On local storage an S3-domain server's TAG step keeps its tags in the state store (its output
// says them); an EFS-domain server's OnPartialUpload workflow runs after a killed upload, on what
// arrived.
func TestWorkflowLocal(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	const fs = "fs-0123456789abcdef0"
	for _, dir := range []string{"bucket1/home", fs + "/home"} {
		if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s := newWorkflowSite(t, strings.Replace(configYAML(root), "Servers:\n", "Servers: []\n", 1), "S3", "bucket1")
	wid := s.workflow(t, "OnUpload", archiveSteps("bucket1"), nil)
	src := filepath.Join(t.TempDir(), "report.csv")
	sum := writeRandom(t, src, 1<<20)
	mustSFTP(t, s.port, "wfuser", s.key, "put "+src+" report.csv\n")
	recs := s.p.execution(t, wid, "bucket1", "home/report.csv")
	if got := recordTypes(recs); !strings.HasSuffix(got, "StepCompleted:DELETE ExecutionCompleted") {
		t.Errorf("records: %s", got)
	}
	for _, r := range recs {
		if r.Type == "StepCompleted" && r.Details["stepType"] == "TAG" {
			if b, _ := json.Marshal(r.Details["output"]); string(b) != `{"tags":[{"key":"state","value":"archived"}]}` {
				t.Errorf("the TAG step's output: %s", b)
			}
		}
	}
	if got := fileSHA256(t, filepath.Join(root, "bucket1", "archive", "wfuser", "report.csv")); got != sum {
		t.Errorf("the copy's sha256 %s, want %s", got, sum)
	}
	if _, err := os.Stat(filepath.Join(root, "bucket1", "home", "report.csv")); !os.IsNotExist(err) {
		t.Errorf("the original after DELETE: %v", err)
	}

	// EFS: a killed upload starts OnPartialUpload, which copies what arrived to quarantine/.
	efs := s.server(t, "EFS", fs)
	pwid := efs.workflow(t, "OnPartialUpload", []types.WorkflowStep{
		{Type: types.WorkflowStepTypeCopy, CopyStepDetails: &types.CopyStepDetails{Name: aws.String("quarantine"),
			DestinationFileLocation: &types.InputFileLocation{EfsFileLocation: &types.EfsFileLocation{FileSystemId: aws.String(fs), Path: aws.String("/quarantine/")}}}},
	}, nil)
	big := filepath.Join(t.TempDir(), "big.bin")
	writeRandom(t, big, 32<<20)
	args := append([]string{"-b", "-", "-P", strconv.Itoa(efs.port), "-l", "32768"}, clientOpts(efs.key)...)
	cmd := exec.Command("sftp", append(args, "wfuser@127.0.0.1")...)
	cmd.Stdin = strings.NewReader("put " + big + " big.bin\n")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	uploaded := filepath.Join(root, fs, "home", "big.bin")
	for deadline := time.Now().Add(clientLimit); ; time.Sleep(20 * time.Millisecond) {
		if fi, err := os.Stat(uploaded); err == nil && fi.Size() >= 4<<20 {
			break
		}
		if time.Now().After(deadline) {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			cmd.Wait()
			t.Fatalf("the upload did not reach 4 MiB in %v", clientLimit)
		}
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	cmd.Wait()
	recs = efs.p.execution(t, pwid, fs, "home/big.bin")
	if got := recordTypes(recs); got != "ExecutionStarted StepStarted:COPY StepCompleted:COPY ExecutionCompleted" {
		t.Errorf("the partial upload's execution: %s", got)
	}
	q, err := os.Stat(filepath.Join(root, fs, "quarantine", "big.bin"))
	if err != nil || q.Size() < 4<<20 || q.Size() >= 32<<20 {
		t.Errorf("the quarantined copy: %v, %v", q, err)
	}
}

// stepFnBuild is examples/workflow-step, built once per test binary.
var stepFnBuild struct {
	once sync.Once
	bin  string
	err  error
}

func stepFnBinary(t *testing.T) string {
	t.Helper()
	stepFnBuild.once.Do(func() {
		stepFnBuild.bin = filepath.Join(filepath.Dir(suite.bin), "workflow-step")
		build := exec.Command("go", "build", "-o", stepFnBuild.bin, "./examples/workflow-step")
		build.Dir = suite.root
		if out, err := build.CombinedOutput(); err != nil {
			stepFnBuild.err = fmt.Errorf("building examples/workflow-step: %v\n%s", err, out)
		}
	})
	if stepFnBuild.err != nil {
		t.Fatal(stepFnBuild.err)
	}
	return stepFnBuild.bin
}

// A CUSTOM step invokes examples/workflow-step under the Lambda Runtime Interface Emulator with
// Transfer Family's event; the function calls back with SendWorkflowStepState through the
// management API. SUCCESS goes on to the next step, FAILURE to the exception steps, and a
// restart of transferd while the function runs (11 s) neither loses nor repeats the execution.
func TestWorkflowCustomStep(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "bucket1", "home"), 0o755); err != nil {
		t.Fatal(err)
	}
	invokeAddr, runtimeAddr := "127.0.0.1:"+strconv.Itoa(freePort(t)), "127.0.0.1:"+strconv.Itoa(freePort(t))
	cfg := fmt.Sprintf("IdentityProviders:\n  LambdaEndpoint: http://%s\n  Region: us-east-1\n  AccessKeyId: test\n  SecretAccessKey: test\n", invokeAddr) +
		strings.Replace(configYAML(root), "Servers:\n", "Servers: []\n", 1)
	s := newWorkflowSite(t, cfg, "S3", "bucket1")
	creds := readCredentials(t, s.p)
	rie, err := exec.Command("bash", filepath.Join(suite.root, "scripts", "lambda-rie.sh"), "path").Output()
	if err != nil {
		t.Fatalf("scripts/lambda-rie.sh path: %v", err)
	}
	fn := exec.Command(strings.TrimSpace(string(rie)), "--runtime-interface-emulator-address", invokeAddr, "--runtime-api-address", runtimeAddr, stepFnBinary(t))
	fn.Env = append(os.Environ(), "AWS_LAMBDA_FUNCTION_TIMEOUT=120", "AWS_REGION=us-east-1",
		"AWS_ENDPOINT_URL_TRANSFER="+s.api, "AWS_ACCESS_KEY_ID="+creds.AccessKeyId, "AWS_SECRET_ACCESS_KEY="+creds.SecretAccessKey,
		"REJECT=reject", "DELAY=11s", "DELAY_PATTERN=ok|slow")
	runBeside(t, "the Lambda Runtime Interface Emulator", fn, invokeAddr)

	copyTo := func(prefix string) types.WorkflowStep {
		return types.WorkflowStep{Type: types.WorkflowStepTypeCopy, CopyStepDetails: &types.CopyStepDetails{Name: aws.String("to-" + strings.TrimSuffix(prefix, "/")),
			DestinationFileLocation: &types.InputFileLocation{S3FileLocation: &types.S3InputFileLocation{Bucket: aws.String("bucket1"), Key: aws.String(prefix)}}}}
	}
	wid := s.workflow(t, "OnUpload", []types.WorkflowStep{
		{Type: types.WorkflowStepTypeCustom, CustomStepDetails: &types.CustomStepDetails{Name: aws.String("check"),
			Target: aws.String("arn:aws:lambda:us-east-1:000000000000:function:function"), TimeoutSeconds: aws.Int32(60)}},
		copyTo("done/"),
	}, []types.WorkflowStep{copyTo("rejected/")})
	src := filepath.Join(t.TempDir(), "data.csv")
	writeRandom(t, src, 4096)

	mustSFTP(t, s.port, "wfuser", s.key, "put "+src+" ok.csv\n")
	if got := recordTypes(s.p.executionWithin(t, time.Minute, wid, "bucket1", "home/ok.csv")); got != "ExecutionStarted StepStarted:CUSTOM StepCompleted:CUSTOM StepStarted:COPY StepCompleted:COPY ExecutionCompleted" {
		t.Errorf("SUCCESS: %s", got)
	}
	mustSFTP(t, s.port, "wfuser", s.key, "put "+src+" reject.csv\n")
	if got := recordTypes(s.p.execution(t, wid, "bucket1", "home/reject.csv")); got != "ExecutionStarted StepStarted:CUSTOM StepErrored:CUSTOM:CUSTOM_STEP_FAILED StepStarted:COPY StepCompleted:COPY ExecutionErrored" {
		t.Errorf("FAILURE: %s", got)
	}
	for _, f := range []string{"done/ok.csv", "rejected/reject.csv", "home/ok.csv", "home/reject.csv"} {
		if _, err := os.Stat(filepath.Join(root, "bucket1", f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}

	// The function takes 11 s for slow.csv, as for ok.csv above (longer than the identity
	// providers' 10 s wait for an answer, which steps do not have); transferd restarts meanwhile. While it waits, the
	// execution is listed and described as in progress.
	mustSFTP(t, s.port, "wfuser", s.key, "put "+src+" slow.csv\n")
	deadline := time.Now().Add(recordLimit)
	for !hasCustomStart(s.p.workflowRecords(t), "home/slow.csv") {
		if time.Now().After(deadline) {
			t.Fatal("the slow file's CUSTOM step did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	list, err := s.client.ListExecutions(t.Context(), &transfer.ListExecutionsInput{WorkflowId: &wid})
	if err != nil || len(list.Executions) != 1 || list.Executions[0].Status != types.ExecutionStatusInProgress ||
		aws.ToString(list.Executions[0].InitialFileLocation.S3FileLocation.Key) != "home/slow.csv" {
		t.Fatalf("ListExecutions while the function runs: %v, %+v", err, list)
	}
	d, err := s.client.DescribeExecution(t.Context(), &transfer.DescribeExecutionInput{WorkflowId: &wid, ExecutionId: list.Executions[0].ExecutionId})
	if err != nil || aws.ToString(d.Execution.ServiceMetadata.UserDetails.UserName) != "wfuser" || aws.ToString(d.Execution.ExecutionRole) != workflowRole {
		t.Errorf("DescribeExecution while the function runs: %v, %+v", err, d)
	}
	s.p.restart(t)
	recs := s.p.executionWithin(t, time.Minute, wid, "bucket1", "home/slow.csv")
	if got := recordTypes(recs); got != "ExecutionStarted StepStarted:CUSTOM StepCompleted:CUSTOM StepStarted:COPY StepCompleted:COPY ExecutionCompleted" {
		t.Errorf("across a restart: %s", got)
	}
	if _, err := os.Stat(filepath.Join(root, "bucket1", "done", "slow.csv")); err != nil {
		t.Errorf("the slow file's copy: %v", err)
	}
	started := 0
	for _, r := range s.p.workflowRecords(t) {
		if r.Type == "ExecutionStarted" {
			started++
		}
	}
	if started != 3 {
		t.Errorf("%d executions started for 3 uploads", started)
	}
	list, err = s.client.ListExecutions(t.Context(), &transfer.ListExecutionsInput{WorkflowId: &wid})
	if err != nil || len(list.Executions) != 0 {
		t.Errorf("ListExecutions after the end: %v, %+v", err, list)
	}
}

// hasCustomStart reports whether the CUSTOM step of the execution for key has started.
func hasCustomStart(recs []workflowRecord, key string) bool {
	id := ""
	for _, r := range recs {
		if r.Type == "ExecutionStarted" {
			if loc, _ := r.Details["input"].(map[string]any)["initialFileLocation"].(map[string]any); loc["key"] == key {
				id = r.ExecutionID
			}
		}
		if r.Type == "StepStarted" && r.ExecutionID == id && id != "" && r.Details["stepType"] == "CUSTOM" {
			return true
		}
	}
	return false
}

// gpgHome is a GnuPG home of the test's own with one key pair (passphrase-protected) for uid.
func gpgHome(t *testing.T, uid, passphrase string) (home string, run func(args ...string) []byte) {
	t.Helper()
	needTool(t, "gpg")
	home, err := os.MkdirTemp("", "gnupg") // short: gpg-agent's socket path is limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		exec.Command("gpgconf", "--homedir", home, "--kill", "gpg-agent").Run()
		os.RemoveAll(home)
	})
	os.Chmod(home, 0o700)
	run = func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command("gpg", append([]string{"--homedir", home, "--batch", "--yes", "--pinentry-mode", "loopback", "--passphrase", passphrase}, args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("gpg %q: %v\n%s", args, err, stderr.String())
		}
		return out
	}
	run("--quick-gen-key", uid, "default", "default", "never") // RSA 3072 with an encryption subkey (gpg 2.2)
	return home, run
}

// A DECRYPT step decrypts a file that gpg (Debian's gnupg) encrypted, binary or armored, with the
// key of the server's @pgp-default secret in the Secrets directory; a file encrypted to another
// key fails the step with BAD_REQUEST and leaves nothing written; a secret others can read is
// refused.
func TestWorkflowDecrypt(t *testing.T) {
	t.Parallel()
	root, secrets := t.TempDir(), t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "bucket1", "home"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf("Secrets:\n  Directory: %s\n", strconv.Quote(secrets)) + strings.Replace(configYAML(root), "Servers:\n", "Servers: []\n", 1)
	s := newWorkflowSite(t, cfg, "S3", "bucket1")
	_, gpg := gpgHome(t, "workflow <workflow@example.com>", "key passphrase")
	_, other := gpgHome(t, "other <other@example.com>", "other passphrase")
	secret, err := json.Marshal(map[string]string{"PGPPrivateKey": string(gpg("--armor", "--export-secret-keys", "workflow@example.com")),
		"PGPPassphrase": "key passphrase"})
	if err != nil {
		t.Fatal(err)
	}
	secretFile := filepath.Join(secrets, "aws", "transfer", s.id, "@pgp-default")
	if err := os.MkdirAll(filepath.Dir(secretFile), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(secretFile, secret, 0o600); err != nil {
		t.Fatal(err)
	}
	wid := s.workflow(t, "OnUpload", []types.WorkflowStep{
		{Type: types.WorkflowStepTypeDecrypt, DecryptStepDetails: &types.DecryptStepDetails{Name: aws.String("decrypt"), Type: types.EncryptionTypePgp,
			DestinationFileLocation: &types.InputFileLocation{S3FileLocation: &types.S3InputFileLocation{Bucket: aws.String("bucket1"), Key: aws.String("plain/")}}}},
	}, nil)

	dir := t.TempDir()
	plain := filepath.Join(dir, "report.csv")
	sum := writeRandom(t, plain, 3<<20+17)
	gpg("--trust-model", "always", "-r", "workflow@example.com", "--output", filepath.Join(dir, "report.csv.gpg"), "--encrypt", plain)
	gpg("--trust-model", "always", "-r", "workflow@example.com", "--armor", "--output", filepath.Join(dir, "report.csv.asc"), "--encrypt", plain)
	other("--trust-model", "always", "-r", "other@example.com", "--output", filepath.Join(dir, "other.gpg"), "--encrypt", plain)
	for _, name := range []string{"report.csv.gpg", "report.csv.asc"} {
		mustSFTP(t, s.port, "wfuser", s.key, "put "+filepath.Join(dir, name)+" "+name+"\n")
		if got := recordTypes(s.p.execution(t, wid, "bucket1", "home/"+name)); got != "ExecutionStarted StepStarted:DECRYPT StepCompleted:DECRYPT ExecutionCompleted" {
			t.Errorf("%s: %s", name, got)
		}
		if got := fileSHA256(t, filepath.Join(root, "bucket1", "plain", name)); got != sum {
			t.Errorf("%s decrypted: sha256 %s, want the plaintext's %s", name, got, sum)
		}
	}
	mustSFTP(t, s.port, "wfuser", s.key, "put "+filepath.Join(dir, "other.gpg")+" other.gpg\n")
	if got := recordTypes(s.p.execution(t, wid, "bucket1", "home/other.gpg")); got != "ExecutionStarted StepStarted:DECRYPT StepErrored:DECRYPT:BAD_REQUEST ExecutionErrored" {
		t.Errorf("a file for another key: %s", got)
	}
	if _, err := os.Stat(filepath.Join(root, "bucket1", "plain", "other.gpg")); !os.IsNotExist(err) {
		t.Errorf("a file for another key left %v", err)
	}
	// A secret its group can read is not read.
	if err := os.Chmod(secretFile, 0o640); err != nil {
		t.Fatal(err)
	}
	mustSFTP(t, s.port, "wfuser", s.key, "put "+filepath.Join(dir, "report.csv.gpg")+" again.gpg\n")
	recs := s.p.execution(t, wid, "bucket1", "home/again.gpg")
	if got := recordTypes(recs); got != "ExecutionStarted StepStarted:DECRYPT StepErrored:DECRYPT:PERMISSION_DENIED ExecutionErrored" ||
		!strings.Contains(fmt.Sprint(recs[2].Details["errorMessage"]), "mode 0640 lets others read it") {
		t.Errorf("a secret others can read: %s %v", got, recs[len(recs)-2].Details)
	}
}

// A workflow of the config file, run by a server of the file, with the API's member names.
func TestWorkflowFromConfig(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	key := keyFor(t, "ed25519")
	port := freePort(t)
	const wid = "w-configfile0000001"
	cfg := "Workflows:\n  - WorkflowId: " + wid + "\n    Description: from the file\n    Steps:\n" +
		"      - Type: COPY\n        CopyStepDetails:\n          Name: archive\n          DestinationFileLocation:\n" +
		"            S3FileLocation: {Bucket: bucket1, Key: \"archive/${transfer:UploadDate}/\"}\n" +
		configYAML(root, serverConf{Port: port, Users: []userConf{chrootUser("cfguser", key)},
			Extra: "WorkflowDetails:\n  OnUpload: [{WorkflowId: " + wid + ", ExecutionRole: \"" + workflowRole + "\"}]\n"})
	p := start(t, cfg)
	src := filepath.Join(t.TempDir(), "in.txt")
	sum := writeRandom(t, src, 1000)
	mustSFTP(t, port, "cfguser", key, "put "+src+" in.txt\n")
	if got := recordTypes(p.execution(t, wid, "bucket1", "cfguser/in.txt")); got != "ExecutionStarted StepStarted:COPY StepCompleted:COPY ExecutionCompleted" {
		t.Errorf("records: %s", got)
	}
	if got := fileSHA256(t, filepath.Join(root, "bucket1", "archive", time.Now().UTC().Format("2006-01-02"), "in.txt")); got != sum {
		t.Errorf("the copy: sha256 %s, want %s", got, sum)
	}
}
