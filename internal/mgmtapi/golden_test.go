package mgmtapi_test

import (
	"bytes"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestGolden checks raw wire answers, status line, protocol headers and body, against
// testdata/*.golden. go test -run TestGolden -update rewrites them.
func TestGolden(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tests := []struct {
		name string
		send func() response
	}{
		{"describe-security-policy", func() response {
			return e.call("DescribeSecurityPolicy", `{"SecurityPolicyName":"TransferSecurityPolicy-2024-01"}`)
		}},
		{"list-servers-empty", func() response { return e.call("ListServers", `{}`) }},
		{"resource-not-found", func() response {
			return e.call("DescribeServer", `{"ServerId":"s-0123456789abcdef0"}`)
		}},
		{"invalid-request", func() response {
			return e.call("CreateUser", `{"ServerId":"s-0123456789abcdef0","UserName":"carol"}`)
		}},
		{"missing-authentication-token", func() response {
			return e.do(e.rawRequest("ListServers", `{}`))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := tt.send()
			var got bytes.Buffer
			fmt.Fprintf(&got, "HTTP %d %s\n", resp.status, http.StatusText(resp.status))
			for _, h := range []string{"Content-Type", "X-Amzn-ErrorType"} {
				if v := resp.header.Get(h); v != "" {
					fmt.Fprintf(&got, "%s: %s\n", h, v)
				}
			}
			fmt.Fprintf(&got, "\n%s\n", resp.body)

			path := filepath.Join("testdata", tt.name+".golden")
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -run TestGolden -update to create it)", err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("%s differs:\ngot:\n%s\nwant:\n%s", path, got.Bytes(), want)
			}
		})
	}
}
