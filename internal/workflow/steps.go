package workflow

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/transferd/transferd/internal/storage"
	"github.com/transferd/transferd/internal/transfer"
)

// runner runs the steps of one execution.
type runner struct {
	e       *Engine
	x       *transfer.Execution
	backend storage.Backend
}

// stepFailure is a failed step: an execution error type and message.
type stepFailure struct {
	typ, msg string
}

func (f *stepFailure) Error() string { return f.msg }

func failed(typ, format string, args ...any) error {
	return &stepFailure{typ: typ, msg: fmt.Sprintf(format, args...)}
}

// step runs one step (index in the nominal or the exception steps) and returns its result;
// false when it failed.
func (r *runner) step(ctx context.Context, s *transfer.WorkflowStep, index int, exception bool) (transfer.ExecutionStepResult, bool) {
	name, source := stepNameSource(s)
	in := r.source(source, exception)
	// A CUSTOM step resumed after a restart waits on, and was recorded as started before.
	if w := r.x.Custom; w == nil || w.Step != index || w.Exception != exception {
		r.e.record(r.x, "StepStarted", map[string]any{"input": map[string]any{"fileLocation": logged(in, r.x.Domain, true)},
			"stepType": s.Type, "stepName": name})
	}
	res := transfer.ExecutionStepResult{StepType: s.Type}
	if s.Type != transfer.StepCustom { // a CUSTOM step mostly waits
		select {
		case r.e.slots <- struct{}{}:
			defer func() { <-r.e.slots }()
		case <-ctx.Done():
			return res, false
		}
	}
	out, outputs, err := r.do(ctx, s, in, index, exception)
	if err != nil {
		if ctx.Err() != nil || errors.Is(err, errNotSaved) {
			return res, false
		}
		var f *stepFailure
		if !errors.As(err, &f) {
			f = &stepFailure{typ: errorType(err), msg: err.Error()}
		}
		res.Error = &transfer.ExecutionError{Type: f.typ, Message: f.msg}
		r.e.record(r.x, "StepErrored", map[string]any{"errorType": f.typ, "errorMessage": f.msg, "stepType": s.Type, "stepName": name})
		return res, false
	}
	res.File = &out
	if outputs == nil {
		outputs = struct{}{}
	} else {
		b, _ := json.Marshal(outputs)
		res.Outputs = string(b)
	}
	r.e.record(r.x, "StepCompleted", map[string]any{"output": outputs, "stepType": s.Type, "stepName": name})
	return res, true
}

// source is the file a step reads: the uploaded file, or the previous step's output (in the
// exception steps, the previous exception step's, starting from the uploaded file).
func (r *runner) source(source string, exception bool) transfer.FileRef {
	if source == transfer.OriginalFile {
		return r.x.File
	}
	steps := r.x.Results.Steps
	if exception {
		steps = r.x.Results.OnExceptionSteps
	}
	for i := len(steps) - 1; i >= 0; i-- {
		if steps[i].File != nil {
			return *steps[i].File
		}
	}
	return r.x.File
}

