package e2e

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A raw SFTP version 3 client: it sends exactly the request a case names and reads back the
// reply's type, status code and message, which pkg/sftp's client folds into Go errors.

// SFTP packet types and flags (draft-ietf-secsh-filexfer-02).
const (
	fxpInit = 1 + iota
	fxpVersion
	fxpOpen
	fxpClose
	fxpRead
	fxpWrite
	fxpLstat
	fxpFstat
	fxpSetstat
	fxpFsetstat
	fxpOpendir
	fxpReaddir
	fxpRemove
	fxpMkdir
	fxpRmdir
	fxpRealpath
	fxpStat
	fxpRename
	fxpReadlink
	fxpSymlink
)

const (
	fxpStatus = 101 + iota
	fxpHandle
	fxpData
	fxpName
	fxpAttrs
)

const (
	fxpExtended      = 200
	fxpExtendedReply = 201
)

const (
	fxfRead   = 0x01
	fxfWrite  = 0x02
	fxfCreat  = 0x08
	fxfTrunc  = 0x10
	fxfExcl   = 0x20
	attrTimes = 0x08
)

// fxCodes names the status codes.
var fxCodes = []string{"OK", "EOF", "NO_SUCH_FILE", "PERMISSION_DENIED", "FAILURE", "BAD_MESSAGE", "NO_CONNECTION", "CONNECTION_LOST", "OP_UNSUPPORTED"}

// sftpReply is what a server answered.
type sftpReply struct {
	typ    byte
	code   uint32
	msg    string
	handle string // of a HANDLE reply
}

// outcome names the reply as the comparison sees it: the status code, or the reply type.
func (r sftpReply) outcome() string {
	switch r.typ {
	case fxpStatus:
		if int(r.code) < len(fxCodes) {
			return fxCodes[r.code]
		}
		return fmt.Sprintf("status %d", r.code)
	case fxpHandle:
		return "HANDLE"
	case fxpData:
		return "DATA"
	case fxpName:
		return "NAME"
	case fxpAttrs:
		return "ATTRS"
	case fxpExtendedReply:
		return "EXTENDED_REPLY"
	}
	return fmt.Sprintf("type %d", r.typ)
}

type rawSFTP struct {
	t  testing.TB
	w  io.Writer
	r  *bufio.Reader
	id uint32
}

// openRawSFTP starts the sftp subsystem on an SSH connection to port and says version 3.
func openRawSFTP(t testing.TB, port int, user string, key *sshKey) *rawSFTP {
	t.Helper()
	sc, _, err := dialSSH(t, port, user, key)
	if err != nil {
		t.Fatalf("ssh to port %d as %s: %v", port, user, err)
	}
	t.Cleanup(func() { sc.Close() })
	sess, err := sc.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	w, err := sess.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	r, err := sess.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.RequestSubsystem("sftp"); err != nil {
		t.Fatal(err)
	}
	c := &rawSFTP{t: t, w: w, r: bufio.NewReader(r)}
	c.send(fxpInit, uint32(3))
	if typ, _ := c.read(); typ != fxpVersion {
		t.Fatalf("the answer to INIT has type %d, want VERSION", typ)
	}
	return c
}

// send writes one packet of typ with fields (string, []byte, uint32, uint64).
func (c *rawSFTP) send(typ byte, fields ...any) {
	c.t.Helper()
	var b []byte
	b = append(b, 0, 0, 0, 0, typ)
	for _, f := range fields {
		switch v := f.(type) {
		case string:
			b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
			b = append(b, v...)
		case []byte:
			b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
			b = append(b, v...)
		case uint32:
			b = binary.BigEndian.AppendUint32(b, v)
		case uint64:
			b = binary.BigEndian.AppendUint64(b, v)
		default:
			c.t.Fatalf("raw SFTP field of type %T", f)
		}
	}
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	if _, err := c.w.Write(b); err != nil {
		c.t.Fatalf("sending an SFTP packet: %v", err)
	}
}

