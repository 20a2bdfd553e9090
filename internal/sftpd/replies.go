package sftpd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/transferd/transferd/internal/transfer"
)

// SFTP packet types and limits this layer needs (draft-ietf-secsh-filexfer-02, OpenSSH PROTOCOL).
const (
	fxpVersion = 2
	fxpOpen    = 3
	fxpClose   = 4
	fxpRead    = 5
	fxpWrite   = 6
	fxpOpendir = 11
	fxpReaddir = 12
	fxpStatus  = 101

	sshFxNoSuchFile  = 2
	sshFxFailure     = 4
	fxpHandle        = 102
	fxpExtended      = 200
	fxpExtendedReply = 201

	extLimits = "limits@openssh.com"

	// maxPacket is the largest SFTP packet pkg/sftp accepts (its maxMsgLength); maxData is what
	// READ and WRITE may carry, leaving room for the headers, as OpenSSH's sftp-server does.
	maxPacket = 256 << 10
	maxData   = maxPacket - 1024

	// maxClose is the longest CLOSE packet whose handle the stream reads; pkg/sftp's handles are
	// decimal numbers. A longer one stops the session from parking.
	maxClose = 1 + 4 + 4 + 64
	// maxHandle is the longest handle whose use the stream checks; maxOpen the longest OPEN
	// packet it reads whole, to learn how the file is opened.
	maxHandle = 64
	maxOpen   = 64 << 10

	// OPEN's pflags that pkg/sftp reads (draft-ietf-secsh-filexfer-02).
	fxfRead   = 0x01
	fxfWrite  = 0x02
	fxfAppend = 0x04
	fxfCreat  = 0x08
	fxfTrunc  = 0x10
)

// parkAfter is how long a session with no open file or directory and no request in progress waits
// for its next request before it parks: pkg/sftp's request server ends, and with it its 11
// goroutines and, if it had the allocator, its packet pages, until the next request starts another.
const parkAfter = time.Second

// errParked ends pkg/sftp's request server when its session parks.
var errParked = errors.New("sftp: session parked while idle")

