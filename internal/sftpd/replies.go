package sftpd

import (
	"encoding/binary"
	"io"
	"sync"
)

// replyTracker wraps a session's channel and counts the SFTP packets read (requests) and written
// (responses), so that work can wait until the client has been answered. A graceful shutdown
// closes a connection as soon as it has no open file; a handle must therefore count as open until
// the status of its CLOSE is written, or the shutdown could cut the connection between the two and
// the client would see its finished upload fail.
type replyTracker struct {
	io.ReadWriteCloser

	mu        sync.Mutex
	in, out   framer
	requests  int64 // complete packets read
	responses int64 // complete packets written
	waiting   []afterReply
	done      bool
}

type afterReply struct {
	requests int64
	fn       func()
}

func (t *replyTracker) Read(p []byte) (int, error) {
	n, err := t.ReadWriteCloser.Read(p)
	t.mu.Lock()
	t.requests += t.in.feed(p[:n])
	t.mu.Unlock()
	return n, err
}

func (t *replyTracker) Write(p []byte) (int, error) {
	n, err := t.ReadWriteCloser.Write(p)
	t.mu.Lock()
	t.responses += t.out.feed(p[:n])
	var ready []func()
	kept := t.waiting[:0]
	for _, w := range t.waiting {
		if t.responses >= w.requests {
			ready = append(ready, w.fn)
		} else {
			kept = append(kept, w)
		}
	}
	t.waiting = kept
	t.mu.Unlock()
	for _, fn := range ready {
		fn()
	}
	return n, err
}

// afterReply runs fn once every request read so far has been answered: pkg/sftp answers each
// request with one packet, in request order. fn runs at once when the session has ended.
func (t *replyTracker) afterReply(fn func()) {
	t.mu.Lock()
	if t.done || t.responses >= t.requests {
		t.mu.Unlock()
		fn()
		return
	}
	t.waiting = append(t.waiting, afterReply{requests: t.requests, fn: fn})
	t.mu.Unlock()
}

// end runs what still waits: the session is over and nothing more will be written.
func (t *replyTracker) end() {
	t.mu.Lock()
	t.done = true
	waiting := t.waiting
	t.waiting = nil
	t.mu.Unlock()
	for _, w := range waiting {
		w.fn()
	}
}

// framer counts the complete packets of an SFTP stream: a uint32 length, then that many bytes.
type framer struct {
	hdr  [4]byte
	nhdr int
	left uint32
}

func (f *framer) feed(p []byte) int64 {
	var packets int64
	for len(p) > 0 {
		if f.nhdr < len(f.hdr) {
			c := copy(f.hdr[f.nhdr:], p)
			f.nhdr += c
			p = p[c:]
			if f.nhdr < len(f.hdr) {
				break
			}
			f.left = binary.BigEndian.Uint32(f.hdr[:])
		} else {
			c := min(uint32(len(p)), f.left)
			f.left -= c
			p = p[c:]
		}
		if f.nhdr == len(f.hdr) && f.left == 0 {
			packets++
			f.nhdr = 0
		}
	}
	return packets
}