// do runs a step's action on in and returns the file it leaves for the next step and its
// outputs (nil for none), which the result and the record show as JSON.
func (r *runner) do(ctx context.Context, s *transfer.WorkflowStep, in transfer.FileRef, index int, exception bool) (transfer.FileRef, any, error) {
	switch s.Type {
	case transfer.StepCustom:
		return in, nil, r.custom(ctx, s.CustomStepDetails, in, index, exception)
	case transfer.StepDecrypt:
		d := s.DecryptStepDetails
		to, err := r.destination(d.DestinationFileLocation, in)
		if err == nil {
			err = r.decrypt(ctx, in, to, d.OverwriteExisting == "TRUE")
		}
		return to, nil, err
	case transfer.StepCopy:
		d := s.CopyStepDetails
		to, err := r.destination(d.DestinationFileLocation, in)
		if err == nil {
			err = r.copy(ctx, in, to, d.OverwriteExisting == "TRUE")
		}
		return to, nil, err
	case transfer.StepDelete:
		loc := storage.Location{Bucket: in.Bucket, Key: in.Key}
		// A file already gone counts as deleted, as S3's DeleteObject has it: the step may run
		// again after a restart.
		if err := r.backend.Remove(ctx, loc); err != nil && storage.KindOf(err) != storage.KindNotExist {
			return in, nil, err
		}
		if _, isTagger := r.backend.(storage.Tagger); !isTagger {
			if err := r.e.opts.Store.UntagFile(ctx, in.Bucket, in.Key); err != nil {
				r.e.log.Warn("workflow: the deleted file's tags could not be forgotten", "path", loc.String(), "err", err)
			}
		}
		return in, nil, nil
	case transfer.StepTag:
		all, err := r.tag(ctx, in, s.TagStepDetails.Tags)
		if err != nil {
			return in, nil, err
		}
		type tag struct {
			Key   string `json:"key"`
			Value string `json:"value"`
		}
		out := struct {
			Tags []tag `json:"tags"`
		}{Tags: []tag{}}
		for _, t := range all {
			out.Tags = append(out.Tags, tag{t.Key, t.Value})
		}
		return in, out, nil
	}
	return in, nil, failed(transfer.ErrBadRequest, "%s steps are not run by this build", s.Type)
}

// tag sets tags on a file: object tags on S3; on a local directory serving an S3-domain server,
// tags kept in the state store. EFS files cannot be tagged, as on AWS.
func (r *runner) tag(ctx context.Context, in transfer.FileRef, tags []transfer.S3Tag) ([]transfer.Tag, error) {
	if r.x.Domain == transfer.DomainEFS {
		return nil, failed(transfer.ErrBadRequest, "Cannot tag Efs file")
	}
	loc := storage.Location{Bucket: in.Bucket, Key: in.Key}
	if t, ok := r.backend.(storage.Tagger); ok {
		st := make([]storage.Tag, len(tags))
		for i, tg := range tags {
			st[i] = storage.Tag{Key: tg.Key, Value: tg.Value}
		}
		all, err := t.AddTags(ctx, loc, st)
		if err != nil {
			return nil, err
		}
		out := make([]transfer.Tag, len(all))
		for i, tg := range all {
			out[i] = transfer.Tag{Key: tg.Key, Value: tg.Value}
		}
		return out, nil
	}
	if _, err := r.backend.Stat(ctx, loc); err != nil {
		return nil, err
	}
	tt := make([]transfer.Tag, len(tags))
	for i, tg := range tags {
		tt[i] = transfer.Tag{Key: tg.Key, Value: tg.Value}
	}
	return r.e.opts.Store.TagFile(ctx, in.Bucket, in.Key, tt)
}

// variablePattern matches the variables a destination may hold, ${Transfer:UserName} and
// ${Transfer:UploadDate} (the model's documentation writes Transfer, AWS's examples transfer).
var variablePattern = regexp.MustCompile(`\$\{[Tt]ransfer:(UserName|UploadDate)\}`)

// destination is where a COPY (or DECRYPT) step writes: the location with its variables
// resolved; a key ending in "/" (or none) is a folder the file keeps its name in.
func (r *runner) destination(l *transfer.InputFileLocation, in transfer.FileRef) (transfer.FileRef, error) {
	var bucket, key string
	switch {
	case l.S3FileLocation != nil:
		bucket, key = l.S3FileLocation.Bucket, l.S3FileLocation.Key
	case l.EfsFileLocation != nil:
		bucket, key = l.EfsFileLocation.FileSystemId, strings.TrimPrefix(l.EfsFileLocation.Path, "/")
		if i := strings.LastIndex(bucket, "/"); i >= 0 { // an ARN: the file system's ID ends it
			bucket = bucket[i+1:]
		}
	}
	key = variablePattern.ReplaceAllStringFunc(key, func(v string) string {
		if strings.HasSuffix(v, "UserName}") {
			return r.x.UserName
		}
		return r.x.CreatedAt.UTC().Format("2006-01-02")
	})
	if key == "" || strings.HasSuffix(key, "/") {
		key += path.Base(in.Key)
	}
	key = strings.TrimPrefix(path.Clean("/"+key), "/")
	if bucket == "" || key == "" || key == "." {
		return transfer.FileRef{}, failed(transfer.ErrBadRequest, "the destination names no file")
	}
	return transfer.FileRef{Bucket: bucket, Key: key}, nil
}