// read reads one packet and returns its type and what follows the type.
func (c *rawSFTP) read() (byte, []byte) {
	c.t.Helper()
	var hdr [5]byte
	if _, err := io.ReadFull(c.r, hdr[:]); err != nil {
		c.t.Fatalf("reading an SFTP reply: %v", err)
	}
	body := make([]byte, binary.BigEndian.Uint32(hdr[:4])-1)
	if _, err := io.ReadFull(c.r, body); err != nil {
		c.t.Fatalf("reading an SFTP reply: %v", err)
	}
	return hdr[4], body
}

// call sends a request (the id is added) and reads its reply.
func (c *rawSFTP) call(typ byte, fields ...any) sftpReply {
	c.t.Helper()
	id := c.request(typ, fields...)
	r, got := c.reply()
	if got != id {
		c.t.Fatalf("reply of type %d answers request %d, not %d", r.typ, got, id)
	}
	return r
}

// request sends a request without waiting for its reply, and returns its id.
func (c *rawSFTP) request(typ byte, fields ...any) uint32 {
	c.t.Helper()
	c.id++
	c.send(typ, append([]any{c.id}, fields...)...)
	return c.id
}

// reply reads the next reply and the id it answers.
func (c *rawSFTP) reply() (sftpReply, uint32) {
	c.t.Helper()
	rt, body := c.read()
	if len(body) < 4 {
		c.t.Fatalf("reply of type %d without an id", rt)
	}
	id := binary.BigEndian.Uint32(body)
	body = body[4:]
	r := sftpReply{typ: rt}
	str := func() string {
		if len(body) < 4 {
			return ""
		}
		n := binary.BigEndian.Uint32(body)
		s := string(body[4 : 4+n])
		body = body[4+n:]
		return s
	}
	switch rt {
	case fxpStatus:
		r.code = binary.BigEndian.Uint32(body)
		body = body[4:]
		r.msg = str()
	case fxpHandle:
		r.handle = str()
	}
	return r, id
}

// statusCase is one request (or a few, the last one compared) that a client may send.
type statusCase struct {
	name string
	run  func(c *rawSFTP) sftpReply
}

// openThen opens path with pflags and, when that gives a handle, runs then on it.
func openThen(path string, pflags uint32, then func(c *rawSFTP, h string) sftpReply) func(c *rawSFTP) sftpReply {
	return func(c *rawSFTP) sftpReply {
		r := c.call(fxpOpen, path, pflags, uint32(0))
		if r.typ != fxpHandle {
			return r
		}
		defer c.call(fxpClose, r.handle)
		return then(c, r.handle)
	}
}

func one(typ byte, fields ...any) func(c *rawSFTP) sftpReply {
	return func(c *rawSFTP) sftpReply { return c.call(typ, fields...) }
}

