// Package daemon wires transferd together and runs it: it loads the config file, applies it to
// the state store, builds each server's SSH configuration from its security policy and host keys,
// starts and stops the listeners, and shuts down gracefully.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/transferd/transferd/internal/activity"
	"github.com/transferd/transferd/internal/config"
	"github.com/transferd/transferd/internal/control"
	"github.com/transferd/transferd/internal/identity"
	"github.com/transferd/transferd/internal/limits"
	"github.com/transferd/transferd/internal/metastore"
	"github.com/transferd/transferd/internal/metrics"
	"github.com/transferd/transferd/internal/policy"
	"github.com/transferd/transferd/internal/procs"
	"github.com/transferd/transferd/internal/sftpd"
	"github.com/transferd/transferd/internal/sshd"
	"github.com/transferd/transferd/internal/storage"
	"github.com/transferd/transferd/internal/storage/disk"
	"github.com/transferd/transferd/internal/storage/s3store"
	"github.com/transferd/transferd/internal/transfer"
	"github.com/transferd/transferd/internal/workflow"
)

// Options configure a daemon run. Zero values mean defaults.
type Options struct {
	// DataDir holds the state store (unless State names another) and, by default, the local
	// storage root.
	DataDir string
	// State is the state store: DataDir/state.db unless it names a PostgreSQL database.
	State State
	// ConfigPath is the bootstrap config file.
	ConfigPath string
	// PidFile, when set, is written with the process ID at start and removed at the end, besides
	// DATA_DIR/transferd.pid (which is always written: it is the data directory's lock).
	PidFile string
	// ActivityLog is where activity records go: "-" (the default) for Stdout, or a file path
	// (appended to).
	ActivityLog string
	// ShutdownGrace is how long transfers in flight may take to finish after a signal; default 30s.
	ShutdownGrace time.Duration
	// APIListen is the management API's listen address; "" or "off" turns the API off.
	APIListen string
	// DebugListen, when set, serves Go's profiles (/debug/pprof/) on this address.
	DebugListen string
	// MetricsListen, when set, serves /metrics (Prometheus), /healthz and /readyz on this address.
	MetricsListen string
	// ConsoleListen, when set, serves the web console on this address, over TLS with
	// ConsoleTLSCert and ConsoleTLSKey (PEM files).
	ConsoleListen                 string
	ConsoleTLSCert, ConsoleTLSKey string
	// AuditLog is where the audit trail of management calls goes: "" for nowhere, "-" for
	// Stdout, or a file appended to.
	AuditLog string
	// EndpointHost and EndpointPorts ("LOW-HIGH") give servers created without an Endpoint theirs;
	// defaults 127.0.0.1 and 2300-2399.
	EndpointHost  string
	EndpointPorts string
	// ListenHost, when set, is the address every server listens on, at its Endpoint's port,
	// whatever host the Endpoint names: for one node of several behind a load balancer.
	ListenHost string
	// NodeName names this process in records and logs (default: the host name).
	NodeName string
	// ProxyProtocolFrom are the load balancers' networks whose PROXY protocol headers (v1 or v2)
	// every server believes and requires (see ParseNetworks); none by default.
	ProxyProtocolFrom []netip.Prefix
	// ResyncInterval is how often a node on a shared state store reads every server again, in case
	// a change notice was lost (default 30s).
	ResyncInterval time.Duration
	// NodeTimeout is how long a process may go unheard of in the state store before the others
	// count it dead and abort the S3 multipart uploads it left (default 1m).
	NodeTimeout time.Duration
	// Getenv reads the environment (API credentials); nil means os.Getenv.
	Getenv func(string) string
	// Procs sizes the Go scheduler to the busy connections (nil: not at all). It acts on the
	// whole process, so one Daemon per process should have it.
	Procs  *procs.Governor
	Logger *slog.Logger
	Stdout io.Writer
}

