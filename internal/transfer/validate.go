package transfer

import (
	"fmt"
	"net/url"
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
	if !validRole(role) {
		return Invalid("Role", "%q is not an IAM role ARN (arn:...:role/NAME, 20 to 2048 characters)", role)
	}
	return nil
}

// validRole reports whether role has an IAM role ARN's shape, as the model's Role limits it.
func validRole(role string) bool {
	return len(role) >= MinRoleLength && len(role) <= MaxRoleLength && rolePattern.MatchString(role)
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

// ValidateUserOnServer checks what a user may have on its server: a session policy only on
// S3-domain servers, a POSIX profile only on EFS-domain ones (each is the other domain's way of
// confining users, and would be ignored there), as Transfer Family documents them.
func ValidateUserOnServer(u *User, srv *Server) error {
	switch {
	case srv.Domain == DomainEFS && strings.TrimSpace(u.Policy) != "":
		return Invalid("Policy", "session policies apply to S3-domain servers; server %s has Domain EFS, where the user's PosixProfile decides access", srv.ServerID)
	case srv.Domain != DomainEFS && u.PosixProfile != nil:
		return Invalid("PosixProfile", "POSIX profiles apply to EFS-domain servers; server %s has Domain %s, where a session Policy confines the user", srv.ServerID, srv.Domain)
	}
	return nil
}

// Limits of IdentityProviderDetails from the Transfer Family API model.
const (
	MaxIdentityURLLength      = 255
	MaxFunctionLength         = 170
	identityDetailsField      = "IdentityProviderDetails"
	identityProviderTypeField = "IdentityProviderType"
)

var functionPattern = regexp.MustCompile(`^arn:[a-z-]+:lambda:.*$`)

// ValidateIdentityProvider checks an identity provider type with its details and fills in the
// default SftpAuthenticationMethods of a custom provider: SERVICE_MANAGED takes no details;
// API_GATEWAY needs an http(s) Url and may have an InvocationRole; AWS_LAMBDA needs a Function
// ARN; AWS_DIRECTORY_SERVICE is not offered.
func ValidateIdentityProvider(typ string, d *IdentityProviderDetails) error {
	field := func(name string) string { return identityDetailsField + "." + name }
	switch typ {
	case IdentityServiceManaged:
		if !d.IsZero() {
			return Invalid(identityDetailsField, "must be empty with IdentityProviderType SERVICE_MANAGED (users and their keys are kept by transferd)")
		}
		return nil
	case IdentityAPIGateway:
		if d.URL == "" {
			return Invalid(field("Url"), "is required with IdentityProviderType API_GATEWAY")
		}
		if len(d.URL) > MaxIdentityURLLength {
			return Invalid(field("Url"), "is %d characters long; at most %d are allowed", len(d.URL), MaxIdentityURLLength)
		}
		u, err := url.Parse(d.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return Invalid(field("Url"), "%q must be an http:// or https:// URL without a query or fragment", d.URL)
		}
		if d.InvocationRole != "" {
			if err := ValidateRole(d.InvocationRole); err != nil {
				return Invalid(field("InvocationRole"), "%q is not an IAM role ARN (arn:...:role/NAME, 20 to 2048 characters)", d.InvocationRole)
			}
		}
		if d.Function != "" {
			return Invalid(field("Function"), "is for IdentityProviderType AWS_LAMBDA, not API_GATEWAY")
		}
	case IdentityLambda:
		if d.Function == "" {
			return Invalid(field("Function"), "is required with IdentityProviderType AWS_LAMBDA")
		}
		if len(d.Function) > MaxFunctionLength || !functionPattern.MatchString(d.Function) {
			return Invalid(field("Function"), "%q is not a Lambda function ARN (arn:aws:lambda:REGION:ACCOUNT:function:NAME, at most %d characters)", d.Function, MaxFunctionLength)
		}
		if d.URL != "" || d.InvocationRole != "" {
			return Invalid(identityDetailsField, "Url and InvocationRole are for IdentityProviderType API_GATEWAY, not AWS_LAMBDA")
		}
	case IdentityDirectoryService:
		return Invalid(identityProviderTypeField, "AWS_DIRECTORY_SERVICE (AWS Managed Microsoft AD) is not supported by transferd; use SERVICE_MANAGED, API_GATEWAY or AWS_LAMBDA")
	default:
		return Invalid(identityProviderTypeField, "%q must be SERVICE_MANAGED, API_GATEWAY or AWS_LAMBDA", typ)
	}
	switch d.SftpAuthenticationMethods {
	case "":
		d.SftpAuthenticationMethods = AuthPublicKeyOrPassword
	case AuthPassword, AuthPublicKey, AuthPublicKeyOrPassword, AuthPublicKeyAndPassword:
	default:
		return Invalid(field("SftpAuthenticationMethods"), "%q must be PASSWORD, PUBLIC_KEY, PUBLIC_KEY_OR_PASSWORD or PUBLIC_KEY_AND_PASSWORD", d.SftpAuthenticationMethods)
	}
	return nil
}
