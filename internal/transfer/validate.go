package transfer

import (
	"fmt"
	"regexp"
	"strings"
)

// Field constraints from the Transfer Family API model.
var (
	userNamePattern = regexp.MustCompile(`^[\w][\w@.-]{2,99}$`)
	rolePattern     = regexp.MustCompile(`^arn:.*role/\S+$`)
	bannerPattern   = regexp.MustCompile(`^[\x09-\x0D\x20-\x7E]*$`)
)

// Limits from the Transfer Family API model.
const (
	MaxPathLength     = 1024
	MaxNameLength     = 255 // one path segment, as file systems and SFTP clients allow
	MaxMappings       = 50000
	MaxBannerLength   = 4096
	MaxPolicyLength   = 2048
	MaxKeyBodyLength  = 2048
	MinRoleLength     = 20
	MaxRoleLength     = 2048
	MaxKeysPerUser    = 50
	MaxSecondaryGIDs  = 16
	UserNameVariable  = "${transfer:UserName}"
	userNameVariable2 = "${Transfer:UserName}"
)

// ValidateUserName checks Transfer Family's rule: 3 to 100 characters of [\w@.-], not starting
// with '-', '.' or '@'.
func ValidateUserName(name string) error {
	if !userNamePattern.MatchString(name) {
		return Invalid("UserName", "%q must be 3 to 100 characters of letters, digits, _ @ . - and start with a letter, digit or _", name)
	}
	return nil
}

// LoginAllowed reports whether a user name may log in over SFTP: Transfer Family blocks root and
// names shorter than 3 characters at login.
func LoginAllowed(name string) bool {
	return name != "root" && userNamePattern.MatchString(name)
}

// ValidateRole checks an IAM role ARN's shape. An empty role is allowed: transferd does not need
// one; it is only logged.
func ValidateRole(role string) error {
	if role == "" {
		return nil
	}
	if len(role) < MinRoleLength || len(role) > MaxRoleLength || !rolePattern.MatchString(role) {
		return Invalid("Role", "%q is not an IAM role ARN (arn:...:role/NAME, 20 to 2048 characters)", role)
	}
	return nil
}

// ValidateBanner checks a login banner's length and characters.
func ValidateBanner(field, banner string) error {
	if len(banner) > MaxBannerLength {
		return Invalid(field, "is %d characters long; at most %d are allowed", len(banner), MaxBannerLength)
	}
	if !bannerPattern.MatchString(banner) {
		return Invalid(field, "may hold only printable ASCII, tabs and line breaks")
	}
	return nil
}

// ValidateStoragePath checks a storage path (/bucket/prefix): absolute, no trailing slash, no
// empty, "." or ".." segments, no segment over 255 bytes, no NUL, at most 1024 characters. "/" is
// allowed only when allowRoot is set.
func ValidateStoragePath(field, p string, allowRoot bool) error {
	if len(p) > MaxPathLength {
		return Invalid(field, "is %d characters long; at most %d are allowed", len(p), MaxPathLength)
	}
	if !strings.HasPrefix(p, "/") {
		return Invalid(field, "%q must start with /", p)
	}
	if p == "/" {
		if allowRoot {
			return nil
		}
		return Invalid(field, "%q must name a bucket: /bucket or /bucket/prefix", p)
	}
	if strings.HasSuffix(p, "/") {
		return Invalid(field, "%q must not end with /", p)
	}
	if strings.ContainsRune(p, 0) {
		return Invalid(field, "%q contains a NUL byte", p)
	}
	for _, seg := range strings.Split(p[1:], "/") {
		switch seg {
		case "":
			return Invalid(field, "%q contains an empty segment (//)", p)
		case ".", "..":
			return Invalid(field, "%q contains a %q segment", p, seg)
		}
		if len(seg) > MaxNameLength {
			return Invalid(field, "%q has a name longer than %d bytes, which no client can reach", p, MaxNameLength)
		}
	}
	return nil
}

// ExpandTarget replaces ${transfer:UserName} in a mapping target or home directory.
func ExpandTarget(target, userName string) string {
	target = strings.ReplaceAll(target, UserNameVariable, userName)
	return strings.ReplaceAll(target, userNameVariable2, userName)
}

