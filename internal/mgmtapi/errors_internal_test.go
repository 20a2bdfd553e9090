package mgmtapi

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/transferd/transferd/internal/transfer"
)

func TestToAPIError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		err      error
		wantBody string
		status   int
	}{
		{"not found", fmt.Errorf("describe server: %w", transfer.NotFound("Server", "s-0123456789abcdef0", "Unknown server")),
			`{"__type":"ResourceNotFoundException","Message":"Unknown server","Resource":"s-0123456789abcdef0","ResourceType":"Server"}`, 400},
		{"exists", transfer.Exists("User", "bob", "User already exists"),
			`{"__type":"ResourceExistsException","Message":"User already exists","Resource":"bob","ResourceType":"User"}`, 400},
		{"invalid", transfer.Invalid("HomeDirectory", "%q must start with /", "x"),
			`{"__type":"InvalidRequestException","Message":"HomeDirectory: \"x\" must start with /"}`, 400},
		{"not supported", &transfer.Error{Kind: transfer.KindNotSupported, Field: "Protocols", Message: "FTP is not supported"},
			`{"__type":"InvalidRequestException","Message":"Protocols: FTP is not supported"}`, 400},
		{"permission", &transfer.Error{Kind: transfer.KindPermission, Field: "Role", Message: "may not be changed"},
			`{"__type":"InvalidRequestException","Message":"Role: may not be changed"}`, 400},
		{"conflict", transfer.Conflict("Server", "s-0123456789abcdef0", "Server is starting"),
			`{"__type":"ConflictException","Message":"Server is starting"}`, 400},
		{"invalid token", &transfer.Error{Kind: transfer.KindInvalidToken, Message: "Invalid NextToken"},
			`{"__type":"InvalidNextTokenException","Message":"Invalid NextToken"}`, 400},
		{"internal kind", &transfer.Error{Kind: transfer.KindInternal, Message: "disk full"},
			`{"__type":"InternalServiceError","Message":"` + msgInternal + `"}`, 500},
		{"plain error", errors.New("database is locked"),
			`{"__type":"InternalServiceError","Message":"` + msgInternal + `"}`, 500},
		{"unknown kind", &transfer.Error{Kind: transfer.Kind(99), Message: "new"},
			`{"__type":"InternalServiceError","Message":"` + msgInternal + `"}`, 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ae := toAPIError(tt.err)
			if got := string(ae.body()); got != tt.wantBody || ae.status != tt.status {
				t.Errorf("toAPIError(%v) = %d %s\nwant %d %s", tt.err, ae.status, got, tt.status, tt.wantBody)
			}
			if (ae.status == 500) != (ae.cause != nil) {
				t.Errorf("cause %v for status %d: only internal errors keep theirs for the log", ae.cause, ae.status)
			}
		})
	}
}

func TestEpochSeconds(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		t    time.Time
		want string
	}{
		{time.Unix(1648744072, 614_000_000), "1648744072.614"},
		{time.Unix(1648744072, 0), "1648744072"},
		{time.Unix(1648744072, 5_900_000), "1648744072.005"},
		{time.Unix(-1, 500_000_000), "-0.500"},
	} {
		got, err := epochSeconds(tt.t).MarshalJSON()
		if err != nil || string(got) != tt.want {
			t.Errorf("epochSeconds(%v) = %s, %v; want %s", tt.t, got, err, tt.want)
		}
	}
}