// stream sits between the session's channel and pkg/sftp. It
//   - adds limits@openssh.com to the extensions of the server's VERSION and answers the client's
//     limits request itself (pkg/sftp knows neither): the OpenSSH client then moves data in
//     255 KiB requests instead of 32 KiB ones, an eighth of the packets per byte;
//   - counts the packets read (requests) and written (responses), so that work can wait until the
//     client has been answered. A graceful shutdown closes a connection as soon as it has no open
//     file; a handle must therefore count as open until the status of its CLOSE is written, or the
//     shutdown could cut the connection between the two and the client would see its finished
//     upload fail;
//   - parks an idle session. pkg/sftp's reader reads the channel itself while a handle is open;
//     with none open it asks the session's goroutine (run) to read the next packet's start and
//     hand it over, and waits. When no packet comes for parkAfter and every request has been
//     answered, the reader ends its request server (errParked); run starts a new one when the
//     next packet comes. A request server keeps no state between requests but its open handles,
//     which the stream tracks (HANDLE replies, CLOSE requests). An idle session then costs its
//     SSH connection and one goroutine instead of a dozen; transfers never wait for the hand-over;
//   - refuses a READ, WRITE or READDIR on a handle not opened for it, as OpenSSH's sftp-server
//     does (NO_SUCH_FILE for a file opened the other way, its EBADF; FAILURE for a directory).
//     pkg/sftp serves every request on a handle the way the handle was opened: it would answer
//     a WRITE on a read handle with DATA, and write a READ's length of zeros into a file opened
//     for writing;
//   - gives pkg/sftp's packet allocator (pages of 256 KiB kept for the life of a request server;
//     READ replies are built in them: downloads about 15% faster here) only to request servers that move
//     data in packets that fill its pages: the client asked for limits@openssh.com (as OpenSSH's
//     does, then reading and writing 255 KiB at a time), and the first packet is an OPEN, or one
//     without it steps aside for an OPEN that comes when it is idle (nothing open, everything
//     answered). Sessions that only list, stat or sit idle never allocate those pages, and nor do
//     clients that move 32 KiB at a time (pkg/sftp's, WinSCP's...), which would hold eight times
//     the memory their requests need: a page per request in flight.
//
// Packet bodies pass through without a copy: only headers and the packets it answers or reads
// (CLOSE, extensions) are read into its own buffers.
type stream struct {
	ch        io.ReadWriteCloser
	parkAfter time.Duration

	// Between run and pkg/sftp's reader: the reader asks on readReq, run reads a packet's start
	// and sends it on pkts (closed, with readErr set, when the channel ends). Only one of them
	// reads the channel at a time: run only when asked or when no request server runs.
	pkts    chan start
	readReq chan struct{}
	readErr error
	buf     []byte // packet starts, reused: a packet is taken before the next is read

	// pkg/sftp's reader goroutine only.
	rbuf  []byte // the start of the current packet, not yet returned
	rleft uint32 // body bytes of the current packet still to pass through straight from ch
	idle  *time.Timer

	// Write side, counters and parking.
	mu        sync.Mutex
	out       framer
	versioned bool   // the VERSION packet has been written
	vbuf      []byte // VERSION packet collected until complete
	inject    []byte // our own replies, written at the next packet boundary
	requests  int64  // packets read and passed to pkg/sftp
	responses int64  // packets written by pkg/sftp
	waiting   []afterReply
	done      bool
	handles   map[string]bool // open handles: from HANDLE replies until their CLOSE is read; true: holds a unit of budget
	opening   map[uint32]bool // ids of OPEN and OPENDIR requests not answered yet, each holding a unit of budget
	uses      map[string]use  // what each open handle was opened for
	opens     map[uint32]use  // the same for OPEN and OPENDIR requests not answered yet
	// maxHandles caps handles and opening together (0: no cap); budget is the user's and the
	// process's (nil: none). Refusals are counted, and the first is reported through refused.
	maxHandles int
	budget     transfer.Budget
	refusals   int
	refused    func(msg string, count int)
	noPark     bool // a handle could not be tracked: never park
	serving    bool // a request server is running
	alloc      bool // the running request server has pkg/sftp's allocator
	bigPackets bool // the client asked for limits@openssh.com: its reads and writes fill the allocator's pages
	parks      int  // times the session parked (for tests)

	// From run to an idle request server without the allocator: step aside (park) if idle, and
	// the answer.
	parkNow   chan struct{}
	parkReply chan bool
}

// use is what a handle was opened for.
type use struct{ read, write, dir bool }

// openUse is how pkg/sftp opens a file for pflags: for writing when any of WRITE, APPEND, CREAT
// and TRUNC is set, else for reading; for both with READ and one of those.
func openUse(pflags uint32) use {
	write := pflags&(fxfWrite|fxfAppend|fxfCreat|fxfTrunc) != 0
	return use{read: pflags&fxfRead != 0 || !write, write: write}
}

// misuse is the refusal of a request of type typ on a handle opened for u, or "".
func (u use) misuse(typ byte) (code uint32, msg string) {
	switch {
	case typ == fxpReaddir && !u.dir:
		return sshFxFailure, "not a directory handle: READDIR reads handles that OPENDIR returned"
	case typ != fxpReaddir && u.dir:
		return sshFxFailure, "a directory handle: only READDIR and CLOSE apply to it"
	case typ == fxpRead && !u.read:
		return sshFxNoSuchFile, "the file was opened for writing only: it cannot be read through this handle"
	case typ == fxpWrite && !u.write:
		return sshFxNoSuchFile, "the file was opened for reading only: it cannot be written through this handle"
	}
	return 0, ""
}

// start is the beginning of a packet that run hands to pkg/sftp's reader: bytes read, and how
// many more of the packet to read from the channel.
type start struct {
	first []byte
	left  uint32
}

type afterReply struct {
	requests int64
	fn       func()
}