// Daemon is a running transferd.
type Daemon struct {
	opts    Options
	log     *slog.Logger
	catalog *policy.Catalog
	store   *metastore.Store
	// local serves Domain EFS servers (in place, as EFS), and localS3 (the same directory, uploads
	// published at CLOSE, as S3) Domain S3 ones when no S3 storage is configured.
	local    storage.Backend
	localS3  storage.Backend
	s3       storage.Backend
	s3store  *s3store.Store   // the same as s3, for what only S3 does (aborting dead nodes' uploads)
	s3stored storage.Backend  // s3 as servers whose SetStatOption is STORE_METADATA see it
	metrics  *metrics.Metrics // nil without --metrics-listen
	audit    *auditLog        // nil without --audit-log
	logFiles []*LogFile       // the activity and audit log files, reopened by ReopenLogs
	activity activity.Sink
	// workflows runs the servers' workflows after uploads.
	workflows *workflow.Engine
	account   transfer.Account
	// idp calls custom identity providers, with the settings read at start.
	idp         *identity.Client
	idpSettings config.IdentityProviders
	// secretsDir is the config's Secrets.Directory (a string), applied again on SIGHUP.
	secretsDir atomic.Value
	// s3Settings are the Storage.S3 settings read at start (nil: no S3 storage).
	s3Settings *config.S3Storage
	closers    []io.Closer
	// storageRoot is the local storage directory in use.
	storageRoot string
	// penalties is the table of penalised source addresses, shared by every server;
	// handlePool is what every session's open files and directories take from.
	penalties  *limits.Penalties
	handlePool *limits.Pool

	control    *control.Service
	api        *http.Server
	consoleSrv *http.Server // nil without --console-listen
	// started is set once Start has synced every server; notices before that are ignored, as
	// are those while the config file is applied (applying), which syncs every server after.
	started  atomic.Bool
	applying atomic.Bool
	// syncMu serializes changes to which servers run (start, reload, API notices).
	syncMu  sync.Mutex
	mu      sync.Mutex
	servers map[string]*running
	// prebound are listeners opened before the config is applied, by endpoint, for startServer.
	prebound map[string]net.Listener
	// policyWarned is the policy each server's warnings (algorithms this build lacks) were
	// logged for.
	policyWarned map[string]string
	// background ends background work (the S3 check) at Shutdown.
	background     context.Context
	stopBackground context.CancelFunc
	wg             sync.WaitGroup
	// instance tells this process's change notices from other nodes' (fleet.go).
	instance string
}

// running is a server whose listener is open.
type running struct {
	srv      *sshd.Server
	ln       net.Listener
	endpoint string // as configured
	addr     string // as bound
}

