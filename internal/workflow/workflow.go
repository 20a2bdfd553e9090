// Package workflow runs managed workflows, as Transfer Family defines them: a server's OnUpload
// workflow after a file is uploaded whole (a CLOSE of a file open for writing), its
// OnPartialUpload workflow after an upload ends early (PARTIAL_CLOSE).
//
// The engine reads the activity stream (it is a sink in front of the activity log), so it
// reacts to exactly what the records say happened. It records each execution in the state store
// before the record's CLOSE is answered to the client, so an upload the client saw succeed always
// has its execution, and a restart resumes it rather than losing it. Executions then run away
// from the SFTP session, a bounded number of steps working at once; each step's result is recorded before the
// next step starts, so a resumed execution goes on from the step it was in (which may run again:
// steps are at least once) and never starts a second time. A process that dies leaves its
// executions to whichever process claims them after the node timeout.
//
// The records it writes to the activity log have the shape of Transfer Family's workflow logs:
// ExecutionStarted, StepStarted, StepCompleted, StepErrored, ExecutionCompleted, ExecutionErrored.
package workflow

import (
	"cmp"
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/transferd/transferd/internal/activity"
	"github.com/transferd/transferd/internal/storage"
	"github.com/transferd/transferd/internal/transfer"
)

// Store is the state the engine keeps executions in (metastore.Store).
type Store interface {
	GetServer(ctx context.Context, serverID string) (*transfer.Server, error)
	GetWorkflow(ctx context.Context, workflowID string) (*transfer.Workflow, error)
	CreateExecution(ctx context.Context, e *transfer.Execution) error
	UpdateExecution(ctx context.Context, e *transfer.Execution) (bool, error)
	ClaimExecutions(ctx context.Context, instance string, deadAfter time.Time) ([]transfer.Execution, error)
	ReleaseExecutions(ctx context.Context, instance string) error
	PruneExecutions(ctx context.Context, cut time.Time) error
	GetExecution(ctx context.Context, executionID string) (*transfer.Execution, error)
	TagFile(ctx context.Context, bucket, key string, tags []transfer.Tag) ([]transfer.Tag, error)
	UntagFile(ctx context.Context, bucket, key string) error
}

// Records receives the workflow records (activity.JSONLines).
type Records interface {
	LogValue(v any)
}

// Options configure an Engine.
type Options struct {
	Store Store
	// Storage is the backend a server's files are in, as workflows use it: one that publishes a
	// file it writes when the file is closed, and leaves nothing of one it gives up.
	Storage func(*transfer.Server) storage.Backend
	Records Records
	// Invoke invokes a Lambda function (a CUSTOM step's Target) with a payload; an error is a
	// failed invocation (the function's own error included).
	Invoke func(ctx context.Context, functionARN string, payload []byte) error
	// Secret reads a secret by name, as AWS Secrets Manager holds them (a DECRYPT step's PGP
	// key); an error wrapping fs.ErrNotExist when there is none.
	Secret func(name string) ([]byte, error)
	// Instance names this process among those sharing the store; NodeTimeout is how long a
	// process may go unseen before its executions are claimed.
	Instance    string
	NodeTimeout time.Duration
	// Workers bounds the steps working at once (default 4); CUSTOM steps waiting for their
	// callback do not count.
	Workers int
	// ClaimInterval is how often executions without a living process are looked for (default 5 s).
	ClaimInterval time.Duration
	// Keep is how long ended executions stay recorded (default 24 h).
	Keep time.Duration
	// Count, when set, is told of each execution that starts, succeeds or fails (event
	// "started", "success", "failed").
	Count  func(serverID, trigger, event string)
	Logger *slog.Logger
	Now    func() time.Time
}

// Engine runs workflows.
type Engine struct {
	opts Options
	log  *slog.Logger
	work chan string // execution IDs to run
	// slots bound the steps that work (copy, tag, delete, decrypt) at once.
	slots chan struct{}

	mu        sync.Mutex
	running   map[string]bool // executions being run
	lastPrune time.Time
	// servers caches what a CLOSE needs of each server (Know, Forget), so that uploads to
	// servers without workflows cost no read of the state store.
	servers map[string]serverWorkflows
}

// serverWorkflows is what the engine needs of a server.
type serverWorkflows struct {
	details *transfer.WorkflowDetails
	domain  string
}