// statusCases are run in order against each server's copy of statusFixture; none of them
// changes it unless it succeeds (the last ones, on their own files).
var statusCases = []statusCase{
	{"STAT of a missing file", one(fxpStat, "missing")},
	{"LSTAT of a missing file", one(fxpLstat, "missing")},
	{"STAT below a file", one(fxpStat, "f/x")},
	{"OPEN a missing file for reading", one(fxpOpen, "missing", uint32(fxfRead), uint32(0))},
	{"OPEN a missing file for writing without CREAT", one(fxpOpen, "missing", uint32(fxfWrite), uint32(0))},
	{"OPEN to create in a missing directory", one(fxpOpen, "nodir/x", uint32(fxfWrite|fxfCreat|fxfTrunc), uint32(0))},
	{"OPEN with EXCL an existing file", one(fxpOpen, "f", uint32(fxfWrite|fxfCreat|fxfExcl), uint32(0))},
	{"OPEN a directory for writing", one(fxpOpen, "d", uint32(fxfWrite|fxfCreat|fxfTrunc), uint32(0))},
	{"READ a directory opened as a file", openThen("d", fxfRead, func(c *rawSFTP, h string) sftpReply {
		return c.call(fxpRead, h, uint64(0), uint32(1024))
	})},
	{"READ at the end of a file", openThen("f", fxfRead, func(c *rawSFTP, h string) sftpReply {
		return c.call(fxpRead, h, uint64(1000), uint32(1024))
	})},
	{"WRITE to a file opened for reading", openThen("f", fxfRead, func(c *rawSFTP, h string) sftpReply {
		return c.call(fxpWrite, h, uint64(0), []byte("x"))
	})},
	{"READ from a file opened for writing", openThen("w", fxfWrite|fxfCreat|fxfTrunc, func(c *rawSFTP, h string) sftpReply {
		return c.call(fxpRead, h, uint64(0), uint32(16))
	})},
	{"READ of a directory handle", func(c *rawSFTP) sftpReply {
		r := c.call(fxpOpendir, "d")
		if r.typ != fxpHandle {
			return r
		}
		defer c.call(fxpClose, r.handle)
		return c.call(fxpRead, r.handle, uint64(0), uint32(16))
	}},
	{"READDIR of a file handle", openThen("f", fxfRead, func(c *rawSFTP, h string) sftpReply {
		return c.call(fxpReaddir, h)
	})},
	{"OPENDIR of a missing directory", one(fxpOpendir, "missing")},
	{"OPENDIR of a file", one(fxpOpendir, "f")},
	{"READDIR past the end", func(c *rawSFTP) sftpReply {
		r := c.call(fxpOpendir, "d")
		if r.typ != fxpHandle {
			return r
		}
		h := r.handle
		defer c.call(fxpClose, h)
		for range 10 {
			if r = c.call(fxpReaddir, h); r.typ != fxpName {
				return r
			}
		}
		return r
	}},
	{"MKDIR of an existing file", one(fxpMkdir, "f", uint32(0))},
	{"MKDIR of an existing directory", one(fxpMkdir, "d", uint32(0))},
	{"MKDIR in a missing directory", one(fxpMkdir, "nodir/x", uint32(0))},
	{"RMDIR of a missing directory", one(fxpRmdir, "missing")},
	{"RMDIR of a directory that is not empty", one(fxpRmdir, "d")},
	{"RMDIR of a file", one(fxpRmdir, "f")},
	{"REMOVE of a missing file", one(fxpRemove, "missing")},
	{"REMOVE of a directory", one(fxpRemove, "e")},
	{"RENAME of a missing file", one(fxpRename, "missing", "x")},
	{"RENAME onto an existing file", one(fxpRename, "f", "g")},
	{"RENAME into a missing directory", one(fxpRename, "f", "nodir/x")},
	{"SETSTAT of a missing file", one(fxpSetstat, "missing", uint32(attrTimes), uint32(1), uint32(1))},
	{"READLINK of a file", one(fxpReadlink, "f")},
	{"SYMLINK", one(fxpSymlink, "f", "link")},
	{"hardlink@openssh.com", one(fxpExtended, "hardlink@openssh.com", "f", "hard")},
	{"an unknown extension", one(fxpExtended, "nonsense@example.com", "f")},
	{"CLOSE of an unknown handle", one(fxpClose, "bogus")},
	{"READ of an unknown handle", one(fxpRead, "bogus", uint64(0), uint32(10))},
	{"statvfs@openssh.com", one(fxpExtended, "statvfs@openssh.com", ".")},
	{"posix-rename@openssh.com onto an existing file", one(fxpExtended, "posix-rename@openssh.com", "p1", "p2")},
	{"REMOVE of a file", one(fxpRemove, "p2")},
}

// statusFixture is the tree every server starts from: directory names end in "/".
var statusFixture = []string{"d/", "d/f", "e/", "f", "g", "p1", "p2"}

