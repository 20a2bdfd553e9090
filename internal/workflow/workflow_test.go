package workflow_test

import (
	"bytes"
	"context"
	"encoding/json"
	iofs "io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"

	"github.com/transferd/transferd/internal/activity"
	"github.com/transferd/transferd/internal/metastore"
	"github.com/transferd/transferd/internal/storage"
	"github.com/transferd/transferd/internal/storage/disk"
	"github.com/transferd/transferd/internal/transfer"
	"github.com/transferd/transferd/internal/workflow"
)

// openStore opens a fresh SQLite state store, closed when the test ends.
func openStore(tb testing.TB) *metastore.Store {
	tb.Helper()
	store, err := metastore.OpenSQLite(context.Background(), filepath.Join(tb.TempDir(), "state.db"), metastore.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { store.Close() })
	return store
}

// records collects the workflow records.
type records struct {
	mu  sync.Mutex
	all []workflow.Record
}

func (r *records) LogValue(v any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.all = append(r.all, v.(workflow.Record))
}

func (r *records) types() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, x := range r.all {
		s := x.Type
		if st, ok := x.Details["stepType"].(string); ok {
			s += ":" + st
		}
		out = append(out, s)
	}
	return strings.Join(out, " ")
}

// An execution left by a process that died (or by this one before a restart) is claimed and
// goes on from the step after its last recorded one; one a living process runs is left to it.
func TestResumeAfterRestart(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "bucket1", "home"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bucket1", "home", "f.csv"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	ds, err := disk.New(root)
	if err != nil {
		t.Fatal(err)
	}
	w := &transfer.Workflow{WorkflowId: transfer.NewWorkflowID(), Steps: []transfer.WorkflowStep{
		{Type: transfer.StepTag, TagStepDetails: &transfer.TagStepDetails{Tags: []transfer.S3Tag{{Key: "k", Value: "v"}}}},
		{Type: transfer.StepDelete, DeleteStepDetails: &transfer.DeleteStepDetails{Name: "remove"}},
	}}
	if err := store.CreateWorkflow(ctx, w); err != nil {
		t.Fatal(err)
	}
	srv := &transfer.Server{ServerID: transfer.NewServerID(), Domain: transfer.DomainS3, State: transfer.StateOnline,
		WorkflowDetails: &transfer.WorkflowDetails{OnUpload: []transfer.WorkflowDetail{{WorkflowId: w.WorkflowId, ExecutionRole: "arn:aws:iam::0:role/r"}}}}
	if err := store.CreateServer(ctx, srv); err != nil {
		t.Fatal(err)
	}
	// The first step was done and recorded by a process that is gone; a second execution belongs
	// to a process that is alive.
	gone := &transfer.Execution{ExecutionId: transfer.NewExecutionID(), WorkflowId: w.WorkflowId, Trigger: transfer.TriggerOnUpload,
		ServerId: srv.ServerID, UserName: "alice", SessionId: "0123456789abcdef0123", Domain: transfer.DomainS3,
		File: transfer.FileRef{Bucket: "bucket1", Key: "home/f.csv"}, Status: transfer.ExecutionInProgress, Instance: "gone",
		Results: transfer.ExecutionResults{Steps: []transfer.ExecutionStepResult{{StepType: transfer.StepTag, Outputs: `{"tags":[]}`,
			File: &transfer.FileRef{Bucket: "bucket1", Key: "home/f.csv"}}}}}
	alive := *gone
	alive.ExecutionId, alive.Instance, alive.Results = transfer.NewExecutionID(), "alive", transfer.ExecutionResults{}
	for _, x := range []*transfer.Execution{gone, &alive} {
		if err := store.CreateExecution(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.NodeSeen(ctx, "alive", "other"); err != nil {
		t.Fatal(err)
	}

	recs := &records{}
	e := workflow.New(workflow.Options{Store: store, Storage: func(*transfer.Server) storage.Backend { return ds.AtomicUploads() },
		Records: recs, Instance: "restarted", NodeTimeout: time.Minute, ClaimInterval: 50 * time.Millisecond})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { e.Run(runCtx); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.HasSuffix(recs.types(), "ExecutionCompleted") {
		if time.Now().After(deadline) {
			t.Fatalf("records after 10 s: %s", recs.types())
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	<-done
	if got := recs.types(); got != "StepStarted:DELETE StepCompleted:DELETE ExecutionCompleted" {
		t.Errorf("the resumed execution's records: %s; want its second step only", got)
	}
	if _, err := os.Stat(filepath.Join(root, "bucket1", "home", "f.csv")); !os.IsNotExist(err) {
		t.Errorf("the file after the DELETE step: %v", err)
	}
	x, err := store.GetExecution(ctx, gone.ExecutionId)
	if err != nil || x.Status != transfer.ExecutionCompleted || len(x.Results.Steps) != 2 {
		t.Errorf("the resumed execution: %+v, %v", x, err)
	}
	if x, err := store.GetExecution(ctx, alive.ExecutionId); err != nil || x.Instance != "alive" || x.Status != transfer.ExecutionInProgress {
		t.Errorf("the living process's execution was taken: %+v, %v", x, err)
	}
}

type discard struct{}

func (discard) Log(*activity.Record) {}

// BenchmarkCloseRecord measures what the engine adds to a CLOSE of an upload, which the SFTP
// session waits on: a look at the server's WorkflowDetails in the state store (SQLite here)
// and, when it runs a workflow, recording the execution.
func BenchmarkCloseRecord(b *testing.B) {
	ctx := context.Background()
	store := openStore(b)
	w := &transfer.Workflow{WorkflowId: transfer.NewWorkflowID(), Steps: []transfer.WorkflowStep{
		{Type: transfer.StepDelete, DeleteStepDetails: &transfer.DeleteStepDetails{}}}}
	if err := store.CreateWorkflow(ctx, w); err != nil {
		b.Fatal(err)
	}
	plain := &transfer.Server{ServerID: transfer.NewServerID(), Domain: transfer.DomainS3}
	running := &transfer.Server{ServerID: transfer.NewServerID(), Domain: transfer.DomainS3,
		WorkflowDetails: &transfer.WorkflowDetails{OnUpload: []transfer.WorkflowDetail{{WorkflowId: w.WorkflowId, ExecutionRole: "arn:aws:iam::0:role/r"}}}}
	for _, s := range []*transfer.Server{plain, running} {
		if err := store.CreateServer(ctx, s); err != nil {
			b.Fatal(err)
		}
	}
	e := workflow.New(workflow.Options{Store: store, Instance: "bench"})
	sink := e.Sink(discard{})
	for _, c := range []struct {
		name string
		srv  *transfer.Server
	}{{"no workflow", plain}, {"OnUpload workflow", running}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				sink.Log(&activity.Record{ActivityType: activity.Close, ResourceARN: "arn:aws:transfer:us-east-1:000000000000:server/" + c.srv.ServerID,
					User: "alice", SessionID: "0123456789abcdef0123", Path: "/bucket1/home/f.csv", BytesIn: "100", Timestamp: time.Now()})
			}
		})
	}
}

// run runs e until every execution the store holds has ended, or fails the test after 10 s.
func runUntilDone(t *testing.T, e *workflow.Engine, store *metastore.Store, ids ...string) {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	defer func() { stop(); <-done }()
	deadline := time.Now().Add(10 * time.Second)
	for _, id := range ids {
		for {
			x, err := store.GetExecution(context.Background(), id)
			if err == nil && x.Status != transfer.ExecutionInProgress && x.Status != transfer.ExecutionHandlingException {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("execution %s still in progress after 10 s: %+v, %v", id, x, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// On an EFS-domain server (files written in place), a DECRYPT whose message fails its integrity
// check at the end leaves nothing: no plaintext, no temporary file. A DELETE of a file already gone
// (a step run again after a restart) counts as done.
func TestDecryptFailureLeavesNothing(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	root := t.TempDir()
	fs := "fs-0123456789abcdef0"
	if err := os.MkdirAll(filepath.Join(root, fs, "in"), 0o755); err != nil {
		t.Fatal(err)
	}
	entity, err := openpgp.NewEntity("wf", "", "wf@example.com", nil)
	if err != nil {
		t.Fatal(err)
	}
	var key, msg bytes.Buffer
	aw, _ := armor.Encode(&key, openpgp.PrivateKeyType, nil)
	if err := entity.SerializePrivate(aw, nil); err != nil {
		t.Fatal(err)
	}
	aw.Close()
	pw, err := openpgp.Encrypt(&msg, []*openpgp.Entity{entity}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	pw.Write(bytes.Repeat([]byte("plaintext "), 300000))
	pw.Close()
	corrupt := msg.Bytes()
	corrupt[len(corrupt)-5] ^= 0xff // inside the integrity check, read last
	if err := os.WriteFile(filepath.Join(root, fs, "in", "f.gpg"), corrupt, 0o644); err != nil {
		t.Fatal(err)
	}
	secret, _ := json.Marshal(map[string]string{"PGPPrivateKey": key.String()})
	ds, err := disk.New(root)
	if err != nil {
		t.Fatal(err)
	}
	w := &transfer.Workflow{WorkflowId: transfer.NewWorkflowID(), Steps: []transfer.WorkflowStep{
		{Type: transfer.StepDecrypt, DecryptStepDetails: &transfer.DecryptStepDetails{Type: "PGP",
			DestinationFileLocation: &transfer.InputFileLocation{EfsFileLocation: &transfer.EfsFileLocation{FileSystemId: fs, Path: "/out/"}}}}}}
	gone := &transfer.Workflow{WorkflowId: transfer.NewWorkflowID(), Steps: []transfer.WorkflowStep{
		{Type: transfer.StepDelete, DeleteStepDetails: &transfer.DeleteStepDetails{}}}}
	srv := &transfer.Server{ServerID: transfer.NewServerID(), Domain: transfer.DomainEFS}
	if err := store.CreateServer(ctx, srv); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range []struct {
		w   *transfer.Workflow
		key string
	}{{w, "in/f.gpg"}, {gone, "in/missing.txt"}} {
		if err := store.CreateWorkflow(ctx, c.w); err != nil {
			t.Fatal(err)
		}
		x := &transfer.Execution{ExecutionId: transfer.NewExecutionID(), WorkflowId: c.w.WorkflowId, Trigger: transfer.TriggerOnUpload,
			ServerId: srv.ServerID, UserName: "alice", Domain: transfer.DomainEFS, File: transfer.FileRef{Bucket: fs, Key: c.key},
			Status: transfer.ExecutionInProgress, Definition: c.w}
		if err := store.CreateExecution(ctx, x); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, x.ExecutionId)
	}
	recs := &records{}
	e := workflow.New(workflow.Options{Store: store, Storage: func(*transfer.Server) storage.Backend { return ds.AtomicUploads() },
		Records: recs, Instance: "me", ClaimInterval: 50 * time.Millisecond,
		Secret: func(name string) ([]byte, error) {
			if strings.HasSuffix(name, "/@pgp-default") {
				return secret, nil
			}
			return nil, iofs.ErrNotExist
		}})
	runUntilDone(t, e, store, ids...)
	x, _ := store.GetExecution(ctx, ids[0])
	if x.Status != transfer.ExecutionException || len(x.Results.Steps) != 1 || x.Results.Steps[0].Error == nil || x.Results.Steps[0].Error.Type != transfer.ErrBadRequest {
		t.Errorf("the corrupt message's execution: %s %+v", x.Status, x.Results.Steps[0].Error)
	}
	if entries, _ := os.ReadDir(filepath.Join(root, fs, "out")); len(entries) != 0 {
		t.Errorf("after a failed decryption the destination holds %v", entries)
	}
	if x, _ := store.GetExecution(ctx, ids[1]); x.Status != transfer.ExecutionCompleted {
		t.Errorf("a DELETE of a file already gone: %s %+v", x.Status, x.Results)
	}
}