// Know tells the engine a server's current settings (the daemon calls it whenever it syncs a
// server with the state store).
func (e *Engine) Know(s *transfer.Server) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.servers[s.ServerID] = serverWorkflows{details: s.WorkflowDetails, domain: s.Domain}
}

// Forget tells the engine a server is gone.
func (e *Engine) Forget(serverID string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.servers, serverID)
}

// server returns a server's workflows and domain, from the cache or the state store.
func (e *Engine) server(ctx context.Context, serverID string) (serverWorkflows, bool) {
	e.mu.Lock()
	sw, ok := e.servers[serverID]
	e.mu.Unlock()
	if ok {
		return sw, true
	}
	srv, err := e.opts.Store.GetServer(ctx, serverID)
	if err != nil {
		return serverWorkflows{}, false
	}
	e.Know(srv)
	return serverWorkflows{details: srv.WorkflowDetails, domain: srv.Domain}, true
}

// New returns an Engine; Run starts it.
func New(opts Options) *Engine {
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	if opts.ClaimInterval <= 0 {
		opts.ClaimInterval = 5 * time.Second
	}
	if opts.NodeTimeout <= 0 {
		opts.NodeTimeout = time.Minute
	}
	if opts.Keep <= 0 {
		opts.Keep = 24 * time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Engine{opts: opts, log: opts.Logger, work: make(chan string, 1024), running: map[string]bool{}, servers: map[string]serverWorkflows{},
		slots: make(chan struct{}, opts.Workers)}
}

// Sink returns an activity sink that passes records to next and starts the executions they
// call for.
func (e *Engine) Sink(next activity.Sink) activity.Sink { return sink{e, next} }

type sink struct {
	e    *Engine
	next activity.Sink
}

func (s sink) Log(r *activity.Record) {
	s.next.Log(r)
	s.e.observe(r)
}

// observe starts the execution an upload's end calls for, if its server has a workflow for it.
func (e *Engine) observe(r *activity.Record) {
	trigger := ""
	switch {
	case r.BytesIn == "": // read handles have no bytes-in
	case r.ActivityType == activity.Close:
		trigger = transfer.TriggerOnUpload
	case r.ActivityType == activity.PartialClose:
		trigger = transfer.TriggerOnPartialUpload
	}
	if trigger == "" {
		return
	}
	_, serverID, ok := strings.Cut(r.ResourceARN, ":server/")
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, ok := e.server(ctx, serverID)
	if !ok {
		e.log.Error("workflow: the upload's server could not be read, so its workflow will not run", "server-id", serverID, "path", r.Path)
		return
	}
	if srv.details == nil {
		return
	}
	details := srv.details.OnUpload
	if trigger == transfer.TriggerOnPartialUpload {
		details = srv.details.OnPartialUpload
	}
	if len(details) == 0 {
		return
	}
	wf, err := e.opts.Store.GetWorkflow(ctx, details[0].WorkflowId)
	if err != nil {
		e.log.Error("workflow: the server's workflow could not be read, so it will not run for this upload",
			"workflow-id", details[0].WorkflowId, "server-id", serverID, "path", r.Path, "err", err)
		return
	}
	loc := storage.ParseLocation(r.Path)
	x := &transfer.Execution{Definition: &transfer.Workflow{Steps: wf.Steps, OnExceptionSteps: wf.OnExceptionSteps},
		ExecutionId: transfer.NewExecutionID(), WorkflowId: details[0].WorkflowId, Trigger: trigger,
		ExecutionRole: details[0].ExecutionRole, ServerId: serverID, UserName: r.User, SessionId: r.SessionID,
		Domain: srv.domain, File: transfer.FileRef{Bucket: loc.Bucket, Key: loc.Key},
		Status: transfer.ExecutionInProgress, Instance: e.opts.Instance, CreatedAt: r.Timestamp,
	}
	if err := e.opts.Store.CreateExecution(ctx, x); err != nil {
		e.log.Error("workflow: the upload's execution could not be recorded, so it will not run",
			"workflow-id", x.WorkflowId, "server-id", serverID, "path", r.Path, "err", err)
		return
	}
	e.record(x, "ExecutionStarted", map[string]any{"input": map[string]any{"initialFileLocation": logged(x.File, x.Domain, false)}})
	e.count(x, "started")
	select {
	case e.work <- x.ExecutionId:
	default: // the claim loop finds it
	}
}

// Run runs executions until ctx ends, then hands those in progress back to the store for the
// next process (or the next start of this one).
func (e *Engine) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() {
		// Each execution runs in its own goroutine (at most maxActive at once; the claim loop
		// brings back what had to wait); the slots bound the steps working at once, so that
		// CUSTOM steps waiting for their callback hold none.
		for {
			select {
			case <-ctx.Done():
				return
			case id := <-e.work:
				e.mu.Lock()
				start := !e.running[id] && len(e.running) < maxActive
				if start {
					e.running[id] = true
				}
				e.mu.Unlock()
				if start {
					wg.Go(func() { e.runID(ctx, id) })
				}
			}
		}
	})
	tick := time.NewTicker(e.opts.ClaimInterval)
	defer tick.Stop()
	for {
		e.claim(ctx)
		select {
		case <-ctx.Done():
			wg.Wait()
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			if err := e.opts.Store.ReleaseExecutions(rctx, e.opts.Instance); err != nil {
				e.log.Warn("workflow: executions in progress could not be handed back; another process claims them after the node timeout", "err", err)
			}
			cancel()
			return
		case <-tick.C:
		}
	}
}

