package console

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// PasswordFileName is the file, in serve's data directory, that holds console passwords: one
// "NAME:HASH" line per console user (HASH is bcrypt's at cost 12 or more, as htpasswd -B -C 12
// also writes it), mode 0600.
// `transferd console-password` writes it; the console reads it at each sign-in, so a password
// set, changed or removed takes effect without a restart, and a change or removal ends that
// user's sessions.
const PasswordFileName = "console-passwords"

const (
	// MinPasswordLength and MaxPasswordLength bound a console password, in bytes; bcrypt reads
	// at most 72.
	MinPasswordLength = 12
	MaxPasswordLength = 72
	bcryptCost        = 12
)

// bcryptSlots bounds the password checks that run at once: each takes about a quarter of a
// second of a core, and the cores serve SFTP too. A sign-in that waits longer than bcryptWait
// for one is refused.
var (
	bcryptSlots = make(chan struct{}, max(1, runtime.NumCPU()/2))
	bcryptWait  = 2 * time.Second
)

// errBusy refuses a sign-in while too many passwords are being checked.
var errBusy = errors.New("too many sign-ins at once; try again in a moment")

var userNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// CheckUserName says what is wrong with a console user name, or nil.
func CheckUserName(name string) error {
	if !userNameRE.MatchString(name) {
		return fmt.Errorf("console user name %q: use 1 to 64 letters, digits and . _ @ -, starting with a letter or digit", name)
	}
	return nil
}

// SetPassword sets the console password of user name in file, replacing the file atomically.
func SetPassword(file, name, password string) error {
	if err := CheckUserName(name); err != nil {
		return err
	}
	switch {
	case len(password) < MinPasswordLength:
		return fmt.Errorf("the password is %d bytes long; use at least %d", len(password), MinPasswordLength)
	case len(password) > MaxPasswordLength:
		return fmt.Errorf("the password is %d bytes long; bcrypt reads at most %d", len(password), MaxPasswordLength)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcryptCost)
	if err != nil {
		return err
	}
	return updatePasswords(file, func(users map[string]string) bool {
		users[name] = string(hash)
		return true
	})
}

// DeletePassword removes user name's console password; false when it had none.
func DeletePassword(file, name string) (bool, error) {
	found := false
	err := updatePasswords(file, func(users map[string]string) bool {
		_, found = users[name]
		delete(users, name)
		return found
	})
	return found, err
}

// updatePasswords reads file, lets change edit it and, when change says so, writes it back. The
// file's directory (the data directory) must exist.
func updatePasswords(file string, change func(map[string]string) bool) error {
	dir, err := os.Stat(filepath.Dir(file))
	if err != nil {
		return fmt.Errorf("the data directory: %w", err)
	}
	unlock, err := lockPasswords(file)
	if err != nil {
		return err
	}
	defer unlock()
	users, err := readPasswords(file)
	if err != nil {
		return err
	}
	if !change(users) {
		return nil
	}
	names := make([]string, 0, len(users))
	for n := range users {
		names = append(names, n)
	}
	slices.Sort(names)
	var b bytes.Buffer
	for _, n := range names {
		fmt.Fprintf(&b, "%s:%s\n", n, users[n])
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	like := dir
	if fi, err := os.Stat(file); err == nil {
		like = fi
	}
	if err := keepOwner(tmp, like); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(b.Bytes()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), file) // CreateTemp made it 0600
}

// readPasswords reads a password file; a missing file has no users.
func readPasswords(file string) (map[string]string, error) {
	users := map[string]string{}
	data, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return users, nil
	}
	if err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, hash, ok := strings.Cut(line, ":")
		cost, err := bcrypt.Cost([]byte(hash))
		if !ok || CheckUserName(name) != nil || err != nil {
			return nil, fmt.Errorf("%s line %d: not NAME:BCRYPT-HASH", file, n)
		}
		// A cheaper hash would tell, by how fast it fails, which names exist.
		if cost < bcryptCost {
			return nil, fmt.Errorf("%s line %d: console user %s has a bcrypt hash of cost %d; use %d or more (transferd console-password sets it again)", file, n, name, cost, bcryptCost)
		}
		users[name] = hash
	}
	return users, sc.Err()
}

// passwords is the password file as the console reads it, re-read when it changes.
type passwords struct {
	file string

	mu    sync.Mutex
	read  os.FileInfo // the file as it was read; it is read again when it is replaced or changed
	users map[string]string
	err   error
}

// hash returns user name's password hash, "" when it has none; any is false when there are no
// console users at all.
func (p *passwords) hash(name string) (hash string, any bool, err error) {
	if p == nil || p.file == "" {
		return "", false, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fi, err := os.Stat(p.file)
	switch {
	case errors.Is(err, os.ErrNotExist):
		p.read, p.users, p.err = nil, nil, nil
	case err != nil:
		return "", false, err
	case p.read == nil || !os.SameFile(fi, p.read) || !fi.ModTime().Equal(p.read.ModTime()) || fi.Size() != p.read.Size():
		p.users, p.err = readPasswords(p.file)
		p.read = fi
	}
	if p.err != nil {
		return "", false, p.err
	}
	return p.users[name], len(p.users) > 0, nil
}

// dummyHash is compared with when the user has no password, so that an unknown name takes as
// long to refuse as a wrong password. It is made at first use: every command links this package.
var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("transferd-console-no-such-user"), bcryptCost)
	return h
})

// check reports whether password is user name's; the hash it matched is returned so that a
// session can end when the password changes. err is a password file that cannot be read.
// With no console users at all it answers at once: there is no name to tell apart. The checks
// that run at once are bounded (bcryptSlots); errBusy says none was free in time.
func (p *passwords) check(name, password string) (hash string, ok bool, err error) {
	hash, any, err := p.hash(name)
	if err != nil || !any {
		return "", false, err
	}
	select {
	case bcryptSlots <- struct{}{}:
		defer func() { <-bcryptSlots }()
	case <-time.After(bcryptWait):
		return "", false, errBusy
	}
	if hash == "" {
		bcrypt.CompareHashAndPassword(dummyHash(), []byte(password))
		return "", false, nil
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) != nil {
		return "", false, nil
	}
	return hash, true, nil
}
