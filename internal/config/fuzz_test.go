package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse decodes arbitrary config files: Parse must return a config or an *Error whose every
// problem has a line, and a config it accepts must turn into servers, users and penalties without
// failing (the file was validated).
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "/etc/transferd/fuzz.yaml", testOptions)
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("Parse error %T: %v", err, err)
			}
			for _, p := range ce.Problems {
				if p.Line == 0 {
					t.Fatalf("problem without a line: %+v", p)
				}
			}
			return
		}
		c.Account()
		c.Penalties.Settings()
		for i := range c.Servers {
			s := &c.Servers[i]
			s.TransferServer()
			for j := range s.Users {
				if _, err := s.Users[j].TransferUser("s-0123456789abcdef0"); err != nil && len(s.Users[j].SSHPublicKeyFiles) == 0 {
					t.Fatalf("a validated user does not convert: %v", err)
				}
			}
		}
	})
}