func newStream(ch io.ReadWriteCloser) *stream {
	return &stream{ch: ch, parkAfter: parkAfter, pkts: make(chan start, 1), readReq: make(chan struct{}, 1),
		handles: map[string]bool{}, opening: map[uint32]bool{}, uses: map[string]use{}, opens: map[uint32]use{}, parkNow: make(chan struct{}, 1), parkReply: make(chan bool, 1)}
}

func (s *stream) Close() error { return s.ch.Close() }

// run reads the client's packets until the channel ends and hands them to a request server,
// calling serve to start one (pkg/sftp's Serve in a goroutine, with the allocator if alloc, whose
// result it returns) when none is running: for the first packet, the first after the session
// parked, and an OPEN that the running server without the allocator stepped aside for. It returns
// the request server's result (nil when the client ended the session between packets).
func (s *stream) run(serve func(alloc bool) <-chan error) error {
	var result <-chan error // of the request server started last; nil before the first and once it parked
	for {
		if result != nil {
			select {
			case <-s.readReq:
			case err := <-result:
				if !errors.Is(err, errParked) {
					return ended(err)
				}
				result = nil
				select {
				case <-s.readReq: // it asked, then parked
				default:
				}
			}
		}
		st, err := s.nextPacket()
		if err != nil {
			s.mu.Lock()
			s.readErr = err
			close(s.pkts)
			s.mu.Unlock()
			if result == nil {
				return nil
			}
			return ended(<-result)
		}
		s.mu.Lock()
		alloc := st.first[4] == fxpOpen && s.bigPackets
		if alloc && s.serving && !s.alloc {
			s.mu.Unlock()
			s.parkNow <- struct{}{}
			select {
			case parked := <-s.parkReply:
				if parked {
					if err := <-result; !errors.Is(err, errParked) {
						return ended(err)
					}
					result = nil
				}
			case err := <-result:
				// It ended (parked by itself, or answered and parked) before this goroutine
				// looked: clear the request or the answer, whichever is left.
				select {
				case <-s.parkNow:
				default:
				}
				select {
				case <-s.parkReply:
				default:
				}
				if !errors.Is(err, errParked) {
					return ended(err)
				}
				result = nil
			}
			s.mu.Lock()
		}
		// Never blocks: a reader takes a packet before it asks for the next. A new request
		// server starts with its first packet waiting, so its reader takes it without asking.
		s.pkts <- st
		if s.serving {
			s.mu.Unlock()
			continue
		}
		s.serving, s.alloc = true, alloc
		s.mu.Unlock()
		if result != nil {
			// It parked after asking for this packet: let it finish before the next starts.
			if err := <-result; !errors.Is(err, errParked) {
				return ended(err)
			}
		}
		result = serve(alloc)
	}
}

// ended maps the end of a request server to Serve's result.
func ended(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, errParked) {
		return nil
	}
	return err
}

