package negotiate

import (
	"encoding/binary"
	"reflect"
	"strings"
	"testing"
)

func TestStreamReadsVersionAndKexInit(t *testing.T) {
	o := sampleOffer()
	wire := append([]byte("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10\r\n"), frame(o.MarshalKexInit([16]byte{9}))...)
	wire = append(wire, "after the packet"...)
	for _, chunk := range []int{1, 3, 7, 64, len(wire)} {
		var s Stream
		for i := 0; i < len(wire); i += chunk {
			s.Feed(wire[i:min(i+chunk, len(wire))])
		}
		got, err := s.Offer()
		if err != nil || !reflect.DeepEqual(got, o) {
			t.Errorf("fed %d bytes at a time: offer %+v, %v; want %+v", chunk, got, err, o)
		}
		if s.Version() != "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10" {
			t.Errorf("fed %d bytes at a time: version %q", chunk, s.Version())
		}
	}
}

func TestStreamSkipsLinesBeforeTheVersion(t *testing.T) {
	var s Stream
	s.Feed([]byte("Welcome\r\nto the server\nSSH-2.0-X\r\n"))
	if s.Version() != "SSH-2.0-X" || s.Done() {
		t.Errorf("version %q done %v, want SSH-2.0-X and not done", s.Version(), s.Done())
	}
	if _, err := s.Offer(); err == nil || err != errNoKexInit {
		t.Errorf("Offer before the packet: %v, want %v", err, errNoKexInit)
	}
}

func TestStreamGivesUp(t *testing.T) {
	kexinit := sampleOffer().MarshalKexInit([16]byte{})
	big := binary.BigEndian.AppendUint32([]byte("SSH-2.0-X\r\n"), 1<<20)
	for _, tc := range []struct {
		name  string
		max   int
		input []byte
		want  string
	}{
		{"HTTP", 0, []byte("HTTP/1.1 400 Bad Request\r\n" + strings.Repeat("Header: x\r\n", 70)), "64 lines without an identification line"},
		{"long line", 0, []byte(strings.Repeat("x", 300)), "a line of more than 255 bytes"},
		{"huge packet", 0, big, "claims 1048576 bytes; a KEXINIT has 5 to 35000"},
		{"over the caller's limit", 100, append([]byte("SSH-2.0-X\r\n"), frame(kexinit)...), "a KEXINIT has 5 to 100"},
		{"not KEXINIT", 0, append([]byte("SSH-2.0-X\r\n"), frame([]byte{21, 0})...), "not SSH_MSG_KEXINIT"},
		{"padding longer than the packet", 0, append([]byte("SSH-2.0-X\r\n"), 0, 0, 0, 6, 200, 20, 0, 0, 0, 0), "padding (200 bytes)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := Stream{MaxPacket: tc.max}
			done := s.Feed(tc.input)
			_, err := s.Offer()
			if !done || err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("done %v, error %v; want done and an error containing %q", done, err, tc.want)
			}
		})
	}
}

// FuzzStream feeds arbitrary bytes (the identification line and first packet a client or server
// sends, before any encryption) to a Stream whole and in two pieces split anywhere: both must end
// alike, and the version line must be as RFC 4253 bounds it.
func FuzzStream(f *testing.F) {
	kexinit := frame(sampleOffer().MarshalKexInit([16]byte{1}))
	f.Add(append([]byte("SSH-2.0-OpenSSH_9.2p1\r\n"), kexinit...), 7)
	f.Add(append([]byte("hello\r\nSSH-2.0-x\n"), kexinit...), 30)
	f.Add([]byte("SSH-1.5-old\r\n"), 3)
	f.Add(append([]byte("SSH-2.0-x\r\n"), 0xff, 0xff, 0xff, 0xff, 20), 12)
	f.Fuzz(func(t *testing.T, wire []byte, split int) {
		var whole, pieces Stream
		whole.Feed(wire)
		split = max(0, min(split, len(wire)))
		pieces.Feed(wire[:split])
		pieces.Feed(wire[split:])
		o1, err1 := whole.Offer()
		o2, err2 := pieces.Offer()
		if !reflect.DeepEqual(o1, o2) || (err1 == nil) != (err2 == nil) || whole.Version() != pieces.Version() {
			t.Fatalf("whole: %+v, %v, %q; split at %d: %+v, %v, %q", o1, err1, whole.Version(), split, o2, err2, pieces.Version())
		}
		if len(whole.Version()) > maxLine {
			t.Fatalf("version line of %d bytes", len(whole.Version()))
		}
		if o1 != nil {
			if again, err := ParseKexInit(o1.MarshalKexInit([16]byte{})); err != nil || !reflect.DeepEqual(again, o1) {
				t.Fatalf("the offer read does not survive re-encoding: %+v, %v", again, err)
			}
		}
	})
}
