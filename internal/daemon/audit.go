package daemon

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/transferd/transferd/internal/control"
	"github.com/transferd/transferd/internal/mgmtapi"
)

// auditLog writes the audit trail (--audit-log): one JSON object per line, CloudTrail's shape, for
// every management API call and every change the config file makes.
type auditLog struct {
	mu  sync.Mutex
	w   io.Writer
	err error
}

// openAuditLog opens --audit-log: "" for none, "-" for standard output, or a file appended to.
func (d *Daemon) openAuditLog() error {
	switch d.opts.AuditLog {
	case "":
		return nil
	case "-":
		d.audit = &auditLog{w: d.opts.Stdout}
		return nil
	}
	f, err := OpenLogFile(d.opts.AuditLog)
	if err != nil {
		return fmt.Errorf("--audit-log: %w", err)
	}
	d.closers = append(d.closers, f)
	d.logFiles = append(d.logFiles, f)
	d.audit = &auditLog{w: f}
	return nil
}

// write writes one event as one line. A nil log writes nothing.
func (a *auditLog) write(ev mgmtapi.AuditEvent) {
	if a == nil {
		return
	}
	line, err := json.Marshal(ev)
	if err != nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, err := a.w.Write(append(line, '\n')); err != nil && a.err == nil {
		a.err = err
	}
}

// auditConfig writes an event for each change applying the config file made, as the API
// operation that would have made it, by the identity transferd:config.
func (d *Daemon) auditConfig(summary control.ApplySummary) {
	if d.audit == nil || len(summary.Changes) == 0 {
		return
	}
	now := time.Now()
	var request string
	for i, ch := range summary.Changes {
		ev := mgmtapi.NewAuditEvent(now, d.account.Region, d.account.AccountID, ch.Operation)
		if i == 0 {
			request = ev.RequestID // one request: the apply
		}
		ev.RequestID = request
		ev.UserIdentity = mgmtapi.AuditIdentity{Type: mgmtapi.ConfigIdentity, PrincipalID: d.opts.ConfigPath}
		ev.SourceIPAddress = "transferd"
		ev.UserAgent = "transferd config file"
		ids := map[string]any{"ServerId": ch.ServerID}
		if ch.UserName != "" {
			ids["UserName"] = ch.UserName
		}
		if ch.SSHPublicKeyID != "" {
			ids["SshPublicKeyId"] = ch.SSHPublicKeyID
		}
		ev.RequestParameters = ids
		ev.ResponseElements = ids
		d.audit.write(ev)
	}
}
