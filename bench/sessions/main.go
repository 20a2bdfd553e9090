// Command sessions opens many idle SFTP sessions to one server and holds them, so that
// bench/compare.sh can read the server's memory with all of them open.
//
//	sessions -addr 127.0.0.1:2222 -user bench -key KEY -n 2000 [-concurrency 16]
//
// Each session is an SSH connection (public key, any host key) with the sftp subsystem started and
// one request answered (the working directory). Once all are open it prints "open=N failed=M"
// and waits for its standard input to close; then it checks every session still answers, prints
// "alive=N", and closes them.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

type session struct {
	conn *ssh.Client
	sftp *sftp.Client
}

func main() {
	addr := flag.String("addr", "", "server address HOST:PORT")
	user := flag.String("user", "", "user name")
	keyPath := flag.String("key", "", "private key file")
	n := flag.Int("n", 2000, "sessions to open")
	conc := flag.Int("concurrency", 16, "sessions opened at once")
	flag.Parse()
	if *addr == "" || *user == "" || *keyPath == "" {
		fmt.Fprintln(os.Stderr, "sessions: -addr, -user and -key are required")
		os.Exit(2)
	}
	if err := run(*addr, *user, *keyPath, *n, *conc); err != nil {
		fmt.Fprintln(os.Stderr, "sessions:", err)
		os.Exit(1)
	}
}

func run(addr, user, keyPath string, n, conc int) error {
	pem, err := os.ReadFile(keyPath)
	if err != nil {
		return err
	}
	signer, err := ssh.ParsePrivateKey(pem)
	if err != nil {
		return fmt.Errorf("%s: %w", keyPath, err)
	}
	cfg := &ssh.ClientConfig{
		User:            user,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), // a benchmark on loopback
		Timeout:         time.Minute,
	}
	sessions := make([]*session, n)
	var failed atomic.Int64
	var firstErr sync.Once
	var errMsg error
	next := atomic.Int64{}
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				s, err := open(addr, cfg)
				if err != nil {
					failed.Add(1)
					firstErr.Do(func() { errMsg = err })
					continue
				}
				sessions[i] = s
			}
		})
	}
	wg.Wait()
	fmt.Printf("open=%d failed=%d\n", int64(n)-failed.Load(), failed.Load())
	if errMsg != nil {
		fmt.Printf("first failure: %v\n", errMsg)
	}
	io.Copy(io.Discard, os.Stdin)

	var alive atomic.Int64
	sem := make(chan struct{}, conc)
	for _, s := range sessions {
		if s == nil {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if _, err := s.sftp.Getwd(); err == nil {
				alive.Add(1)
			}
			s.sftp.Close()
			s.conn.Close()
		}()
	}
	wg.Wait()
	fmt.Printf("alive=%d\n", alive.Load())
	return nil
}

func open(addr string, cfg *ssh.ClientConfig) (*session, error) {
	nc, err := net.DialTimeout("tcp", addr, cfg.Timeout)
	if err != nil {
		return nil, err
	}
	c, chans, reqs, err := ssh.NewClientConn(nc, addr, cfg)
	if err != nil {
		nc.Close()
		return nil, err
	}
	conn := ssh.NewClient(c, chans, reqs)
	sc, err := sftp.NewClient(conn)
	if err != nil {
		conn.Close()
		return nil, err
	}
	if _, err := sc.Getwd(); err != nil {
		sc.Close()
		conn.Close()
		return nil, errors.Join(errors.New("first request"), err)
	}
	return &session{conn: conn, sftp: sc}, nil
}