// Read returns the client's packets to pkg/sftp, minus those this layer answers.
func (s *stream) Read(p []byte) (int, error) {
	if len(s.rbuf) == 0 && s.rleft == 0 {
		if err := s.next(); err != nil {
			return 0, err
		}
	}
	if len(s.rbuf) > 0 {
		n := copy(p, s.rbuf)
		s.rbuf = s.rbuf[n:]
		return n, nil
	}
	n, err := s.ch.Read(p[:min(uint32(len(p)), s.rleft)])
	s.rleft -= uint32(n)
	if err == io.EOF && s.rleft > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// next starts the next packet: the one run handed over (the first of a request server), else one
// read here while a handle is open, else one run reads when asked, waiting for it as await does.
func (s *stream) next() error {
	select {
	case st, ok := <-s.pkts:
		if !ok {
			return s.readErr
		}
		s.take(st)
		return nil
	default:
	}
	s.mu.Lock()
	direct := len(s.handles) > 0 || s.noPark
	s.mu.Unlock()
	if direct {
		st, err := s.nextPacket()
		if err != nil {
			return err
		}
		s.take(st)
		return nil
	}
	s.readReq <- struct{}{}
	return s.await()
}

func (s *stream) take(st start) {
	s.rbuf, s.rleft = st.first, st.left
	s.count()
}

// await waits for run to hand over the next packet, or parks the session (errParked) when none
// comes for parkAfter and nothing is open or outstanding, or when run asks it to step aside.
func (s *stream) await() error {
	for {
		if s.idle == nil {
			s.idle = time.NewTimer(s.parkAfter)
		} else {
			s.idle.Reset(s.parkAfter)
		}
		select {
		case st, ok := <-s.pkts:
			s.idle.Stop()
			if !ok {
				return s.readErr
			}
			s.take(st)
			return nil
		case <-s.idle.C:
			if s.park() {
				return errParked
			}
		case <-s.parkNow:
			s.idle.Stop()
			parked := s.park()
			s.parkReply <- parked
			if parked {
				return errParked
			}
		}
	}
}

// park ends the request server if the session is idle: no handle open, every request answered,
// nothing of its own to write and no packet handed over meanwhile.
func (s *stream) park() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.noPark || len(s.handles) > 0 || s.responses < s.requests || len(s.inject) > 0 || !s.out.atBoundary() || len(s.pkts) > 0 {
		return false
	}
	s.serving = false
	s.parks++
	return true
}

// nextPacket reads the start of the next packet: its header, or the whole of a packet the stream
// reads itself. It answers and drops the packets this layer serves.
func (s *stream) nextPacket() (start, error) {
	var hdr [5]byte
	for {
		if _, err := io.ReadFull(s.ch, hdr[:]); err != nil {
			return start{}, err // io.EOF between packets: the client is done
		}
		length := binary.BigEndian.Uint32(hdr[:4])
		whole := false
		switch {
		case length == 0 || length > maxPacket:
			// pkg/sftp would refuse it too; let it see the header and end the session.
			return start{first: append(s.buf[:0], hdr[:]...)}, nil
		case hdr[4] == fxpExtended, hdr[4] == fxpOpen && length >= 5 && length <= maxOpen:
			whole = true
		case (hdr[4] == fxpRead || hdr[4] == fxpWrite || hdr[4] == fxpReaddir) && length >= 9:
			st, err := s.handleRequest(hdr, length)
			if err == errAnswered {
				continue
			}
			return st, err
		case hdr[4] == fxpClose:
			whole = length <= maxClose
			if !whole {
				s.mu.Lock()
				s.noPark = true
				s.mu.Unlock()
			}
		case (hdr[4] == fxpOpen || hdr[4] == fxpOpendir) && length >= 5:
			s.buf = append(s.buf[:0], hdr[:]...)
			s.buf = append(s.buf, 0, 0, 0, 0)
			if _, err := io.ReadFull(s.ch, s.buf[5:9]); err != nil {
				return start{}, io.ErrUnexpectedEOF
			}
			id := binary.BigEndian.Uint32(s.buf[5:9])
			refusal := s.admitOpen(id)
			if refusal == "" {
				if hdr[4] == fxpOpendir {
					s.opened(id, use{dir: true})
				}
				return start{first: s.buf, left: length - 5}, nil
			}
			if _, err := io.CopyN(io.Discard, s.ch, int64(length-5)); err != nil {
				return start{}, io.ErrUnexpectedEOF
			}
			if err := s.writeOwn(statusPacket(id, sshFxFailure, refusal)); err != nil {
				return start{}, err
			}
			continue
		}
		if !whole {
			s.buf = append(s.buf[:0], hdr[:]...)
			return start{first: s.buf, left: length - 1}, nil
		}
		s.buf = append(append(s.buf[:0], hdr[:]...), make([]byte, length-1)...)
		body := s.buf[5:]
		if _, err := io.ReadFull(s.ch, body); err != nil {
			return start{}, io.ErrUnexpectedEOF
		}
		switch hdr[4] {
		case fxpClose:
			s.closing(body)
			return start{first: s.buf}, nil
		case fxpOpen:
			id := binary.BigEndian.Uint32(body)
			if refusal := s.admitOpen(id); refusal != "" {
				if err := s.writeOwn(statusPacket(id, sshFxFailure, refusal)); err != nil {
					return start{}, err
				}
				continue
			}
			// id, filename, pflags, attrs.
			if name, ok := handleAt(body, 4); ok && len(body) >= 8+len(name)+4 {
				s.opened(id, openUse(binary.BigEndian.Uint32(body[8+len(name):])))
			}
			return start{first: s.buf}, nil
		}
		if reply := answer(body, s.maxHandles); reply != nil {
			s.mu.Lock()
			s.bigPackets = true
			s.mu.Unlock()
			if err := s.writeOwn(reply); err != nil {
				return start{}, err
			}
			continue
		}
		return start{first: s.buf}, nil
	}
}

// errAnswered says handleRequest answered the request itself.
var errAnswered = errors.New("answered by the stream")

// handleRequest reads the start of a READ, WRITE or READDIR request (id, handle) and passes it
// on, or answers it (errAnswered) when the handle was not opened for it.
func (s *stream) handleRequest(hdr [5]byte, length uint32) (start, error) {
	// id and the handle's length; for READ and WRITE, whose handle is followed by at least 12
	// bytes, also that many more in the same read: pkg/sftp's handles are short numbers.
	read := uint32(8)
	if hdr[4] != fxpReaddir && length-1 >= 8+12 {
		read += 12
	}
	s.buf = append(append(s.buf[:0], hdr[:]...), make([]byte, read)...)
	if _, err := io.ReadFull(s.ch, s.buf[5:]); err != nil {
		return start{}, io.ErrUnexpectedEOF
	}
	if n := binary.BigEndian.Uint32(s.buf[9:13]); n <= maxHandle && 8+n <= length-1 {
		if more := int(8+n) - int(read); more > 0 {
			s.buf = append(s.buf, make([]byte, more)...)
			if _, err := io.ReadFull(s.ch, s.buf[5+read:]); err != nil {
				return start{}, io.ErrUnexpectedEOF
			}
			read += uint32(more)
		}
		s.mu.Lock()
		u, known := s.uses[string(s.buf[13:13+n])]
		s.mu.Unlock()
		if code, msg := u.misuse(hdr[4]); known && msg != "" {
			if _, err := io.CopyN(io.Discard, s.ch, int64(length-1-read)); err != nil {
				return start{}, io.ErrUnexpectedEOF
			}
			if err := s.writeOwn(statusPacket(binary.BigEndian.Uint32(s.buf[5:9]), code, msg)); err != nil {
				return start{}, err
			}
			return start{}, errAnswered
		}
	}
	return start{first: s.buf, left: length - 1 - read}, nil
}

// opened notes what the OPEN or OPENDIR request id opens its file for.
func (s *stream) opened(id uint32, u use) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opens[id] = u
}

// closing forgets the handle a CLOSE request (body: id, handle) names, giving back its budget.
func (s *stream) closing(body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h, ok := handleAt(body, 4); ok {
		if s.handles[h] {
			s.give()
		}
		delete(s.handles, h)
		delete(s.uses, h)
	}
}

// admitOpen decides whether an OPEN or OPENDIR request may take a handle: the session's cap
// counts the handles open and the opens not answered yet; the budget is the user's and the
// process's. It returns the refusal's message, or "" with a unit of budget held for id.
func (s *stream) admitOpen(id uint32) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opening[id] {
		return "" // a client reusing an unanswered id; pkg/sftp answers both, the first frees it
	}
	var msg string
	if s.maxHandles > 0 && len(s.handles)+len(s.opening) >= s.maxHandles {
		msg = fmt.Sprintf("too many open files and directories: a session may hold %d (the server's MaxHandlesPerSession); close some first", s.maxHandles)
	} else if s.budget != nil {
		if err := s.budget.Take(); err != nil {
			msg = err.Error()
		}
	}
	if msg == "" {
		s.opening[id] = true
		return ""
	}
	s.refusals++
	if s.refusals == 1 && s.refused != nil {
		s.refused(msg, 1)
	}
	return msg
}

