package identity

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/transferd/transferd/internal/iampolicy"
	"github.com/transferd/transferd/internal/transfer"
)

// answer is a provider's response, with Transfer Family's member names.
type answer struct {
	Role                 *string      `json:"Role"`
	Policy               *string      `json:"Policy"`
	HomeDirectoryType    *string      `json:"HomeDirectoryType"`
	HomeDirectory        *string      `json:"HomeDirectory"`
	HomeDirectoryDetails *string      `json:"HomeDirectoryDetails"`
	PublicKeys           []string     `json:"PublicKeys"`
	PosixProfile         *posixAnswer `json:"PosixProfile"`
}

type posixAnswer struct {
	UID           *int64  `json:"Uid"`
	GID           *int64  `json:"Gid"`
	SecondaryGIDs []int64 `json:"SecondaryGids"`
}

type mappingAnswer struct {
	Entry  *string `json:"Entry"`
	Target *string `json:"Target"`
	Type   *string `json:"Type"`
}

// parseAnswer reads a provider's answer to q and builds the user it describes, checked as
// CreateUser checks the same fields, plus what Transfer Family asks of providers: a Role always,
// public keys for a key login, a POSIX profile on EFS-domain servers.
func parseAnswer(srv *transfer.Server, q Query, body []byte) (*transfer.User, error) {
	refuse := func(format string, args ...any) error { return fail(Refused, Call{}, format, args...) }
	bad := func(format string, args ...any) error { return fail(BadResponse, Call{}, format, args...) }
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, refuse("the answer is empty")
	}
	var a answer
	if err := json.Unmarshal(trimmed, &a); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return nil, bad("%s must be %s, not a JSON %s", te.Field, jsonKind(te.Type.String()), te.Value)
		}
		return nil, bad("not a JSON object: %v", err)
	}
	if a.Role == nil || *a.Role == "" {
		return nil, refuse("the answer has no Role")
	}
	u := &transfer.User{
		ServerID:          srv.ServerID,
		UserName:          q.UserName,
		Role:              *a.Role,
		HomeDirectoryType: transfer.HomePath,
		HomeDirectory:     deref(a.HomeDirectory),
		Policy:            deref(a.Policy),
	}
	if a.HomeDirectoryType != nil && *a.HomeDirectoryType != "" {
		u.HomeDirectoryType = *a.HomeDirectoryType
	}
	if d := deref(a.HomeDirectoryDetails); strings.TrimSpace(d) != "" {
		var ms []mappingAnswer
		if err := json.Unmarshal([]byte(d), &ms); err != nil {
			return nil, bad("HomeDirectoryDetails must be a JSON string holding a list of {\"Entry\", \"Target\"} mappings: %v", err)
		}
		for i, m := range ms {
			if m.Entry == nil || m.Target == nil {
				return nil, bad("HomeDirectoryDetails[%d] needs an Entry and a Target", i)
			}
			typ := transfer.MappingDirectory
			if m.Type != nil && *m.Type != "" {
				typ = *m.Type
			}
			u.HomeDirectoryMappings = append(u.HomeDirectoryMappings, transfer.Mapping{Entry: *m.Entry, Target: *m.Target, Type: typ})
		}
	}
	if p := a.PosixProfile; p != nil {
		if p.UID == nil || p.GID == nil {
			return nil, bad("PosixProfile needs a Uid and a Gid")
		}
		ids := append([]int64{*p.UID, *p.GID}, p.SecondaryGIDs...)
		for _, id := range ids {
			if id < 0 || id > math.MaxUint32 {
				return nil, bad("PosixProfile: %d is not a POSIX ID (0 to 4294967295)", id)
			}
		}
		u.PosixProfile = &transfer.PosixProfile{UID: uint32(*p.UID), GID: uint32(*p.GID)}
		for _, g := range p.SecondaryGIDs {
			u.PosixProfile.SecondaryGIDs = append(u.PosixProfile.SecondaryGIDs, uint32(g))
		}
	}
	if err := transfer.ValidateUser(u); err != nil {
		return nil, bad("%v", err)
	}
	if err := iampolicy.CheckUser(u); err != nil {
		return nil, bad("%v", err)
	}
	if err := transfer.ValidateUserOnServer(u, srv); err != nil {
		return nil, bad("%v", err)
	}
	if srv.Domain == transfer.DomainEFS && u.PosixProfile == nil {
		return nil, bad("PosixProfile is required for users of an EFS-domain server")
	}
	if !q.HasPassword {
		if len(a.PublicKeys) == 0 {
			return nil, refuse("the answer has no PublicKeys, and this is a key login")
		}
		if len(a.PublicKeys) > transfer.MaxKeysPerUser {
			return nil, bad("PublicKeys has %d keys; at most %d are allowed", len(a.PublicKeys), transfer.MaxKeysPerUser)
		}
		for i, body := range a.PublicKeys {
			k, _, err := transfer.ParseSSHPublicKey(fmt.Sprintf("PublicKeys[%d]", i), body)
			if err != nil {
				return nil, bad("%v", err)
			}
			u.SSHPublicKeys = append(u.SSHPublicKeys, k)
		}
	}
	return u, nil
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// jsonKind names a Go type of the answer as JSON calls it.
func jsonKind(goType string) string {
	switch {
	case strings.HasPrefix(goType, "*string"), goType == "string":
		return "a string"
	case strings.Contains(goType, "[]"):
		return "a list"
	case strings.Contains(goType, "int"):
		return "a whole number"
	}
	return "an object"
}
