package control

import (
	"context"
	"log/slog"
	"sync"
)

// deferredLog holds log records until the changes they report are committed: ApplyConfig says
// "created server" only for servers that were created.
type deferredLog struct {
	mu   sync.Mutex
	recs []deferredRecord
}

type deferredRecord struct {
	h slog.Handler
	r slog.Record
}

// logger returns a logger that writes to h once flush is called.
func (d *deferredLog) logger(h slog.Handler) *slog.Logger {
	return slog.New(deferredHandler{h: h, d: d})
}

// flush writes the held records.
func (d *deferredLog) flush(ctx context.Context) {
	d.mu.Lock()
	recs := d.recs
	d.recs = nil
	d.mu.Unlock()
	for _, rec := range recs {
		_ = rec.h.Handle(ctx, rec.r)
	}
}

type deferredHandler struct {
	h slog.Handler
	d *deferredLog
}

func (h deferredHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.h.Enabled(ctx, l) }

func (h deferredHandler) Handle(_ context.Context, r slog.Record) error {
	h.d.mu.Lock()
	h.d.recs = append(h.d.recs, deferredRecord{h: h.h, r: r.Clone()})
	h.d.mu.Unlock()
	return nil
}

func (h deferredHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return deferredHandler{h: h.h.WithAttrs(as), d: h.d}
}

func (h deferredHandler) WithGroup(name string) slog.Handler {
	return deferredHandler{h: h.h.WithGroup(name), d: h.d}
}