// answered notes a reply that pkg/sftp writes whole (p is one packet at a boundary): the HANDLE
// or STATUS answering an OPEN or OPENDIR. A HANDLE's handle keeps the open's unit of budget until
// its CLOSE; a STATUS gives it back.
func (s *stream) answered(p []byte) {
	if s.done || len(p) < 9 || p[4] != fxpHandle && p[4] != fxpStatus {
		return // after end, which gave everything back, a late reply counts for nothing
	}
	id := binary.BigEndian.Uint32(p[5:9])
	held := s.opening[id]
	delete(s.opening, id)
	u, known := s.opens[id]
	delete(s.opens, id)
	if p[4] == fxpStatus {
		if held {
			s.give()
		}
		return
	}
	// A HANDLE reply (length, type, id, handle).
	if h, ok := handleAt(p, 9); ok {
		switch {
		case s.handles[h] && held:
			s.give() // the handle was already counted (cannot happen with pkg/sftp)
		case !s.handles[h] && !held && s.budget != nil:
			// The open's unit went with a STATUS of the same id (a client reusing the id of
			// an unanswered OPEN for another request): the handle is open, and counts.
			s.budget.Claim()
		}
		s.handles[h] = true
		if known {
			s.uses[h] = u
		}
	} else {
		s.noPark = true
		if held {
			s.give()
		}
	}
}

// give gives back a unit of budget.
func (s *stream) give() {
	if s.budget != nil {
		s.budget.Give()
	}
}

// statusPacket is an SSH_FXP_STATUS reply.
func statusPacket(id, code uint32, msg string) []byte {
	p := make([]byte, 4, 4+1+4+4+4+len(msg)+4+2)
	p = append(p, fxpStatus)
	p = binary.BigEndian.AppendUint32(p, id)
	p = binary.BigEndian.AppendUint32(p, code)
	p = appendString(p, msg)
	p = appendString(p, "en")
	binary.BigEndian.PutUint32(p, uint32(len(p)-4))
	return p
}

// handleAt returns the string at offset i of b.
func handleAt(b []byte, i int) (string, bool) {
	if len(b) < i+4 {
		return "", false
	}
	n := binary.BigEndian.Uint32(b[i:])
	if uint64(n) > uint64(len(b)-i-4) {
		return "", false
	}
	return string(b[i+4 : i+4+int(n)]), true
}

func (s *stream) count() {
	s.mu.Lock()
	s.requests++
	s.mu.Unlock()
}

// answer returns the reply to an SSH_FXP_EXTENDED request this layer serves (body is the packet
// after its type byte: id, name, data), or nil to pass the request on.
func answer(body []byte, maxHandles int) []byte {
	if len(body) < 8 {
		return nil
	}
	id := binary.BigEndian.Uint32(body)
	nameLen := binary.BigEndian.Uint32(body[4:])
	if uint64(nameLen) > uint64(len(body)-8) || string(body[8:8+nameLen]) != extLimits {
		return nil
	}
	// uint64 max-packet-length, max-read-length, max-write-length, max-open-handles (0: no limit).
	reply := make([]byte, 0, 4+1+4+4*8)
	reply = binary.BigEndian.AppendUint32(reply, 1+4+4*8)
	reply = append(reply, fxpExtendedReply)
	reply = binary.BigEndian.AppendUint32(reply, id)
	for _, v := range []uint64{maxPacket, maxData, maxData, uint64(maxHandles)} {
		reply = binary.BigEndian.AppendUint64(reply, v)
	}
	return reply
}

// writeOwn writes a packet of this layer's own, between pkg/sftp's packets.
func (s *stream) writeOwn(pkt []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.out.atBoundary() || !s.versioned {
		s.inject = append(s.inject, pkt...)
		return nil
	}
	_, err := s.ch.Write(pkt)
	return err
}

