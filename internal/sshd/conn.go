package sshd

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/transferd/transferd/internal/activity"
	"github.com/transferd/transferd/internal/transfer"
)

var errTooManyFiles = syscall.EMFILE

// conn is one client connection.
type conn struct {
	srv *Server
	b   *built
	nc  *sniffConn

	mu      sync.Mutex
	sc      *ssh.ServerConn
	session *transfer.Session
	closed  bool
	// What it holds of the server's limits: a connection from ip, not logged in yet while
	// starting, then one of user's.
	ip       string
	starting bool
	user     string
	// For the live sessions: when it logged in and what it negotiated (its CONNECTED record),
	// and why an operator ended it.
	since     time.Time
	connected *activity.Record
	endedBy   string
}

func (c *conn) busy() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.session != nil && c.session.OpenFiles() > 0
}

func (c *conn) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.sc != nil {
		c.sc.Close()
	}
	c.nc.Close()
}

func (c *conn) serve() {
	defer c.srv.untrack(c)
	defer c.release()
	cfg := c.b.cfg
	log := cfg.Logger.With("server-id", cfg.Server.ServerID, "remote", c.nc.RemoteAddr().String())
	defer recoverTo(log, "connection")
	defer c.nc.Close()

	c.nc.SetDeadline(time.Now().Add(cfg.Limits.LoginGraceTime))
	// The login, identity provider calls included, ends with the grace time.
	loginCtx, endLogin := context.WithTimeout(context.Background(), cfg.Limits.LoginGraceTime)
	l := &login{b: c.b, conn: c, ctx: loginCtx, sourceIP: remoteIP(c.nc.RemoteAddr())}
	release := cfg.Procs.Hold() // the handshake is most of a short session's CPU
	defer release()             // if it panics; releasing twice does nothing
	sc, chans, reqs, err := ssh.NewServerConn(c.nc, l.serverConfig())
	release()
	endLogin()
	if err != nil {
		if c.nc.proxyHeader.Load() {
			c.srv.reject(&cfg, "ProxyProtocol", c.ip, time.Now(), "the connection began with a PROXY protocol header, which is believed only from the networks of serve --proxy-protocol-from; closed")
			return
		}
		c.handshakeFailed(log, err)
		c.penalise(l, err)
		return
	}
	c.loggedIn()
	c.nc.SetDeadline(time.Time{})
	c.nc.setIdleTimeout(cfg.IdleTimeout)

	ans := sc.Permissions.ExtraData[answerKey{}].(*LoginAnswer)
	pub, _ := sc.Permissions.ExtraData[pubKeyKey{}].(ssh.PublicKey)
	method := sc.Permissions.ExtraData[methodKey{}].(string)
	sigAlg, _ := sc.Permissions.ExtraData[sigAlgKey{}].(string)
	user := &ans.User
	sess := &transfer.Session{
		ID:            transfer.NewSessionID(),
		Server:        cfg.Server,
		User:          *user,
		ResourceARN:   cfg.ResourceARN,
		RemoteIP:      remoteIP(sc.RemoteAddr()),
		ClientVersion: string(sc.ClientVersion()),
		MaxHandles:    cfg.Limits.MaxHandlesPerSession,
		Handles:       &handleBudget{srv: c.srv, user: user.UserName, max: cfg.Limits.MaxHandlesPerUser, pool: cfg.HandlePool},
	}
	c.mu.Lock()
	c.sc, c.session = sc, sess
	closed := c.closed
	c.mu.Unlock()
	if closed {
		sc.Close()
	}

	log = log.With("session-id", sess.ID, "user", user.UserName)
	r := connectedRecord(sess, method, pub, sigAlg, ans.IdPLatency)
	c.recordAlgorithms(log, r, sc)
	c.mu.Lock()
	c.since, c.connected = time.Now(), r
	c.mu.Unlock()
	cfg.Activity.Log(r)
	log.Debug("connected")

	ctx, cancel := context.WithCancel(context.Background())
	c.serveChannels(ctx, log, sess, chans, reqs)
	cancel()
	sc.Close()
	c.mu.Lock()
	why := c.endedBy
	c.mu.Unlock()
	cfg.Activity.Log(&activity.Record{
		ActivityType: activity.Disconnected,
		SessionID:    sess.ID,
		ResourceARN:  sess.ResourceARN,
		User:         sess.User.UserName,
		SourceIP:     sess.RemoteIP,
		Message:      why,
	})
	log.Debug("disconnected")
}

