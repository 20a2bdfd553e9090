// Command idp is an example custom identity provider for transferd and AWS Transfer Family: it
// answers for the users of a YAML file (passwords as bcrypt hashes, public keys, role, home
// directory, session policy, POSIX profile) with Transfer Family's contracts.
//
// As an HTTP server it is an API_GATEWAY provider: it answers
// GET [/STAGE]/servers/{serverId}/users/{username}/config?protocol=SFTP&sourceIp=IP, with the
// password in the Password header for password logins. Started by a Lambda runtime (AWS Lambda, or the
// Runtime Interface Emulator, which set AWS_LAMBDA_RUNTIME_API), it is an AWS_LAMBDA provider:
// its event is {username, password, protocol, serverId, sourceIp}.
//
// Either way it answers an empty object {} to refuse (an unknown user, a wrong password, a key
// login for a user without keys, a server or source IP the user may not come from), and the user's
// configuration otherwise: without PublicKeys for a password login, with them for a key login
// (the server then checks the key's signature itself).
//
//	idp serve --users FILE [--listen 127.0.0.1:9470] [--tls-cert CERT --tls-key KEY]
//	idp lambda --users FILE          (also what runs when AWS_LAMBDA_RUNTIME_API is set)
//	idp hash-password < password     (prints a bcrypt hash for the users file)
//
// The users file (it is read again on SIGHUP, or on each Lambda cold start):
//
//	Users:
//	  - UserName: alice
//	    PasswordHash: $2a$10$...                      # from idp hash-password; leave out for key-only users
//	    PublicKeys: ["ssh-ed25519 AAAA... alice"]      # leave out for password-only users
//	    Role: arn:aws:iam::123456789012:role/sftp
//	    HomeDirectoryType: LOGICAL                     # or PATH with HomeDirectory
//	    HomeDirectoryMappings: [{Entry: /, Target: /bucket1/alice}]
//	    Policy: '{"Version": "2012-10-17", "Statement": [...]}'
//	    PosixProfile: {Uid: 1001, Gid: 1001}           # for EFS-domain servers
//	    ServerIds: [s-0123456789abcdef0]               # optional: only these servers
//	    SourceCidrs: [10.0.0.0/8]                      # optional: only from these networks
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"golang.org/x/crypto/bcrypt"
	"gopkg.in/yaml.v3"
)

// User is one user of the users file.
type User struct {
	UserName              string        `yaml:"UserName"`
	PasswordHash          string        `yaml:"PasswordHash,omitempty"`
	PublicKeys            []string      `yaml:"PublicKeys,omitempty"`
	Role                  string        `yaml:"Role"`
	HomeDirectoryType     string        `yaml:"HomeDirectoryType,omitempty"`
	HomeDirectory         string        `yaml:"HomeDirectory,omitempty"`
	HomeDirectoryMappings []Mapping     `yaml:"HomeDirectoryMappings,omitempty"`
	Policy                string        `yaml:"Policy,omitempty"`
	PosixProfile          *PosixProfile `yaml:"PosixProfile,omitempty"`
	ServerIDs             []string      `yaml:"ServerIds,omitempty"`
	SourceCIDRs           []string      `yaml:"SourceCidrs,omitempty"`
}

// Mapping is one LOGICAL home directory mapping.
type Mapping struct {
	Entry  string `yaml:"Entry" json:"Entry"`
	Target string `yaml:"Target" json:"Target"`
	Type   string `yaml:"Type,omitempty" json:"Type,omitempty"`
}

// PosixProfile is a POSIX identity, for EFS-domain servers.
type PosixProfile struct {
	UID           uint32   `yaml:"Uid" json:"Uid"`
	GID           uint32   `yaml:"Gid" json:"Gid"`
	SecondaryGIDs []uint32 `yaml:"SecondaryGids,omitempty" json:"SecondaryGids,omitempty"`
}

// Response is Transfer Family's answer format; HomeDirectoryDetails is the mappings as a JSON
// string.
type Response struct {
	Role                 string        `json:"Role,omitempty"`
	PublicKeys           []string      `json:"PublicKeys,omitempty"`
	Policy               string        `json:"Policy,omitempty"`
	HomeDirectoryType    string        `json:"HomeDirectoryType,omitempty"`
	HomeDirectoryDetails string        `json:"HomeDirectoryDetails,omitempty"`
	HomeDirectory        string        `json:"HomeDirectory,omitempty"`
	PosixProfile         *PosixProfile `json:"PosixProfile,omitempty"`
}