// statusExceptions are where transferd answers otherwise than OpenSSH's sftp-server, on purpose:
// by storage ("local", "s3"), case name, the answer transferd gives, and why.
var statusExceptions = map[string]map[string]struct{ want, why string }{
	"local": statusExceptionsBoth,
	"s3": merged(statusExceptionsBoth, map[string]struct{ want, why string }{
		"OPEN to create in a missing directory": {"HANDLE", "S3 has no directories: an object can be put under any prefix, as on Transfer Family"},
		"SETSTAT of a missing file":             {"OP_UNSUPPORTED", "SetStatOption DEFAULT refuses every SETSTAT on S3, as Transfer Family does"},
	}),
}

var statusExceptionsBoth = map[string]struct{ want, why string }{
	"READLINK of a file":   {"OP_UNSUPPORTED", "Transfer Family has no links"},
	"SYMLINK":              {"OP_UNSUPPORTED", "Transfer Family has no links"},
	"hardlink@openssh.com": {"OP_UNSUPPORTED", "Transfer Family has no links"},
	"CLOSE of an unknown handle": {"FAILURE", "pkg/sftp answers an unknown handle with FAILURE; " +
		"OpenSSH's sftp-server turns EBADF into NO_SUCH_FILE (and a READ of one into FAILURE)"},
}

func merged[M ~map[K]V, K comparable, V any](ms ...M) M {
	out := M{}
	for _, m := range ms {
		maps.Copy(out, m)
	}
	return out
}

// TestStatusCodesMatchOpenSSH sends the same requests to OpenSSH's sftp-server (internal-sftp
// in a private sshd) and to transferd on local and S3 storage, each on the same files, and
// compares the answers: the reply type or status code must match, or be one of the documented
// exceptions (which must still differ, so the list cannot go stale).
func TestStatusCodesMatchOpenSSH(t *testing.T) {
	t.Parallel()
	key := keyFor(t, "ed25519")

	openssh := startLoginSSHD(t, key)
	for _, f := range statusFixture {
		mkFixture(t, openssh.dir, f)
	}
	ref := runStatusCases(t, openRawSFTP(t, openssh.port, openssh.user, key))

	port := freePort(t)
	const user = "status_user"
	p := start(t, configYAML("", serverConf{Port: port, Users: []userConf{chrootUser(user, key)}}))
	for _, f := range statusFixture {
		mkFixture(t, p.userDir(user), f)
	}
	got := map[string][]sftpReply{"local": runStatusCases(t, openRawSFTP(t, port, user, key))}
	// pkg/sftp alone would have written the refused READ's length of zeros into the file.
	if fi, err := os.Stat(filepath.Join(p.userDir(user), "w")); err != nil || fi.Size() != 0 {
		t.Errorf("the file opened for writing, after a READ on its handle: %v, want it empty", err)
	}

	s3 := newS3Site(t, "")
	for _, f := range statusFixture {
		body := []byte("data")
		if strings.HasSuffix(f, "/") {
			body = nil
		}
		s3.put(t, "home/"+f, body)
	}
	got["s3"] = runStatusCases(t, openRawSFTP(t, s3.port, s3.user, s3.key))

	for storage, replies := range got {
		for i, c := range statusCases {
			want, have := ref[i], replies[i]
			exc, excepted := statusExceptions[storage][c.name]
			switch {
			case excepted && have.outcome() != exc.want:
				t.Errorf("%s, %s: transferd answers %s %q; the documented exception says %s (%s)", storage, c.name, have.outcome(), have.msg, exc.want, exc.why)
			case excepted && have.outcome() == want.outcome():
				t.Errorf("%s, %s: transferd now answers as OpenSSH does (%s); remove the exception", storage, c.name, have.outcome())
			case !excepted && have.outcome() != want.outcome():
				t.Errorf("%s, %s: OpenSSH answers %s %q, transferd %s %q", storage, c.name, want.outcome(), want.msg, have.outcome(), have.msg)
			}
		}
	}
	if t.Failed() || testing.Verbose() {
		var b strings.Builder
		for i, c := range statusCases {
			fmt.Fprintf(&b, "%-48s openssh %-18s %-24q local %-18s %-40q s3 %-18s %q\n", c.name, ref[i].outcome(), ref[i].msg,
				got["local"][i].outcome(), got["local"][i].msg, got["s3"][i].outcome(), got["s3"][i].msg)
		}
		t.Logf("answers:\n%s", b.String())
	}
}