// serveChannels is the connection's control loop: it accepts session channels (each served on a
// goroutine of its own), refuses global requests (no port forwarding; keepalives need no answer
// but a refusal), and drains the requests of channels whose subsystem runs. One goroutine does
// all three because every goroutine is held by every idle session: 2,000 idle sessions are
// thousands of goroutines, and their stacks are most of the memory they cost.
func (c *conn) serveChannels(ctx context.Context, log *slog.Logger, sess *transfer.Session, chans <-chan ssh.NewChannel, global <-chan *ssh.Request) {
	cfg := c.b.cfg
	var wg sync.WaitGroup
	defer wg.Wait()
	sessions := 0
	ended := make(chan struct{}, cfg.Limits.MaxSessionsPerConnection)                // a session goroutine ended
	handoff := make(chan (<-chan *ssh.Request), cfg.Limits.MaxSessionsPerConnection) // requests to drain from now on
	const (
		caseChans = iota
		caseGlobal
		caseEnded
		caseHandoff
		caseDrain // and after
	)
	cases := []reflect.SelectCase{
		{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(chans)},
		{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(global)},
		{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ended)},
		{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(handoff)},
	}
	for {
		i, v, ok := reflect.Select(cases)
		switch {
		case i == caseChans && !ok:
			return // the connection is closed
		case i == caseChans:
			nch := v.Interface().(ssh.NewChannel)
			if nch.ChannelType() != "session" {
				nch.Reject(ssh.Prohibited, "transferd serves SFTP only: "+nch.ChannelType()+" channels (forwarding) are not allowed")
				log.Info("refused channel", "type", nch.ChannelType())
				continue
			}
			if sessions >= cfg.Limits.MaxSessionsPerConnection {
				nch.Reject(ssh.ResourceShortage, fmt.Sprintf("at most %d sessions per connection", cfg.Limits.MaxSessionsPerConnection))
				continue
			}
			ch, reqs, err := nch.Accept()
			if err != nil {
				log.Debug("accepting a channel failed", "err", err)
				continue
			}
			sessions++
			wg.Go(func() {
				defer func() { ended <- struct{}{} }()
				defer recoverTo(log, "session channel")
				c.serveSession(ctx, log, sess, ch, reqs, handoff)
			})
		case i == caseGlobal && !ok:
			cases[caseGlobal].Chan = reflect.Value{} // never ready again
		case i == caseGlobal:
			if req := v.Interface().(*ssh.Request); req.WantReply {
				req.Reply(false, nil)
			}
		case i == caseEnded:
			sessions--
		case i == caseHandoff:
			cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: v})
		case !ok: // a drained channel is closed
			cases = slices.Delete(cases, i, i+1)
		default:
			if req := v.Interface().(*ssh.Request); req.WantReply {
				req.Reply(false, nil)
			}
		}
	}
}

// exitStatus is the payload of an exit-status channel request.
type exitStatus struct{ Status uint32 }

// serveSession answers a session channel's requests: the sftp subsystem runs; shells and commands
// get a clear message and exit status 1; everything else is refused.
// Once the subsystem starts, the channel's further requests go to handoff, to be drained by the
// connection's control loop.
func (c *conn) serveSession(ctx context.Context, log *slog.Logger, sess *transfer.Session, ch ssh.Channel, reqs <-chan *ssh.Request, handoff chan<- (<-chan *ssh.Request)) {
	defer ch.Close()
	cfg := c.b.cfg
	for req := range reqs {
		switch req.Type {
		case "subsystem":
			var p struct{ Name string }
			if err := ssh.Unmarshal(req.Payload, &p); err != nil {
				req.Reply(false, nil)
				continue
			}
			handler, ok := cfg.Subsystems[p.Name]
			if !ok {
				log.Info("refused subsystem", "subsystem", p.Name)
				req.Reply(false, nil)
				continue
			}
			req.Reply(true, nil)
			handoff <- reqs
			status := uint32(0)
			if err := handler(ctx, sess, ch); err != nil {
				log.Debug("subsystem ended", "subsystem", p.Name, "err", err)
				status = 1
			}
			ch.SendRequest("exit-status", false, ssh.Marshal(exitStatus{status}))
			return
		case "shell", "exec":
			req.Reply(true, nil)
			fmt.Fprintf(ch.Stderr(), "This service allows sftp connections only.\r\n")
			log.Info("refused " + req.Type + " request: SFTP only")
			ch.SendRequest("exit-status", false, ssh.Marshal(exitStatus{1}))
			return
		default:
			// pty-req, env, x11-req, auth-agent-req@openssh.com, signals ... are not served.
			if req.WantReply {
				req.Reply(false, nil)
			}
		}
	}
}

// connectedRecord is the CONNECTED record of who logged in, how (method, with the key and how it
// signed when one was used) and, for a custom identity provider, how long it took to answer; recordAlgorithms
// adds what was negotiated.
func connectedRecord(sess *transfer.Session, method string, pub ssh.PublicKey, sigAlg string, idp time.Duration) *activity.Record {
	r := &activity.Record{
		ActivityType: activity.Connected,
		SessionID:    sess.ID,
		ResourceARN:  sess.ResourceARN,
		User:         sess.User.UserName,
		Client:       sess.ClientVersion,
		SourceIP:     sess.RemoteIP,
		Role:         sess.User.Role,
		HomeDir:      sess.User.ActivityHomeDir(),
		UserPolicy:   sess.User.Policy,
		Method:       method,
		IdPLatencyMs: latencyMs(idp),
	}
	if pub != nil {
		r.SSHPublicKey = base64.StdEncoding.EncodeToString(pub.Marshal())
		r.SSHPublicKeyType = pub.Type()
		r.SSHPublicKeyFingerprint = ssh.FingerprintSHA256(pub)
		r.SSHSignatureAlgorithm = sigAlg
	}
	return r
}