// Start loads the config, locks the data directory, binds the management API and every server
// of the config file, applies the config and starts every server that should be online. It is
// all or nothing: on error nothing is left running, and the state store was not changed unless
// the error came after the config was applied (a server of the file that could not start). A
// server created through the API that cannot start is left START_FAILED, and logged.
func Start(ctx context.Context, opts Options) (_ *Daemon, err error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Stdout == nil {
		opts.Stdout = os.Stdout
	}
	if opts.ActivityLog == "" {
		opts.ActivityLog = "-"
	}
	if opts.ShutdownGrace <= 0 {
		opts.ShutdownGrace = 30 * time.Second
	}
	if opts.DataDir == "" {
		return nil, errors.New("no data directory: pass --data-dir")
	}
	if opts.EndpointHost == "" {
		opts.EndpointHost = "127.0.0.1"
	}
	if opts.EndpointPorts == "" {
		opts.EndpointPorts = "2300-2399"
	}
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	if opts.NodeName == "" {
		opts.NodeName, _ = os.Hostname()
	}
	if opts.ResyncInterval <= 0 {
		opts.ResyncInterval = 30 * time.Second
	}
	if opts.NodeTimeout <= 0 {
		opts.NodeTimeout = time.Minute
	}
	ports, err := parsePortRange(opts.EndpointHost, opts.EndpointPorts)
	if err != nil {
		return nil, fmt.Errorf("--endpoint-ports: %w", err)
	}
	d := &Daemon{opts: opts, log: opts.Logger, servers: map[string]*running{}, prebound: map[string]net.Listener{},
		policyWarned: map[string]string{}, instance: newInstance(opts.NodeName)}
	d.background, d.stopBackground = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			d.closeAll()
		}
	}()

	if d.catalog, err = policy.NewCatalog(); err != nil {
		return nil, err
	}
	cfg, err := d.loadConfig()
	if err != nil {
		return nil, err
	}
	d.account = cfg.Account()
	d.storageRoot = storageRoot(cfg, opts.DataDir)
	d.penalties = limits.NewPenalties(penaltyConfig(cfg.Penalties.Settings()))
	d.handlePool = fileHandlePool(d.log)

	if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the data directory: %w", err)
	}
	lock, err := lockDataDir(opts.DataDir)
	if err != nil {
		return nil, err
	}
	d.closers = append(d.closers, lock)
	if opts.PidFile != "" && !samePath(opts.PidFile, filepath.Join(opts.DataDir, pidFile)) {
		if err := os.WriteFile(opts.PidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			return nil, fmt.Errorf("--pid-file: %w", err)
		}
		d.closers = append(d.closers, closerFunc(func() error { return os.Remove(opts.PidFile) }))
	}
	apiLn, apiCreds, err := d.bindAPI()
	if err != nil {
		return nil, err
	}
	if apiLn != nil {
		d.closers = append(d.closers, apiLn) // until the API server owns it
	}
	consoleLn, err := d.bindConsole()
	if err != nil {
		return nil, err
	}
	if consoleLn != nil {
		d.closers = append(d.closers, consoleLn) // until the console's server owns it
	}
	if opts.DebugListen != "" {
		stopDebug, err := startDebug(opts.DebugListen, d.log)
		if err != nil {
			return nil, err
		}
		d.closers = append(d.closers, closerFunc(stopDebug))
	}
	if opts.MetricsListen != "" {
		d.metrics = metrics.New(opts.NodeName)
		stop, err := d.startObserve(opts.MetricsListen)
		if err != nil {
			return nil, err
		}
		d.closers = append(d.closers, closerFunc(stop))
	}
	if err := d.bindConfigServers(cfg); err != nil { // before the state store is touched
		return nil, err
	}
	if d.store, err = opts.State.open(ctx, opts.DataDir, d.account, true); err != nil {
		return nil, err
	}
	d.closers = append(d.closers, d.store)
	if n := d.store.SealedAtOpen(); n > 0 {
		d.log.Info("host keys stored in the clear are now encrypted with the state key", "host-keys", n)
	}

	ds, err := disk.New(d.storageRoot)
	if err != nil {
		return nil, fmt.Errorf("opening local storage %s: %w", d.storageRoot, err)
	}
	d.closers = append(d.closers, ds)
	if d.metrics != nil {
		observed := ds.Observed(func(op string, took time.Duration, err error) { d.metrics.StorageRequest("local", op, took, err) })
		d.local, d.localS3 = observed, observed.AtomicUploads()
	} else {
		d.local, d.localS3 = ds, ds.AtomicUploads()
	}
	if n := ds.Recovered(); n > 0 {
		d.log.Info("removed the temporary files of uploads left unfinished when transferd last stopped", "count", n)
	}
	d.s3Settings = cfg.Storage.S3
	if c := cfg.Storage.S3; c != nil {
		so := s3Options(c)
		so.Logger = d.log
		so.Uploads = uploadRegistry{d}
		if d.metrics != nil {
			so.Observe = func(op string, took time.Duration, err error) { d.metrics.StorageRequest("s3", op, took, err) }
		}
		st, err := s3store.New(ctx, so)
		if err != nil {
			return nil, fmt.Errorf("%s: Storage.S3: %w", opts.ConfigPath, err)
		}
		d.s3, d.s3store, d.s3stored = st, st, st.StoredAttrs()
	}

	if d.activity, err = d.openActivityLog(); err != nil {
		return nil, err
	}
	if err := d.openAuditLog(); err != nil {
		return nil, err
	}
	if d.idp, err = newIdentityClient(&cfg.IdentityProviders, d.log); err != nil {
		return nil, fmt.Errorf("%s: IdentityProviders: %w", opts.ConfigPath, err)
	}
	d.idpSettings = cfg.IdentityProviders
	d.secretsDir.Store(cfg.Secrets.Directory)
	d.closers = append(d.closers, d.idp)

	d.control = control.New(control.Options{Store: d.store, Catalog: d.catalog, Account: d.account,
		Notifier: d, Endpoints: ports, Logger: d.log, IdentityTester: idpTester{d.idp}})
	summary, err := d.apply(ctx, cfg)
	d.auditConfig(summary)
	if err != nil {
		return nil, err
	}
	d.log.Info("config applied", "config", opts.ConfigPath, "changes", summary.String())
	d.started.Store(true) // from here API changes reach the running servers
	if apiLn != nil {
		d.serveAPI(apiLn, apiCreds)
	}
	if consoleLn != nil {
		if err := d.serveConsole(consoleLn); err != nil {
			return nil, err
		}
	}
	d.checkS3(ctx)
	d.watchChanges()
	d.heartbeat()
	d.wg.Go(func() { d.workflows.Run(d.background) })
	d.sweepPenalties()
	d.releaseMemory()
	return d, nil
}