// ValidateHome checks a user's home directory settings: the type, the home directory for PATH
// users and the mappings for LOGICAL ones, with Transfer Family's target rules.
func ValidateHome(u *User) error {
	switch u.HomeDirectoryType {
	case HomePath:
		if len(u.HomeDirectoryMappings) > 0 {
			return Invalid("HomeDirectoryMappings", "are only allowed with HomeDirectoryType LOGICAL")
		}
		if u.HomeDirectory == "" {
			return nil
		}
		return ValidateStoragePath("HomeDirectory", ExpandTarget(u.HomeDirectory, u.UserName), true)
	case HomeLogical:
		if u.HomeDirectory != "" {
			return Invalid("HomeDirectory", "must be empty with HomeDirectoryType LOGICAL (the mappings define the home)")
		}
		return ValidateMappings(u.HomeDirectoryMappings, u.UserName)
	default:
		return Invalid("HomeDirectoryType", "%q must be PATH or LOGICAL", u.HomeDirectoryType)
	}
}

// ValidateMappings checks LOGICAL mappings: 1 to 50,000 entries; entries absolute, distinct and not
// nested in one another; targets /bucket[/prefix] without a trailing slash; Type DIRECTORY or FILE;
// an Entry of / only on its own.
func ValidateMappings(ms []Mapping, userName string) error {
	if len(ms) == 0 {
		return Invalid("HomeDirectoryMappings", "LOGICAL home directories need at least one mapping")
	}
	if len(ms) > MaxMappings {
		return Invalid("HomeDirectoryMappings", "has %d entries; at most %d are allowed", len(ms), MaxMappings)
	}
	seen := make(map[string]int, len(ms))
	for i, m := range ms {
		field := fmt.Sprintf("HomeDirectoryMappings[%d]", i)
		entry := m.Entry
		if entry != "/" {
			entry = strings.TrimSuffix(entry, "/")
		}
		if err := ValidateStoragePath(field+".Entry", entry, true); err != nil {
			return err
		}
		if err := ValidateStoragePath(field+".Target", ExpandTarget(m.Target, userName), false); err != nil {
			return err
		}
		switch m.Type {
		case "", MappingDirectory:
		case MappingFile:
			if entry == "/" {
				return Invalid(field+".Type", "FILE cannot be used with Entry /")
			}
			if !strings.Contains(strings.TrimPrefix(ExpandTarget(m.Target, userName), "/"), "/") {
				return Invalid(field+".Target", "%q: a FILE mapping must name an object (/bucket/key), not a bucket", m.Target)
			}
		default:
			return Invalid(field+".Type", "%q must be DIRECTORY or FILE", m.Type)
		}
		if j, ok := seen[entry]; ok {
			return Invalid(field+".Entry", "%q is also HomeDirectoryMappings[%d].Entry", m.Entry, j)
		}
		seen[entry] = i
	}
	if _, ok := seen["/"]; ok && len(ms) > 1 {
		return Invalid("HomeDirectoryMappings", "an Entry of / must be the only mapping (entries may not overlap)")
	}
	for i, m := range ms {
		entry := strings.TrimSuffix(m.Entry, "/")
		for parent := parentOf(entry); parent != "/" && parent != ""; parent = parentOf(parent) {
			if j, ok := seen[parent]; ok {
				return Invalid(fmt.Sprintf("HomeDirectoryMappings[%d].Entry", i),
					"%q lies inside HomeDirectoryMappings[%d].Entry %q (entries may not overlap)", m.Entry, j, ms[j].Entry)
			}
		}
	}
	return nil
}

func parentOf(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return "/"
	}
	return p[:i]
}

// ValidateUser checks everything about a user that does not need the store.
func ValidateUser(u *User) error {
	if err := ValidateUserName(u.UserName); err != nil {
		return err
	}
	if err := ValidateRole(u.Role); err != nil {
		return err
	}
	if len(u.Policy) > MaxPolicyLength {
		return Invalid("Policy", "is %d characters long; at most %d are allowed", len(u.Policy), MaxPolicyLength)
	}
	if p := u.PosixProfile; p != nil && len(p.SecondaryGIDs) > MaxSecondaryGIDs {
		return Invalid("PosixProfile.SecondaryGids", "has %d IDs; at most %d are allowed", len(p.SecondaryGIDs), MaxSecondaryGIDs)
	}
	return ValidateHome(u)
}