// Write passes pkg/sftp's packets to the client, extending the VERSION packet.
func (s *stream) Write(p []byte) (int, error) {
	s.mu.Lock()
	if !s.versioned {
		defer s.mu.Unlock()
		return s.writeVersion(p)
	}
	if s.out.atBoundary() {
		// pkg/sftp writes HANDLE and STATUS replies in one piece.
		s.answered(p)
	}
	_, err := s.ch.Write(p)
	s.responses += s.out.feed(p)
	if err == nil && len(s.inject) > 0 && s.out.atBoundary() {
		_, err = s.ch.Write(s.inject)
		s.inject = nil
	}
	ready := s.readyLocked()
	s.mu.Unlock()
	for _, fn := range ready {
		fn()
	}
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// writeVersion collects the first packet (the VERSION reply to INIT) and writes it with
// limits@openssh.com added to its extension pairs.
func (s *stream) writeVersion(p []byte) (int, error) {
	s.vbuf = append(s.vbuf, p...)
	if len(s.vbuf) < 4 {
		return len(p), nil
	}
	length := binary.BigEndian.Uint32(s.vbuf)
	if length > maxPacket {
		return 0, fmt.Errorf("sftp: first reply of %d bytes is not a VERSION packet", length)
	}
	total := 4 + int(length)
	if len(s.vbuf) < total {
		return len(p), nil
	}
	if s.vbuf[4] != fxpVersion {
		return 0, fmt.Errorf("sftp: first reply is packet type %d, not VERSION", s.vbuf[4])
	}
	pkt := s.vbuf[:total]
	pkt = appendString(pkt, extLimits)
	pkt = appendString(pkt, "1")
	binary.BigEndian.PutUint32(pkt, uint32(len(pkt)-4))
	rest := s.vbuf[total:]
	s.versioned = true
	s.responses++
	if _, err := s.ch.Write(pkt); err != nil {
		return 0, err
	}
	if len(rest) > 0 {
		if _, err := s.ch.Write(rest); err != nil {
			return 0, err
		}
		s.responses += s.out.feed(rest)
	}
	if len(s.inject) > 0 && s.out.atBoundary() {
		if _, err := s.ch.Write(s.inject); err != nil {
			return 0, err
		}
		s.inject = nil
	}
	s.vbuf = nil
	return len(p), nil
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// readyLocked takes the waiting functions whose requests have all been answered.
func (s *stream) readyLocked() []func() {
	var ready []func()
	kept := s.waiting[:0]
	for _, w := range s.waiting {
		if s.responses >= w.requests {
			ready = append(ready, w.fn)
		} else {
			kept = append(kept, w)
		}
	}
	s.waiting = kept
	return ready
}

// afterReply runs fn once every request read so far has been answered: pkg/sftp answers each
// request with one packet, in request order. fn runs at once when the session has ended.
func (s *stream) afterReply(fn func()) {
	s.mu.Lock()
	if s.done || s.responses >= s.requests {
		s.mu.Unlock()
		fn()
		return
	}
	s.waiting = append(s.waiting, afterReply{requests: s.requests, fn: fn})
	s.mu.Unlock()
}

// end runs what still waits: the session is over and nothing more will be written. The budget
// its handles and opens hold is given back (pkg/sftp closes what the client left open), and
// refusals after the first are reported with their count.
func (s *stream) end() {
	s.mu.Lock()
	s.done = true
	waiting := s.waiting
	s.waiting = nil
	for _, held := range s.handles {
		if held {
			s.give()
		}
	}
	for _, held := range s.opening {
		if held {
			s.give()
		}
	}
	clear(s.handles)
	clear(s.opening)
	clear(s.uses)
	clear(s.opens)
	if s.refusals > 1 && s.refused != nil {
		s.refused("further opens refused by the same limits in this session", s.refusals-1)
	}
	s.refusals = 0
	s.mu.Unlock()
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

func (f *framer) atBoundary() bool { return f.nhdr == 0 }

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