// s3Options maps the configuration of the S3 storage onto the store's options.
func s3Options(c *config.S3Storage) s3store.Options {
	o := s3store.Options{
		Endpoint: c.Endpoint, Region: c.Region, ForcePathStyle: c.ForcePathStyle,
		AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken,
		ChecksumWhenRequired: c.ChecksumWhenRequired,
		PartSize:             int64(c.PartSizeMiB) << 20,
		MaxBufferPerHandle:   int64(c.ReorderBufferMiB) << 20,
	}
	if n := c.MaxRenameObjects; n != nil {
		o.MaxRenameObjects = *n
		if *n == 0 {
			o.MaxRenameObjects = s3store.NoDirectoryRenames
		}
	}
	return o
}

// loadConfig reads and checks the config file and logs its warnings.
func (d *Daemon) loadConfig() (*config.Config, error) {
	cfg, err := config.Load(d.opts.ConfigPath, config.Options{CheckPolicy: d.checkServerPolicy})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("config file %s does not exist (--config; examples/transferd.yaml is one to start from)", d.opts.ConfigPath)
	}
	if pe, ok := errors.AsType[*fs.PathError](err); ok && pe.Path == d.opts.ConfigPath {
		return nil, fmt.Errorf("config file %s: %v", d.opts.ConfigPath, pe.Err)
	}
	if err != nil {
		return nil, err
	}
	for _, w := range cfg.Warnings() {
		d.log.Warn(w, "config", d.opts.ConfigPath)
	}
	return cfg, nil
}

func storageRoot(cfg *config.Config, dataDir string) string {
	if cfg.Storage.Local != nil && cfg.Storage.Local.Root != "" {
		return cfg.Storage.Local.Root
	}
	return filepath.Join(dataDir, "storage")
}

// NotStartedError says that the config file was applied (the state store has its changes) but
// some of its servers could not start; they are START_FAILED.
type NotStartedError struct {
	Changes string // what applying the file changed, as control.ApplySummary says it
	Err     error
}

func (e *NotStartedError) Error() string { return e.Err.Error() }
func (e *NotStartedError) Unwrap() error { return e.Err }

// apply binds the config file's new endpoints, applies cfg to the state store through the
// control plane, then makes the running servers match the store. A port that is taken or an error
// in the file changes nothing; a server of the file that fails to start after the file was
// applied is a *NotStartedError.
func (d *Daemon) apply(ctx context.Context, cfg *config.Config) (control.ApplySummary, error) {
	defer d.closePrebound()
	if err := d.bindConfigServers(cfg); err != nil {
		return control.ApplySummary{}, err
	}
	// The servers the file touches are synced together below, moves before starts: one at a
	// time as the apply reports them, a new server could find its port still held by one about
	// to move away.
	d.applying.Store(true)
	summary, err := d.control.ApplyConfig(ctx, cfg, d.opts.ConfigPath)
	d.applying.Store(false)
	if err != nil {
		return summary, err
	}
	if err := d.syncAll(ctx); err != nil {
		return summary, &NotStartedError{Changes: summary.String(), Err: err}
	}
	return summary, nil
}

// syncAll makes every running server match the state store, as at start and after SIGHUP:
// servers that should be online start (START_FAILED ones are tried again) or take their new
// settings; the others, and servers gone from the store, stop. Every server is tried; the errors
// of the config file's servers are returned together, those of servers created through the API
// are logged (they are left START_FAILED, for StartServer to retry).
func (d *Daemon) syncAll(ctx context.Context) error {
	return d.syncAllServers(ctx, true)
}