// copy copies a file, streaming it through the backend; without overwrite an existing
// destination fails the step.
func (r *runner) copy(ctx context.Context, from, to transfer.FileRef, overwrite bool) error {
	src := storage.Location{Bucket: from.Bucket, Key: from.Key}
	if src == (storage.Location{Bucket: to.Bucket, Key: to.Key}) {
		return nil
	}
	rd, err := r.backend.OpenRead(ctx, src)
	if err != nil {
		return err
	}
	defer rd.Close()
	return r.write(ctx, to, overwrite, io.NewSectionReader(rd, 0, 1<<62))
}

// write writes what body reads to a file; without overwrite an existing file fails the step. The
// file appears whole or not at all: the backends workflows get publish a file when it is closed
// (S3, and local storage with uploads published at CLOSE), and give up what was written otherwise.
func (r *runner) write(ctx context.Context, to transfer.FileRef, overwrite bool, body io.Reader) error {
	dst := storage.Location{Bucket: to.Bucket, Key: to.Key}
	if !overwrite {
		if _, err := r.backend.Stat(ctx, dst); err == nil {
			return failed(transfer.ErrAlreadyExists, "%s already exists and OverwriteExisting is not TRUE", dst)
		}
	}
	if mk, ok := r.backend.(storage.DirMaker); ok && path.Dir(dst.Key) != "." {
		if err := mk.MkdirAll(ctx, storage.Location{Bucket: dst.Bucket, Key: path.Dir(dst.Key)}); err != nil {
			return err
		}
	}
	wr, err := r.backend.OpenWrite(ctx, dst, storage.OpenFlags{Create: true, Truncate: true})
	if err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	var off int64
	for {
		n, rerr := io.ReadFull(body, buf)
		if n > 0 {
			if _, err := wr.WriteAt(buf[:n], off); err != nil {
				return errors.Join(err, wr.Abort(err))
			}
			off += int64(n)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return errors.Join(rerr, wr.Abort(rerr))
		}
		if err := ctx.Err(); err != nil {
			return errors.Join(err, wr.Abort(err))
		}
	}
	return wr.Close()
}

// errorType is the execution error type of a storage error.
func errorType(err error) string {
	switch storage.KindOf(err) {
	case storage.KindNotExist:
		return transfer.ErrNotFound
	case storage.KindExist:
		return transfer.ErrAlreadyExists
	case storage.KindPermission:
		return transfer.ErrPermissionDenied
	case storage.KindInvalid, storage.KindIsDir, storage.KindNotDir, storage.KindNotSupported:
		return transfer.ErrBadRequest
	}
	return transfer.ErrInternal
}

// stepNameSource returns a step's Name and SourceFileLocation, whatever its type.
func stepNameSource(s *transfer.WorkflowStep) (string, string) {
	switch {
	case s.CopyStepDetails != nil:
		return s.CopyStepDetails.Name, s.CopyStepDetails.SourceFileLocation
	case s.CustomStepDetails != nil:
		return s.CustomStepDetails.Name, s.CustomStepDetails.SourceFileLocation
	case s.DecryptStepDetails != nil:
		return s.DecryptStepDetails.Name, s.DecryptStepDetails.SourceFileLocation
	case s.DeleteStepDetails != nil:
		return s.DeleteStepDetails.Name, s.DeleteStepDetails.SourceFileLocation
	case s.TagStepDetails != nil:
		return s.TagStepDetails.Name, s.TagStepDetails.SourceFileLocation
	}
	return "", ""
}

// customEvent is what a CUSTOM step's function is invoked with, as Transfer Family sends it.
type customEvent struct {
	Token           string `json:"token"`
	ServiceMetadata struct {
		ExecutionDetails struct {
			WorkflowID  string `json:"workflowId"`
			ExecutionID string `json:"executionId"`
		} `json:"executionDetails"`
		TransferDetails struct {
			SessionID string `json:"sessionId"`
			UserName  string `json:"userName"`
			ServerID  string `json:"serverId"`
		} `json:"transferDetails"`
	} `json:"serviceMetadata"`
	FileLocation map[string]any `json:"fileLocation"`
}

