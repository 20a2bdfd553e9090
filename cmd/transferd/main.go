// Command transferd runs self-hosted SFTP servers that behave like AWS Transfer Family's, and
// answers questions about their security policies and the SSH negotiations they make.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/transferd/transferd/internal/daemon"
	"github.com/transferd/transferd/internal/policy"
	"github.com/transferd/transferd/internal/procs"
)

const usage = `transferd: self-hosted SFTP servers that behave like AWS Transfer Family

Usage:
  transferd serve --data-dir DIR --config FILE [--activity-log PATH] [--api-listen ADDR] [flags]
  transferd credentials --data-dir DIR [--export [--endpoint-url URL]]
  transferd console-password --data-dir DIR [--delete] NAME
  transferd backup --data-dir DIR --out FILE
  transferd policies list
  transferd policies describe NAME
  transferd explain (--policy NAME[,NAME...]|all | --server HOST:PORT) (--client PROFILE | --client-offer FILE) [--json]
  transferd explain --list-clients
  transferd probe [--json] HOST:PORT
  transferd policy-impact --policy NEW --logs FILE [FILE...] [--server ID] [--json]
  transferd test-idp --data-dir DIR --config FILE --server-id ID --user-name NAME [--password-stdin | --public-key FILE]
  transferd activity [--type T,...] [--server ID] [--user NAME] [--since 7d] [--where F~RE] [--by F,...] [--json] FILE...
  transferd help [COMMAND]

explain predicts which key exchange, host key, cipher and MAC a client and a server will
negotiate, and why; probe reads any SSH server's offer without logging in and names the security
policies it matches; policy-impact tells, from activity logs, which clients a new security policy
would change or lock out; test-idp asks a server's custom identity provider about a login and says
what transferd makes of the answer; activity filters and counts activity records, as Logs
Insights queries do. Run "transferd help COMMAND" (or COMMAND --help) for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(args[1:], stdout, stderr)
	case "policies":
		err = policies(args[1:], stdout)
	case "credentials":
		err = credentials(args[1:], stdout, stderr)
	case "console-password":
		err = consolePassword(args[1:], os.Stdin, stdout, stderr)
	case "explain":
		err = explainCmd(args[1:], stdout, stderr)
	case "probe":
		err = probeCmd(args[1:], stdout, stderr)
	case "policy-impact":
		err = policyImpactCmd(args[1:], stdout, stderr)
	case "test-idp":
		err = testIdP(args[1:], os.Stdin, stdout, stderr)
	case "activity":
		err = queryActivity(args[1:], os.Stdin, stdout, stderr, time.Now())
	case "backup":
		err = backup(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		if len(args) > 1 {
			switch args[1] {
			case "serve", "credentials", "console-password", "explain", "probe", "policy-impact", "test-idp", "activity", "backup":
				return run([]string{args[1], "--help"}, stdout, stderr)
			}
		}
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "transferd: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	case errors.Is(err, errNotAuthenticated):
		return 1
	default:
		fmt.Fprintf(stderr, "transferd: %v\n", err)
		return 1
	}
}

// errUsage reports a command line the flag package already complained about.
var errUsage = errors.New("usage")

// parseFlags parses args with fs: flag.ErrHelp for --help, errUsage when the flag package has
// already said what is wrong.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	return nil
}

func serve(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", "", "directory for the state store (state.db, unless --state names a database), transferd.pid (locked while serving: one process per directory) and, by default, local storage (DIR/storage); created with mode 0700 (required)")
	configPath := fs.String("config", "", "YAML config file applied to the state store at start (required); see examples/transferd.yaml")
	activityLog := fs.String("activity-log", "-", `where activity records (one JSON object per line) go: "-" for stdout, or a file appended to`)
	grace := fs.Duration("shutdown-grace", 30*time.Second, "on SIGINT/SIGTERM, how long transfers in flight may take to finish")
	logLevel := fs.String("log-level", "info", "operational log level: debug, info, warn, error")
	logFormat := fs.String("log-format", "text", "operational log format: text or json")
	logFile := fs.String("log-file", "", "write the operational log to this file (appended to; reopened on SIGHUP, for logrotate) instead of stderr")
	apiListen := fs.String("api-listen", "127.0.0.1:9460", `management API (AWS JSON 1.1 with SigV4) listen address, or "off"`)
	endpointHost := fs.String("endpoint-host", "127.0.0.1", "host that servers created through the API without a transferd:Endpoint tag listen on")
	endpointPorts := fs.String("endpoint-ports", "2300-2399", "ports (LOW-HIGH) handed out to servers created through the API without a transferd:Endpoint tag")
	auditLog := fs.String("audit-log", "", `where the audit trail of management calls goes (one JSON object per line, CloudTrail's shape: every API call, accepted or refused, and every change the config file makes): "-" for stdout, a file appended to, or nothing (the default) for none`)
	metricsListen := fs.String("metrics-listen", "", "if set, serve Prometheus metrics (/metrics) and health (/healthz: alive; /readyz: the state store answers, every ONLINE server listens, storage answers) on this address")
	consoleListen := fs.String("console-listen", "", "if set, serve the web console on this address (off by default); sign in with the management API's access key pair or as a console user (transferd console-password)")
	consoleCert := fs.String("console-tls-cert", "", "with --console-tls-key: serve the console over HTTPS with this certificate (PEM); its session cookie is then Secure")
	consoleKey := fs.String("console-tls-key", "", "the private key (PEM) of --console-tls-cert")
	debugListen := fs.String("debug-listen", "", "if set, serve Go's profiles (/debug/pprof/) on this address (keep it on loopback)")
	pidFilePath := fs.String("pid-file", "", "also write the process ID to this file (removed at exit); DIR/transferd.pid always has it")
	readState := stateFlags(fs, "serve")
	listenHost := fs.String("listen-host", "", "if set, every server listens on this address at its Endpoint's port, whatever host the Endpoint names: for each node of several behind a load balancer, its own address")
	proxyFrom := fs.String("proxy-protocol-from", "", "networks (CIDR[,CIDR...]) of the TCP load balancers that send a PROXY protocol header (v1 or v2) with each connection: their headers name the client (in records and for per-address limits), and are required from them; from any other peer a header closes the connection. Off by default")
	nodeName := fs.String("node-name", "", "this process's name in activity records and logs (default: the host name)")
	nodeTimeout := fs.Duration("node-timeout", time.Minute, "with S3 storage, how long a node may go unheard of in the state store (each records itself every 5s or more often) before the others count it dead and abort the multipart uploads it left")
	resync := fs.Duration("resync-interval", 30*time.Second, "with a shared (PostgreSQL) state store, how often to read every server again in case a change notice from another node was lost")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: transferd serve --data-dir DIR --config FILE [flags]

Runs every server of the config file, all or nothing: the file is checked and every listener
bound before the state store is touched, and any failure exits non-zero naming the flag or field.
SIGHUP reopens the log files (--log-file, --activity-log, --audit-log: logrotate's postrotate) and
applies the file again (kill -HUP "$(cat DIR/transferd.pid)"; servers and users created, updated
or removed; running servers take the new settings for new connections); SIGINT or SIGTERM stop
accepting connections and let transfers in flight finish.

State is kept in DIR/state.db (SQLite) unless --state or $TRANSFERD_STATE names a PostgreSQL
database; a state key (--state-key-file, or $TRANSFERD_STATE_KEY) encrypts the host private keys
kept there. Several processes (nodes) may share one PostgreSQL database and one S3 behind a TCP
load balancer: each runs every online server (at --listen-host, with the same host keys), and a
change made through any node's API reaches the others within a second or two (PostgreSQL
NOTIFY; every --resync-interval they also read every server again).

The Go scheduler runs with as many Ps as connections are busy (logging in or running SFTP
requests), at least half the cores and at most all of them: one connection's work costs less
on one core than spread over several. Set GOMAXPROCS in the environment to fix the number.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("serve: unexpected argument %q", fs.Arg(0))
	}
	if *dataDir == "" || *configPath == "" {
		return errors.New("serve: --data-dir and --config are required (try: transferd serve --data-dir ./transferd-data --config examples/transferd.yaml)")
	}
	state, err := readState()
	if err != nil {
		return err
	}
	proxyNets, err := daemon.ParseNetworks(*proxyFrom)
	if err != nil {
		return fmt.Errorf("serve: --proxy-protocol-from: %w", err)
	}
	if *nodeTimeout < 4*time.Second {
		return fmt.Errorf("serve: --node-timeout %v: give at least 4s", *nodeTimeout)
	}
	if *resync <= 0 {
		return fmt.Errorf("serve: --resync-interval %v: give a positive duration, such as 30s", *resync)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("serve: --log-level %q: use debug, info, warn or error", *logLevel)
	}
	hopts := &slog.HandlerOptions{Level: level}
	logOut := stderr
	var opsLog *daemon.LogFile
	if *logFile != "" {
		if opsLog, err = daemon.OpenLogFile(*logFile); err != nil {
			return fmt.Errorf("serve: --log-file: %w", err)
		}
		defer opsLog.Close()
		logOut = opsLog
	}
	var logger *slog.Logger
	switch *logFormat {
	case "text":
		logger = slog.New(slog.NewTextHandler(logOut, hopts))
	case "json":
		logger = slog.New(slog.NewJSONHandler(logOut, hopts))
	default:
		return fmt.Errorf("serve: --log-format %q: use text or json", *logFormat)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// From here a SIGHUP waits for the start to finish instead of ending the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	d, err := daemon.Start(ctx, daemon.Options{
		DataDir:           *dataDir,
		State:             state,
		ConfigPath:        *configPath,
		PidFile:           *pidFilePath,
		ActivityLog:       *activityLog,
		ShutdownGrace:     *grace,
		APIListen:         *apiListen,
		DebugListen:       *debugListen,
		MetricsListen:     *metricsListen,
		ConsoleListen:     *consoleListen,
		ConsoleTLSCert:    *consoleCert,
		ConsoleTLSKey:     *consoleKey,
		AuditLog:          *auditLog,
		EndpointHost:      *endpointHost,
		EndpointPorts:     *endpointPorts,
		ListenHost:        *listenHost,
		NodeName:          *nodeName,
		ProxyProtocolFrom: proxyNets,
		ResyncInterval:    *resync,
		NodeTimeout:       *nodeTimeout,
		Procs:             procs.FromEnv(logger),
		Logger:            logger,
		Stdout:            stdout,
	})
	if err != nil {
		return err
	}
	logger.Info("started", "config", *configPath, "data-dir", *dataDir, "pid", os.Getpid())
	for done := false; !done; {
		select {
		case <-hup:
			// Log files first (logrotate's postrotate), whatever the config file holds.
			if opsLog != nil {
				if err := opsLog.Reopen(); err != nil {
					logger.Error("SIGHUP: --log-file could not be reopened; logging goes on to the file open before", "err", err)
				}
			}
			if err := d.ReopenLogs(); err != nil {
				logger.Error("SIGHUP: log files could not be reopened; records go on to the files open before", "err", err)
			}
			logger.Info("SIGHUP: log files reopened; applying the config file again", "config", *configPath)
			changes, err := d.Reload(ctx)
			var notStarted *daemon.NotStartedError
			switch {
			case errors.As(err, &notStarted):
				logger.Error("SIGHUP: config applied, but servers of it could not start (START_FAILED)",
					"config", *configPath, "changes", notStarted.Changes, "err", err)
			case err != nil:
				logger.Error("config not applied; servers keep their settings", "err", err)
			default:
				logger.Info("SIGHUP: config applied", "config", *configPath, "changes", changes)
			}
		case <-ctx.Done():
			done = true
		}
	}
	stop()
	logger.Info("shutting down: no new connections; waiting for transfers in flight", "grace", grace.String())
	sctx, cancel := context.WithTimeout(context.Background(), *grace)
	defer cancel()
	if err := d.Shutdown(sctx); err != nil {
		logger.Warn("grace period over; remaining connections were closed", "err", err)
	}
	logger.Info("stopped")
	return nil
}