// syncAllServers is syncAll; retryFailed says whether START_FAILED servers are tried again.
func (d *Daemon) syncAllServers(ctx context.Context, retryFailed bool) error {
	d.syncMu.Lock()
	defer d.syncMu.Unlock()
	servers, err := d.control.AllServers(ctx)
	if err != nil {
		return err
	}
	// First stop what should stop, is gone or moves, so that a port one server leaves is free
	// for another that takes it in the same change.
	known := map[string]*transfer.Server{}
	for i := range servers {
		known[servers[i].ServerID] = &servers[i]
	}
	d.mu.Lock()
	var leaving []string
	for id, r := range d.servers {
		s := known[id]
		if s == nil || r.endpoint != s.Endpoint ||
			s.State != transfer.StateOnline && s.State != transfer.StateStarting && s.State != transfer.StateStartFailed {
			leaving = append(leaving, id)
		}
	}
	d.mu.Unlock()
	for _, id := range leaving {
		if known[id] == nil {
			d.workflows.Forget(id)
		}
		d.stopServer(id)
	}
	var errs []error
	for i := range servers {
		s := &servers[i]
		if s.State == transfer.StateStartFailed && retryFailed {
			s.State = transfer.StateStarting
		}
		if err := d.syncServer(ctx, s); err != nil {
			if s.Source == transfer.SourceConfig {
				errs = append(errs, fmt.Errorf("server %s (%s): %w", s.ServerID, s.Endpoint, err))
			} else {
				d.log.Warn("server could not start; it is START_FAILED until StartServer or SIGHUP starts it", "server-id", s.ServerID, "endpoint", s.Endpoint, "err", err)
			}
		}
	}
	return errors.Join(errs...)
}

// stopServer stops accepting connections for a server at once and lets its open connections
// finish their transfers within the grace period, in the background.
func (d *Daemon) stopServer(id string) {
	d.mu.Lock()
	r := d.servers[id]
	delete(d.servers, id)
	d.mu.Unlock()
	if r == nil {
		return
	}
	// The port is closed before this returns, so StopServer and DeleteServer answer only once
	// the server no longer accepts connections; transfers in flight finish in the background.
	r.srv.StopAccepting()
	d.log.Info("server offline", "server-id", id, "endpoint", r.addr)
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), d.opts.ShutdownGrace)
		defer cancel()
		r.srv.Shutdown(ctx)
	}()
}

// Reload applies the config file again, as at start, and says in one line what changed. A config
// with errors changes nothing: the error is returned and the servers keep running as they were.
// When the file was applied but some of its servers could not start, the error is a
// *NotStartedError.
// The storage settings, region, account and identity provider settings are read only at start.
func (d *Daemon) Reload(ctx context.Context) (string, error) {
	cfg, err := d.loadConfig()
	if err != nil {
		return "", err
	}
	if root := storageRoot(cfg, d.opts.DataDir); root != d.storageRoot {
		d.log.Warn("Storage.Local.Root changed; restart transferd to use it", "running", d.storageRoot, "config", root)
	}
	if a := cfg.Account(); a != d.account {
		d.log.Warn("Region or AccountId changed; restart transferd to use them")
	}
	if cfg.IdentityProviders != d.idpSettings {
		d.log.Warn("IdentityProviders changed; restart transferd to use the new settings")
	}
	d.secretsDir.Store(cfg.Secrets.Directory)
	if !reflect.DeepEqual(cfg.Storage.S3, d.s3Settings) {
		d.log.Warn("Storage.S3 changed; restart transferd to use the new settings: until then servers use those read at start")
	}
	summary, err := d.apply(ctx, cfg)
	d.auditConfig(summary)
	if err != nil {
		return "", err
	}
	d.penalties.Configure(penaltyConfig(cfg.Penalties.Settings()))
	d.checkS3(ctx)
	return summary.String(), nil
}

// checkServerPolicy accepts only known policies meant for servers.
func (d *Daemon) checkServerPolicy(name string) error {
	p, err := d.catalog.Lookup(name)
	if err != nil {
		return err
	}
	if !p.IsServer() {
		return fmt.Errorf("%s is a %s policy; servers need a SERVER policy", name, p.Type)
	}
	return nil
}