// claim takes the executions no living process runs and queues those no worker has.
func (e *Engine) claim(ctx context.Context) {
	xs, err := e.opts.Store.ClaimExecutions(ctx, e.opts.Instance, e.opts.Now().Add(-e.opts.NodeTimeout))
	if err != nil {
		if ctx.Err() == nil {
			e.log.Warn("workflow: claiming executions failed", "err", err)
		}
		return
	}
	for _, x := range xs {
		e.mu.Lock()
		busy := e.running[x.ExecutionId]
		e.mu.Unlock()
		if busy {
			continue
		}
		select {
		case e.work <- x.ExecutionId:
		default:
			return
		}
	}
	if now := e.opts.Now(); now.Sub(e.lastPrune) >= pruneInterval {
		e.lastPrune = now
		if err := e.opts.Store.PruneExecutions(ctx, now.Add(-e.opts.Keep)); err != nil && ctx.Err() == nil {
			e.log.Warn("workflow: forgetting old executions failed", "err", err)
		}
	}
}

// pruneInterval is how often ended executions older than Options.Keep are forgotten.
const pruneInterval = 10 * time.Minute

// maxActive bounds the executions in progress in one process (most wait on CUSTOM steps).
const maxActive = 1000

// runID runs one execution that Run marked running.
func (e *Engine) runID(ctx context.Context, id string) {
	defer func() {
		e.mu.Lock()
		delete(e.running, id)
		e.mu.Unlock()
	}()
	// It was recorded for this process by observe, or claimed for it by claim.
	x, err := e.opts.Store.GetExecution(ctx, id)
	if err != nil || x.Instance != e.opts.Instance ||
		x.Status != transfer.ExecutionInProgress && x.Status != transfer.ExecutionHandlingException {
		return
	}
	e.run(ctx, x)
}

