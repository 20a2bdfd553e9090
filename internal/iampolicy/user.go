package iampolicy

import (
	"strings"

	"github.com/transferd/transferd/internal/transfer"
)

// UserVars returns the values of the session-policy variables for a user: the user name always;
// for a PATH user with a home directory, also the home directory without its leading slash
// (HomeDirectory, e.g. bucket/home/alice), its bucket (HomeBucket) and the rest (HomeFolder, e.g.
// home/alice). Transfer Family does not support the home variables with LOGICAL home
// directories, and there is none for a PATH user without a home directory; they are absent then.
func UserVars(u *transfer.User) Vars {
	v := Vars{VarUserName: u.UserName}
	if u.HomeDirectoryType != transfer.HomePath || u.HomeDirectory == "" {
		return v
	}
	home := strings.TrimPrefix(transfer.ExpandTarget(u.HomeDirectory, u.UserName), "/")
	v[VarHomeDirectory] = home
	bucket, folder, _ := strings.Cut(home, "/")
	v[VarHomeBucket] = bucket
	v[VarHomeFolder] = folder
	return v
}

// CheckUser checks a user's session policy as CreateUser and UpdateUser accept it: a policy this
// package can evaluate, whose variables the user's home directory supplies. An empty policy is
// fine. The error is a transfer.Invalid about the field Policy.
func CheckUser(u *transfer.User) error {
	if strings.TrimSpace(u.Policy) == "" {
		return nil
	}
	_, err := ForUser(u)
	return err
}

// ForUser parses and binds a user's session policy; nil when the user has none.
func ForUser(u *transfer.User) (*Bound, error) {
	if strings.TrimSpace(u.Policy) == "" {
		return nil, nil
	}
	p, err := Parse(u.Policy)
	if err != nil {
		return nil, transfer.Invalid("Policy", "%v", err)
	}
	vars := UserVars(u)
	for _, name := range p.Variables() {
		if _, ok := vars[name]; ok {
			continue
		}
		if u.HomeDirectoryType == transfer.HomeLogical {
			return nil, transfer.Invalid("Policy", "${%s} cannot be used with a LOGICAL home directory (as in Transfer Family); use ${transfer:UserName} or the mapping targets", name)
		}
		return nil, transfer.Invalid("Policy", "${%s} needs a HomeDirectory, and the user has none", name)
	}
	b, err := p.Bind(vars)
	if err != nil {
		return nil, transfer.Invalid("Policy", "%v", err)
	}
	return b, nil
}