func (d *Daemon) openActivityLog() (activity.Sink, error) {
	w := d.opts.Stdout
	if d.opts.ActivityLog != "-" {
		f, err := OpenLogFile(d.opts.ActivityLog)
		if err != nil {
			return nil, fmt.Errorf("--activity-log: %w", err)
		}
		d.closers = append(d.closers, f)
		d.logFiles = append(d.logFiles, f)
		w = f
	}
	j := activity.NewJSONLines(w, nil)
	j.Node = d.opts.NodeName
	d.workflows = workflow.New(workflow.Options{Store: d.store, Storage: d.workflowStorage, Records: j,
		Instance: d.instance, NodeTimeout: d.opts.NodeTimeout, Count: d.metrics.WorkflowExecution, Logger: d.log,
		// CUSTOM steps invoke their function with the identity providers' Lambda client (made
		// after the log, before any server starts).
		Invoke: func(ctx context.Context, fn string, payload []byte) error { return d.idp.Invoke(ctx, fn, payload) },
		Secret: d.readSecret})
	return d.workflows.Sink(d.metrics.Sink(j)), nil
}

// sshConfig builds what sshd needs for one server.
func (d *Daemon) sshConfig(ctx context.Context, s *transfer.Server) (sshd.Config, error) {
	p, err := d.catalog.Lookup(s.SecurityPolicyName)
	if err != nil {
		return sshd.Config{}, fmt.Errorf("server %s: %w", s.ServerID, err)
	}
	d.mu.Lock()
	warned := d.policyWarned[s.ServerID] == p.SecurityPolicyName
	d.policyWarned[s.ServerID] = p.SecurityPolicyName
	d.mu.Unlock()
	if !warned { // once per server and policy, not at every reload
		for _, w := range p.Warnings() {
			d.log.Warn(w, "server-id", s.ServerID)
		}
	}
	keys, err := d.store.ListHostKeys(ctx, s.ServerID)
	if err != nil {
		return sshd.Config{}, err
	}
	signers, err := hostSigners(transfer.ServedHostKeys(keys))
	if err != nil {
		return sshd.Config{}, err
	}
	tags, err := d.store.ListTags(ctx, d.account.ServerARN(s.ServerID))
	if err != nil {
		return sshd.Config{}, err
	}
	lim, err := transfer.LimitsFromTags(tags)
	if err != nil {
		// The API refuses such tags; a hand-edited store has them. The default stands in.
		d.log.Warn("server limits tagged with invalid values keep their defaults", "server-id", s.ServerID, "err", err)
	}
	sup := p.Support()
	sftpCfg := sftpd.Config{Backend: d.backendFor(s), Activity: d.activity, Logger: d.log, Procs: d.opts.Procs}
	return sshd.Config{
		Server:      *s,
		ResourceARN: d.account.ServerARN(s.ServerID),
		Algorithms: sshd.Algorithms{
			KeyExchanges:      sup.Kexs.Offered,
			Ciphers:           sup.Ciphers.Offered,
			MACs:              sup.Macs.Offered,
			HostKeyAlgorithms: sup.HostKeyAlgorithms.Offered,
			UserSSHRSA:        p.AcceptsSSHRSA(),
		},
		HostKeys:          signers,
		RecordClientOffer: transfer.RecordsClientOffer(tags),
		Limits:            lim,
		Penalties:         d.penalties,
		ProxyProtocolFrom: d.opts.ProxyProtocolFrom,
		Metrics:           d.metrics,
		HandlePool:        d.handlePool,
		Auth:              d.authenticator(s),
		Methods:           loginMethods(s),
		Activity:          d.activity,
		Logger:            d.log,
		Procs:             d.opts.Procs,
		Subsystems: map[string]sshd.SubsystemHandler{
			"sftp": func(ctx context.Context, sess *transfer.Session, ch io.ReadWriteCloser) error {
				return sftpd.Serve(ctx, sftpCfg, sess, ch)
			},
		},
	}, nil
}

// backendFor is the storage a server's files live in: S3 for Domain S3 when S3 is configured
// (keeping SETSTAT's times and modes in metadata for STORE_METADATA), the local directory
// otherwise (where the file system keeps them).
func (d *Daemon) backendFor(s *transfer.Server) storage.Backend {
	switch {
	case !d.onS3(s):
		if s.Domain == transfer.DomainEFS {
			return d.local
		}
		return d.localS3
	case s.SetStatOption == transfer.SetStatStoreMetadata:
		return d.s3stored
	}
	return d.s3
}