// Request is one login's question, from either contract.
type Request struct {
	UserName    string
	Password    string
	HasPassword bool
	ServerID    string
	SourceIP    string
	Protocol    string
}

// directory holds the users, replaced whole when the file is read again.
type directory struct {
	mu    sync.RWMutex
	users map[string]User
}

func (d *directory) load(file string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var f struct {
		Users []User `yaml:"Users"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	users := make(map[string]User, len(f.Users))
	for i, u := range f.Users {
		switch {
		case u.UserName == "":
			return fmt.Errorf("%s: Users[%d]: UserName is required", file, i)
		case u.Role == "":
			return fmt.Errorf("%s: Users[%d] (%s): Role is required: Transfer Family refuses an answer without one", file, i, u.UserName)
		case u.PasswordHash == "" && len(u.PublicKeys) == 0:
			return fmt.Errorf("%s: Users[%d] (%s): give a PasswordHash, PublicKeys or both", file, i, u.UserName)
		}
		if u.PasswordHash != "" {
			if _, err := bcrypt.Cost([]byte(u.PasswordHash)); err != nil {
				return fmt.Errorf("%s: Users[%d] (%s): PasswordHash is not a bcrypt hash (make one with idp hash-password): %v", file, i, u.UserName, err)
			}
		}
		for _, c := range u.SourceCIDRs {
			if _, err := netip.ParsePrefix(c); err != nil {
				return fmt.Errorf("%s: Users[%d] (%s): SourceCidrs: %v", file, i, u.UserName, err)
			}
		}
		if _, dup := users[u.UserName]; dup {
			return fmt.Errorf("%s: Users[%d]: %s is listed twice", file, i, u.UserName)
		}
		users[u.UserName] = u
	}
	d.mu.Lock()
	d.users = users
	d.mu.Unlock()
	return nil
}

// answer decides a login: the user's configuration, or an empty Response to refuse, with the
// reason for the log (never the password).
func (d *directory) answer(r Request) (Response, string) {
	d.mu.RLock()
	u, ok := d.users[r.UserName]
	d.mu.RUnlock()
	if !ok {
		return Response{}, "unknown user"
	}
	if len(u.ServerIDs) > 0 && !slices.Contains(u.ServerIDs, r.ServerID) {
		return Response{}, "not a user of server " + r.ServerID
	}
	if len(u.SourceCIDRs) > 0 {
		ip, err := netip.ParseAddr(r.SourceIP)
		allowed := false
		for _, c := range u.SourceCIDRs {
			if p, _ := netip.ParsePrefix(c); err == nil && p.Contains(ip.Unmap()) {
				allowed = true
			}
		}
		if !allowed {
			return Response{}, "source IP " + r.SourceIP + " not allowed"
		}
	}
	resp := Response{Role: u.Role, Policy: u.Policy, HomeDirectoryType: u.HomeDirectoryType,
		HomeDirectory: u.HomeDirectory, PosixProfile: u.PosixProfile}
	if len(u.HomeDirectoryMappings) > 0 {
		b, err := json.Marshal(u.HomeDirectoryMappings)
		if err != nil {
			return Response{}, "mappings: " + err.Error()
		}
		resp.HomeDirectoryDetails = string(b)
	}
	if r.HasPassword {
		if u.PasswordHash == "" {
			return Response{}, "no password for this user"
		}
		if bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(r.Password)) != nil {
			return Response{}, "wrong password"
		}
		return resp, "password accepted"
	}
	if len(u.PublicKeys) == 0 {
		return Response{}, "no public keys for this user"
	}
	resp.PublicKeys = u.PublicKeys
	return resp, "public keys returned"
}

func main() {
	log.SetFlags(log.LstdFlags | log.LUTC)
	if os.Getenv("AWS_LAMBDA_RUNTIME_API") != "" && (len(os.Args) < 2 || os.Args[1] != "lambda") {
		os.Args = append([]string{os.Args[0], "lambda"}, os.Args[1:]...)
	}
	if len(os.Args) < 2 {
		usage()
	}
	switch os.Args[1] {
	case "serve":
		serve(os.Args[2:])
	case "lambda":
		runLambda(os.Args[2:])
	case "hash-password":
		hashPassword()
	default:
		usage()
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, `usage:
  idp serve --users FILE [--listen 127.0.0.1:9470] [--tls-cert CERT --tls-key KEY]
  idp lambda --users FILE     (the default under a Lambda runtime; IDP_USERS_FILE may name the file)
  idp hash-password < password`)
	os.Exit(2)
}

func serve(args []string) {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	users := fs.String("users", "", "the users file (YAML)")
	listen := fs.String("listen", "127.0.0.1:9470", "address to listen on")
	cert := fs.String("tls-cert", "", "serve HTTPS with this certificate (PEM)")
	key := fs.String("tls-key", "", "and this private key (PEM)")
	fs.Parse(args)
	if *users == "" || (*cert == "") != (*key == "") {
		usage()
	}
	d := &directory{}
	if err := d.load(*users); err != nil {
		log.Fatal(err)
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for range hup {
			if err := d.load(*users); err != nil {
				log.Printf("reloading %s failed; the users stay as they were: %v", *users, err)
				continue
			}
			log.Printf("reloaded %s", *users)
		}
	}()
	mux := http.NewServeMux()
	handler := func(w http.ResponseWriter, req *http.Request) {
		pw, has := req.Header["Password"]
		r := Request{UserName: req.PathValue("username"), ServerID: req.PathValue("serverId"),
			SourceIP: req.URL.Query().Get("sourceIp"), Protocol: req.URL.Query().Get("protocol"), HasPassword: has}
		if has {
			r.Password = pw[0]
		}
		resp, why := d.answer(r)
		log.Printf("%s %s from %s (%s): %s", r.ServerID, r.UserName, r.SourceIP, method(r), why)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(resp) // always 200: an empty object refuses
	}
	// With or without a stage in front, as API Gateway URLs have one (.../prod).
	mux.HandleFunc("GET /servers/{serverId}/users/{username}/config", handler)
	mux.HandleFunc("GET /{stage}/servers/{serverId}/users/{username}/config", handler)
	srv := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
	go func() {
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
		<-stop
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}()
	log.Printf("identity provider for %s listening on %s", *users, *listen)
	var err error
	if *cert != "" {
		err = srv.ListenAndServeTLS(*cert, *key)
	} else {
		err = srv.ListenAndServe()
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

func method(r Request) string {
	if r.HasPassword {
		return "password"
	}
	return "key"
}

// lambdaEvent is Transfer Family's event; password is absent for key logins.
type lambdaEvent struct {
	Username string  `json:"username"`
	Password *string `json:"password"`
	Protocol string  `json:"protocol"`
	ServerID string  `json:"serverId"`
	SourceIP string  `json:"sourceIp"`
}

func runLambda(args []string) {
	fs := flag.NewFlagSet("lambda", flag.ExitOnError)
	users := fs.String("users", os.Getenv("IDP_USERS_FILE"), "the users file (YAML); default $IDP_USERS_FILE")
	fs.Parse(args)
	if *users == "" {
		usage()
	}
	d := &directory{}
	if err := d.load(*users); err != nil {
		log.Fatal(err)
	}
	lambda.Start(func(ctx context.Context, ev lambdaEvent) (Response, error) {
		r := Request{UserName: ev.Username, ServerID: ev.ServerID, SourceIP: ev.SourceIP, Protocol: ev.Protocol}
		if ev.Password != nil {
			r.Password, r.HasPassword = *ev.Password, true
		}
		resp, why := d.answer(r)
		log.Printf("%s %s from %s (%s): %s", r.ServerID, r.UserName, r.SourceIP, method(r), why)
		return resp, nil
	})
}

func hashPassword() {
	pw, err := io.ReadAll(io.LimitReader(os.Stdin, 73))
	if err != nil {
		log.Fatal(err)
	}
	pw = []byte(strings.TrimRight(string(pw), "\r\n"))
	if len(pw) == 0 || len(pw) > 72 {
		log.Fatal("give the password (1 to 72 bytes, bcrypt's limit) on standard input")
	}
	h, err := bcrypt.GenerateFromPassword(pw, bcrypt.DefaultCost)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(h))
}
