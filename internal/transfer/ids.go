package transfer

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"regexp"
)

var (
	serverIDPattern  = regexp.MustCompile(`^s-[0-9a-f]{17}$`)
	keyIDPattern     = regexp.MustCompile(`^key-[0-9a-f]{17}$`)
	hostKeyIDPattern = regexp.MustCompile(`^hostkey-[0-9a-f]{17}$`)
)

// randomHex returns n random lowercase hex digits.
func randomHex(n int) string {
	b := make([]byte, (n+1)/2)
	if _, err := rand.Read(b); err != nil {
		// crypto/rand never fails on supported platforms (it panics itself since Go 1.24).
		panic(err)
	}
	return hex.EncodeToString(b)[:n]
}

// NewServerID returns a fresh server ID: s- and 17 lowercase hex digits.
func NewServerID() string { return "s-" + randomHex(17) }

// NewSSHPublicKeyID returns a fresh public key ID: key- and 17 lowercase hex digits.
func NewSSHPublicKeyID() string { return "key-" + randomHex(17) }

// NewHostKeyID returns a fresh host key ID: hostkey- and 17 lowercase hex digits.
func NewHostKeyID() string { return "hostkey-" + randomHex(17) }

// NewSessionID returns a fresh session ID: 20 lowercase hex digits, as in Transfer Family's logs.
func NewSessionID() string { return randomHex(20) }

// ValidServerID reports whether id has the form s- and 17 lowercase hex digits.
func ValidServerID(id string) bool { return serverIDPattern.MatchString(id) }

// ValidSSHPublicKeyID reports whether id has the form key- and 17 lowercase hex digits.
func ValidSSHPublicKeyID(id string) bool { return keyIDPattern.MatchString(id) }

// ValidHostKeyID reports whether id has the form hostkey- and 17 lowercase hex digits.
func ValidHostKeyID(id string) bool { return hostKeyIDPattern.MatchString(id) }

// Account is where ARNs say resources live. transferd has no AWS account: the values are
// configurable and only shape the ARNs.
type Account struct {
	Region    string
	AccountID string
}

// Defaults for Account.
const (
	DefaultRegion    = "us-east-1"
	DefaultAccountID = "000000000000"
)

// WithDefaults returns a copy of a with empty fields set to their defaults.
func (a Account) WithDefaults() Account {
	if a.Region == "" {
		a.Region = DefaultRegion
	}
	if a.AccountID == "" {
		a.AccountID = DefaultAccountID
	}
	return a
}

// ServerARN returns arn:aws:transfer:REGION:ACCOUNT:server/SERVERID.
func (a Account) ServerARN(serverID string) string {
	a = a.WithDefaults()
	return fmt.Sprintf("arn:aws:transfer:%s:%s:server/%s", a.Region, a.AccountID, serverID)
}

// UserARN returns arn:aws:transfer:REGION:ACCOUNT:user/SERVERID/USERNAME.
func (a Account) UserARN(serverID, userName string) string {
	a = a.WithDefaults()
	return fmt.Sprintf("arn:aws:transfer:%s:%s:user/%s/%s", a.Region, a.AccountID, serverID, userName)
}

// HostKeyARN returns arn:aws:transfer:REGION:ACCOUNT:host-key/SERVERID/HOSTKEYID.
func (a Account) HostKeyARN(serverID, hostKeyID string) string {
	a = a.WithDefaults()
	return fmt.Sprintf("arn:aws:transfer:%s:%s:host-key/%s/%s", a.Region, a.AccountID, serverID, hostKeyID)
}
