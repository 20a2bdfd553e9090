package daemon

import (
	"errors"
	"fmt"
	"os"
	"sync"
)

// LogFile is a log file that can be reopened at its path, as logrotate's usual postrotate
// (kill -HUP) expects: after the file is renamed, Reopen creates a new one there. Each Write
// goes whole to one file or the other, so a record written as one Write is neither lost nor cut
// in two at the switch. It is safe for concurrent use.
type LogFile struct {
	mu   sync.Mutex
	path string
	f    *os.File
}

// OpenLogFile opens path for appending, creating it (mode 0640) if needed.
func OpenLogFile(path string) (*LogFile, error) {
	f, err := openAppend(path)
	if err != nil {
		return nil, err
	}
	return &LogFile{path: path, f: f}, nil
}

func openAppend(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("opening the log file: %w", err)
	}
	return f, nil
}

// Write appends p, whole, to the file open now.
func (l *LogFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return 0, os.ErrClosed
	}
	return l.f.Write(p)
}

// Reopen opens the path again and writes there from now on; the file open before is closed.
// When the path cannot be opened, writing goes on to the file open before and the error says why.
func (l *LogFile) Reopen() error {
	f, err := openAppend(l.path)
	if err != nil {
		return err
	}
	l.mu.Lock()
	old := l.f
	l.f = f
	l.mu.Unlock()
	if old != nil {
		return old.Close()
	}
	return nil
}

// Close closes the file; later writes fail.
func (l *LogFile) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return errors.New("log file already closed")
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// Path is the file's path.
func (l *LogFile) Path() string { return l.path }

// ReopenLogs reopens the activity and audit log files at their paths (after logrotate renamed
// them), and says which could not be.
func (d *Daemon) ReopenLogs() error {
	var errs []error
	for _, f := range d.logFiles {
		if err := f.Reopen(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.Path(), err))
		}
	}
	return errors.Join(errs...)
}