// workflowStorage is the storage a server's workflows work on: the server's, except that on
// local storage a file they write appears at its close (as uploads of S3-domain servers do)
// even for EFS-domain servers, so that a step that fails leaves nothing half written.
func (d *Daemon) workflowStorage(s *transfer.Server) storage.Backend {
	if !d.onS3(s) {
		return d.localS3
	}
	return d.backendFor(s)
}

// onS3 says whether the server's files are in S3.
func (d *Daemon) onS3(s *transfer.Server) bool {
	return s.Domain != transfer.DomainEFS && d.s3 != nil
}

// startServer opens a server's listener and serves it.
func (d *Daemon) startServer(ctx context.Context, s *transfer.Server) error {
	cfg, err := d.sshConfig(ctx, s)
	if err != nil {
		return err
	}
	srv, err := sshd.New(cfg)
	if err != nil {
		return err
	}
	ln, err := d.listenFor(s.Endpoint)
	if err != nil {
		return err
	}
	r := &running{srv: srv, ln: ln, endpoint: s.Endpoint, addr: ln.Addr().String()}
	d.mu.Lock()
	d.servers[s.ServerID] = r
	d.mu.Unlock()
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, sshd.ErrServerClosed) {
			d.log.Error("server stopped accepting connections", "server-id", s.ServerID, "err", err)
		}
	}()
	var fps []string
	for _, k := range cfg.HostKeys {
		fps = append(fps, fingerprint(k))
	}
	d.log.Info("server online", "server-id", s.ServerID, "endpoint", r.addr,
		"security-policy", s.SecurityPolicyName, "host-key-fingerprints", fps)
	return nil
}

// Shutdown stops accepting connections on every server, lets transfers in flight finish until
// ctx ends, then closes everything.
func (d *Daemon) Shutdown(ctx context.Context) error {
	d.stopBackground()
	var apiErr error
	if d.api != nil {
		apiErr = d.api.Shutdown(ctx)
	}
	if d.consoleSrv != nil {
		apiErr = errors.Join(apiErr, d.consoleSrv.Shutdown(ctx))
	}
	d.mu.Lock()
	servers := make([]*running, 0, len(d.servers))
	for _, r := range d.servers {
		servers = append(servers, r)
	}
	d.mu.Unlock()
	var wg sync.WaitGroup
	errs := make([]error, len(servers))
	for i, r := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = r.srv.Shutdown(ctx)
		}()
	}
	wg.Wait()
	d.wg.Wait()
	// Its uploads ended with its sessions and its executions are handed back: nothing for the
	// other nodes to take over.
	gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	if err := d.store.NodeGone(gctx, d.instance); err != nil {
		d.log.Warn("could not remove this node from the state store", "err", err)
	}
	cancel()
	d.closeAll()
	return errors.Join(append(errs, apiErr)...)
}

func (d *Daemon) closeAll() {
	d.stopBackground()
	if d.consoleSrv != nil {
		d.consoleSrv.Close()
	}
	if d.api != nil {
		d.api.Close()
	}
	d.closePrebound()
	d.mu.Lock()
	for id, r := range d.servers {
		r.srv.Close()
		delete(d.servers, id)
	}
	d.mu.Unlock()
	for i := len(d.closers) - 1; i >= 0; i-- {
		d.closers[i].Close()
	}
	d.closers = nil
}

// pidFile is the file in the data directory that a serving transferd holds locked and writes its
// process ID to: `kill -HUP "$(cat DATA_DIR/transferd.pid)"` signals that process alone.
const pidFile = "transferd.pid"

// samePath reports whether two paths name the same file: the same file on disk, or the same
// absolute path.
func samePath(a, b string) bool {
	if fa, err := os.Stat(a); err == nil {
		if fb, err := os.Stat(b); err == nil {
			return os.SameFile(fa, fb)
		}
	}
	aa, err1 := filepath.Abs(a)
	ab, err2 := filepath.Abs(b)
	return err1 == nil && err2 == nil && aa == ab
}

// closerFunc is a function as an io.Closer.
type closerFunc func() error

func (f closerFunc) Close() error { return f() }