func policies(args []string, stdout io.Writer) error {
	cat, err := policy.NewCatalog()
	if err != nil {
		return err
	}
	switch {
	case len(args) == 1 && args[0] == "list":
		return cat.WriteList(stdout)
	case len(args) == 2 && args[0] == "describe":
		p, err := cat.Lookup(args[1])
		if err != nil {
			return err
		}
		b, err := p.Describe()
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "%s\n", b)
		return err
	}
	return errors.New("policies: use \"transferd policies list\" or \"transferd policies describe NAME\"")
}

// credentials prints the management API's admin key pair, creating it on first use.
func credentials(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("credentials", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", "", "the data directory of transferd serve (required)")
	export := fs.Bool("export", false, "print shell export lines for the AWS CLI and SDKs instead: the key pair, the region and AWS_ENDPOINT_URL_TRANSFER")
	endpointURL := fs.String("endpoint-url", "http://127.0.0.1:9460", "the management API's URL for AWS_ENDPOINT_URL_TRANSFER (serve's --api-listen)")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: transferd credentials --data-dir DIR [--export [--endpoint-url URL]]

Prints the management API's admin key pair from DIR/credentials.json (created with mode 0600 if it
does not exist yet). transferd serve uses TRANSFERD_ACCESS_KEY_ID and TRANSFERD_SECRET_ACCESS_KEY
instead when both are set. Flags:
`)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *dataDir == "" {
		return errors.New("credentials: --data-dir is required")
	}
	c, err := daemon.Credentials(*dataDir, func(string) string { return "" })
	if err != nil {
		return err
	}
	if *export {
		// AWS CLI v2.13+ and v1.29+ and the current SDKs read AWS_ENDPOINT_URL_TRANSFER, so
		// that --endpoint-url is not needed on every command.
		_, err = fmt.Fprintf(stdout, "export AWS_ACCESS_KEY_ID=%s\nexport AWS_SECRET_ACCESS_KEY=%s\nexport AWS_DEFAULT_REGION=us-east-1\nexport AWS_ENDPOINT_URL_TRANSFER=%s\n",
			c.AccessKeyID, c.SecretAccessKey, *endpointURL)
		return err
	}
	_, err = fmt.Fprintf(stdout, "AccessKeyId:     %s\nSecretAccessKey: %s\n", c.AccessKeyID, c.SecretAccessKey)
	return err
}