// customPoll is how often a CUSTOM step looks for its callback in the state store (which any
// node's API may have written).
const customPoll = 250 * time.Millisecond

// custom runs a CUSTOM step: it invokes the function with a fresh callback token (recorded first,
// so that after a restart the step waits on the same token instead of invoking again) and waits
// for SendWorkflowStepState's SUCCESS or FAILURE until the step's timeout.
func (r *runner) custom(ctx context.Context, d *transfer.CustomStepDetails, in transfer.FileRef, index int, exception bool) error {
	x := r.x
	w := x.Custom
	var invoked chan error
	if w == nil || w.Step != index || w.Exception != exception {
		timeout := time.Duration(cmp.Or(d.TimeoutSeconds, transfer.DefaultCustomStepTimeout)) * time.Second
		w = &transfer.CustomWait{Step: index, Exception: exception, Token: newToken(), Deadline: r.e.opts.Now().Add(timeout).UTC()}
		x.Custom = w
		if !r.e.save(ctx, x) {
			return errNotSaved
		}
		ev := customEvent{Token: w.Token}
		ev.ServiceMetadata.ExecutionDetails.WorkflowID, ev.ServiceMetadata.ExecutionDetails.ExecutionID = x.WorkflowId, x.ExecutionId
		td := &ev.ServiceMetadata.TransferDetails
		td.SessionID, td.UserName, td.ServerID = x.SessionId, x.UserName, x.ServerId
		ev.FileLocation = map[string]any{"domain": cmp.Or(x.Domain, transfer.DomainS3), "bucket": in.Bucket, "key": in.Key,
			"eTag": in.ETag, "versionId": nil}
		if x.Domain == transfer.DomainEFS {
			ev.FileLocation = map[string]any{"domain": transfer.DomainEFS, "fileSystemId": in.Bucket, "path": "/" + in.Key}
		}
		payload, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		if r.e.opts.Invoke == nil {
			return failed(transfer.ErrCustomStepFailed, "this transferd has no Lambda client to invoke %s", d.Target)
		}
		invoked = make(chan error, 1)
		ictx, cancel := context.WithDeadline(ctx, w.Deadline)
		go func() {
			defer cancel()
			invoked <- r.e.opts.Invoke(ictx, d.Target, payload)
		}()
	}
	tick := time.NewTicker(customPoll)
	defer tick.Stop()
	var invokeErr error
	for w.Status == "" {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-invoked:
			invoked = nil
			// Still running at the step's deadline is a TIMEOUT, which the deadline check says.
			if err != nil && !errors.Is(err, context.DeadlineExceeded) {
				invokeErr = err
			}
		case <-tick.C:
		}
		// A callback counts even when the invocation then failed.
		if fresh, err := r.e.opts.Store.GetExecution(ctx, x.ExecutionId); err == nil && fresh.Custom != nil && fresh.Custom.Token == w.Token {
			w.Status = fresh.Custom.Status
		}
		switch {
		case w.Status != "":
		case invokeErr != nil:
			x.Custom = nil
			return failed(transfer.ErrCustomStepFailed, "invoking %s: %v", d.Target, invokeErr)
		case r.e.opts.Now().After(w.Deadline):
			x.Custom = nil
			return failed(transfer.ErrTimeout, "the custom step's function did not send SUCCESS within %d seconds", cmp.Or(d.TimeoutSeconds, transfer.DefaultCustomStepTimeout))
		}
	}
	x.Custom = nil
	if w.Status == transfer.CustomStepFailure {
		return failed(transfer.ErrCustomStepFailed, "the custom step's function sent FAILURE")
	}
	return nil
}

// errNotSaved stops a step whose start could not be recorded: the execution resumes later.
var errNotSaved = errors.New("the step's start could not be recorded")

// newToken returns a callback token: 32 random hex digits (the model allows 1 to 64 \w).
func newToken() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b[:])
}