func runStatusCases(t *testing.T, c *rawSFTP) []sftpReply {
	t.Helper()
	out := make([]sftpReply, len(statusCases))
	for i, sc := range statusCases {
		out[i] = sc.run(c)
	}
	return out
}

// mkFixture makes the file or (with a trailing "/") directory name under root, readable by anyone.
func mkFixture(t *testing.T, root, name string) {
	t.Helper()
	p := filepath.Join(root, name)
	if strings.HasSuffix(name, "/") {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		return
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A client that sends FSETSTAT right behind its WRITEs, without waiting for their replies (lftp's
// mirror, paramiko's pipelined files), keeps the time it set: transferd serves a handle's
// requests concurrently, and writes served after the FSETSTAT used to move the time again.
func TestTimesBehindPipelinedWrites(t *testing.T) {
	t.Parallel()
	key := keyFor(t, "ed25519")
	const user = "times_user"
	s3, efs, local := freePort(t), freePort(t), freePort(t)
	p := start(t, configYAML("",
		serverConf{Port: local, Users: []userConf{chrootUser(user, key)}},
		serverConf{Port: efs, Domain: "EFS", Users: []userConf{chrootUser(user, key)}}))
	site := newS3Site(t, "STORE_METADATA")
	s3 = site.port
	if err := os.MkdirAll(p.userDir(user), 0o755); err != nil {
		t.Fatal(err)
	}
	stamp := time.Date(2019, 7, 1, 12, 0, 0, 0, time.UTC)
	block := make([]byte, 32<<10)
	for _, tc := range []struct {
		name string
		port int
		user string
		key  *sshKey
	}{{"local", local, user, key}, {"local EFS", efs, user, key}, {"s3 STORE_METADATA", s3, site.user, site.key}} {
		t.Run(tc.name, func(t *testing.T) {
			c := openRawSFTP(t, tc.port, tc.user, tc.key)
			v := dialSFTP(t, tc.port, tc.user, tc.key)
			for round := range 3 {
				name := fmt.Sprintf("/timed-%d", round)
				open := c.call(fxpOpen, name, uint32(fxfWrite|fxfCreat|fxfTrunc), uint32(0))
				if open.typ != fxpHandle {
					t.Fatalf("OPEN: %s %q", open.outcome(), open.msg)
				}
				const writes = 64
				for i := range writes {
					c.request(fxpWrite, open.handle, uint64(i*len(block)), block)
				}
				c.request(fxpFsetstat, open.handle, uint32(attrTimes), uint32(stamp.Unix()), uint32(stamp.Unix()))
				for range writes + 1 {
					if r, id := c.reply(); r.typ != fxpStatus || r.code != 0 {
						t.Fatalf("request %d: %s %q", id, r.outcome(), r.msg)
					}
				}
				if r := c.call(fxpClose, open.handle); r.code != 0 {
					t.Fatalf("CLOSE: %s %q", r.outcome(), r.msg)
				}
				fi, err := v.Stat(name)
				if err != nil {
					t.Fatal(err)
				}
				if !fi.ModTime().Equal(stamp) || fi.Size() != writes*int64(len(block)) {
					t.Errorf("round %d: %d bytes, mtime %v; want %d bytes and the time FSETSTAT set, %v", round, fi.Size(), fi.ModTime().UTC(), writes*len(block), stamp)
				}
			}
		})
	}
}
