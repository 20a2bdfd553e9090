package sftpd

import (
	"bytes"
	"context"
	"io"
	"net"
	"testing"

	"github.com/pkg/sftp"

	"github.com/transferd/transferd/internal/storage/disk"
	"github.com/transferd/transferd/internal/transfer"
)

// benchSession serves one SFTP session over an in-memory connection onto a local store and
// returns a pkg/sftp client for it, with requests as large as the limits the session advertises.
// It measures the SFTP layer (framing, pkg/sftp, our handlers, homedir, storage) without SSH.
func benchSession(b *testing.B) *sftp.Client { return pipeSession(b, Config{}) }

// pipeSession serves one SFTP session with cfg (its Backend a local store in a temporary
// directory) over an in-memory connection and returns a pkg/sftp client for it.
func pipeSession(tb testing.TB, cfg Config) *sftp.Client {
	tb.Helper()
	sess := &transfer.Session{ID: "bench", User: transfer.User{
		UserName:              "bench",
		HomeDirectoryType:     transfer.HomeLogical,
		HomeDirectoryMappings: []transfer.Mapping{{Entry: "/", Target: "/bucket/bench"}},
	}}
	return pipeSessionAs(tb, cfg, sess, tb.TempDir())
}

// pipeSessionAs is pipeSession for the session sess, onto a local store at root.
func pipeSessionAs(tb testing.TB, cfg Config, sess *transfer.Session, root string) *sftp.Client {
	tb.Helper()
	store, err := disk.New(root)
	if err != nil {
		tb.Fatal(err)
	}
	cfg.Backend = store
	server, client := net.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Serve(ctx, cfg, sess, server)
	}()
	c, err := sftp.NewClientPipe(client, client, sftp.MaxPacketUnchecked(maxData), sftp.UseConcurrentWrites(true))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		c.Close()
		cancel()
		server.Close()
		<-done
		store.Close()
	})
	return c
}

const benchFile = 32 << 20

func BenchmarkWrite(b *testing.B) {
	c := benchSession(b)
	data := bytes.Repeat([]byte("transferd"), benchFile/9+1)[:benchFile]
	b.SetBytes(benchFile)
	b.ReportAllocs()
	for b.Loop() {
		f, err := c.Create("/f")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.ReadFrom(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRead(b *testing.B) {
	c := benchSession(b)
	f, err := c.Create("/f")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := f.ReadFrom(io.LimitReader(zeros{}, benchFile)); err != nil {
		b.Fatal(err)
	}
	f.Close()
	b.SetBytes(benchFile)
	b.ReportAllocs()
	for b.Loop() {
		f, err := c.Open("/f")
		if err != nil {
			b.Fatal(err)
		}
		n, err := f.WriteTo(io.Discard)
		if err != nil || n != benchFile {
			b.Fatalf("read %d bytes, %v", n, err)
		}
		f.Close()
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }
