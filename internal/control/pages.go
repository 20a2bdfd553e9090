package control

import (
	"encoding/base64"
	"strings"

	"github.com/transferd/transferd/internal/transfer"
)

// Page sizes, as Transfer Family's MaxResults allows them.
const (
	defaultMaxResults = 1000
	maxMaxResults     = 1000
	// maxTokenLength is the longest NextToken the API model allows.
	maxTokenLength = 6144
)

// pageSize checks a page's MaxResults and returns the page size it asks for.
func pageSize(p Page) (int, error) {
	switch {
	case p.MaxResults == 0:
		return defaultMaxResults, nil
	case p.MaxResults < 1 || p.MaxResults > maxMaxResults:
		return 0, transfer.Invalid("MaxResults", "%d must be from 1 to %d", p.MaxResults, maxMaxResults)
	}
	return p.MaxResults, nil
}

// A token is base64url of the list it belongs to, a newline and the cursor: the key of the last
// entry returned. The list names the operation and, for lists inside a resource, that resource,
// so a token handed out by one list is refused by every other.
const tokenSeparator = "\n"

// Lists that hand out tokens.
func serversList() string                 { return "servers" }
func usersList(serverID string) string    { return "users " + serverID }
func hostKeysList(serverID string) string { return "host-keys " + serverID }
func policiesList() string                { return "security-policies" }
func tagsList(arn string) string          { return "tags " + arn }
func workflowsList() string               { return "workflows" }

// UsersAfter is the NextToken with which ListUsers lists serverID's users after the one named
// name: the console's pages start where the previous one ended.
func UsersAfter(serverID, name string) string { return nextToken(usersList(serverID), name) }

// nextToken returns the token that continues list after cursor.
func nextToken(list, cursor string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(list + tokenSeparator + cursor))
}

// pageCursor returns the cursor a page's NextToken holds for list: "" for the first page. A token
// that does not decode or belongs to another list is a KindInvalidToken error.
func pageCursor(p Page, list string) (string, error) {
	if p.NextToken == "" {
		return "", nil
	}
	if len(p.NextToken) > maxTokenLength {
		return "", errInvalidToken()
	}
	b, err := base64.RawURLEncoding.DecodeString(p.NextToken)
	if err != nil {
		return "", errInvalidToken()
	}
	cursor, ok := strings.CutPrefix(string(b), list+tokenSeparator)
	if !ok || cursor == "" {
		return "", errInvalidToken()
	}
	return cursor, nil
}

// errInvalidToken is the error for a NextToken this list did not hand out.
func errInvalidToken() error {
	return &transfer.Error{Kind: transfer.KindInvalidToken, Message: "Invalid NextToken"}
}