// run goes on with an execution from where its results end.
func (e *Engine) run(ctx context.Context, x *transfer.Execution) {
	wf, err := x.Definition, error(nil)
	if wf == nil {
		wf, err = e.opts.Store.GetWorkflow(ctx, x.WorkflowId)
	}
	var srv *transfer.Server
	if err == nil {
		srv, err = e.opts.Store.GetServer(ctx, x.ServerId)
	}
	if err != nil {
		if ctx.Err() != nil || transfer.KindOf(err) != transfer.KindNotFound {
			if ctx.Err() == nil {
				e.log.Warn("workflow: an execution waits: the state store did not answer", "execution-id", x.ExecutionId, "err", err)
			}
			return // the claim loop tries again
		}
		x.Status = transfer.ExecutionException
		e.save(ctx, x)
		e.log.Warn("workflow: execution ended: its workflow or server is gone", "execution-id", x.ExecutionId, "err", err)
		e.record(x, "ExecutionErrored", map[string]any{})
		e.count(x, "failed")
		return
	}
	r := &runner{e: e, x: x, backend: e.opts.Storage(srv)}
	if x.Status == transfer.ExecutionInProgress {
		for i := len(x.Results.Steps); i < len(wf.Steps); i++ {
			res, ok := r.step(ctx, &wf.Steps[i], i, false)
			if !ok && res.Error == nil {
				return // stopped (shutdown): resumed at this step later
			}
			x.Results.Steps = append(x.Results.Steps, res)
			if !ok {
				x.Status = transfer.ExecutionHandlingException
				if len(wf.OnExceptionSteps) == 0 {
					x.Status = transfer.ExecutionException
				}
				break
			}
			if !e.save(ctx, x) {
				return
			}
		}
		if x.Status == transfer.ExecutionInProgress {
			x.Status = transfer.ExecutionCompleted
			if e.save(ctx, x) {
				e.record(x, "ExecutionCompleted", map[string]any{})
				e.count(x, "success")
			}
			return
		}
		if !e.save(ctx, x) {
			return
		}
	}
	if x.Status == transfer.ExecutionHandlingException {
		for i := len(x.Results.OnExceptionSteps); i < len(wf.OnExceptionSteps); i++ {
			res, ok := r.step(ctx, &wf.OnExceptionSteps[i], i, true)
			if !ok && res.Error == nil {
				return
			}
			x.Results.OnExceptionSteps = append(x.Results.OnExceptionSteps, res)
			if !ok {
				break
			}
			if !e.save(ctx, x) {
				return
			}
		}
		x.Status = transfer.ExecutionException
		if !e.save(ctx, x) {
			return
		}
	}
	e.record(x, "ExecutionErrored", map[string]any{})
	e.count(x, "failed")
}

// count tells Options.Count of an execution's event.
func (e *Engine) count(x *transfer.Execution, event string) {
	if e.opts.Count != nil {
		e.opts.Count(x.ServerId, x.Trigger, event)
	}
}

// save records the execution's progress; false when this process no longer runs it.
func (e *Engine) save(ctx context.Context, x *transfer.Execution) bool {
	ok, err := e.opts.Store.UpdateExecution(context.WithoutCancel(ctx), x)
	if err != nil {
		e.log.Warn("workflow: recording an execution's progress failed; it resumes from its last recorded step", "execution-id", x.ExecutionId, "err", err)
		return false
	}
	if !ok {
		e.log.Warn("workflow: another process has taken the execution over", "execution-id", x.ExecutionId)
	}
	return ok
}

// record writes a workflow record, in Transfer Family's shape, to the activity log.
func (e *Engine) record(x *transfer.Execution, typ string, details map[string]any) {
	if e.opts.Records == nil {
		return
	}
	e.opts.Records.LogValue(Record{
		Timestamp: e.opts.Now().UTC(), Type: typ, Details: details, WorkflowID: x.WorkflowId, ExecutionID: x.ExecutionId,
		TransferDetails: TransferDetails{ServerID: x.ServerId, Username: x.UserName, SessionID: x.SessionId},
	})
}

// Record is a workflow record, as Transfer Family's workflow logs have them; Timestamp is
// transferd's (CloudWatch stamps its own events).
type Record struct {
	Timestamp       time.Time       `json:"timestamp"`
	Type            string          `json:"type"`
	Details         map[string]any  `json:"details"`
	WorkflowID      string          `json:"workflowId"`
	ExecutionID     string          `json:"executionId"`
	TransferDetails TransferDetails `json:"transferDetails"`
}

// TransferDetails says whose upload an execution is for.
type TransferDetails struct {
	ServerID  string `json:"serverId"`
	Username  string `json:"username"`
	SessionID string `json:"sessionId"`
}

// logged is a file as the workflow records show it: with its backing store in a step's input,
// without in the execution's initial location; an EFS file as its file system and path.
func logged(f transfer.FileRef, domain string, withStore bool) map[string]any {
	m := map[string]any{}
	if domain == transfer.DomainEFS {
		m["fileSystemId"], m["path"] = f.Bucket, "/"+f.Key
	} else {
		m["bucket"], m["key"] = f.Bucket, f.Key
		if f.ETag != "" {
			m["etag"] = f.ETag
		}
	}
	if withStore {
		m["backingStore"] = cmp.Or(domain, transfer.DomainS3)
	}
	return m
}
