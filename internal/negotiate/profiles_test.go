package negotiate

import (
	"slices"
	"strings"
	"testing"
)

func TestProfiles(t *testing.T) {
	ps, err := NewProfiles()
	if err != nil {
		t.Fatal(err)
	}
	// The families the issue names, by ID.
	for _, id := range []string{"openssh-8.7", "openssh-9.2", "openssh-9.2-debian12", "openssh-10.0", "openssh-10.5", "rhel9-default", "rhel9-fips",
		"putty-0.84", "winscp-6.5", "filezilla-3", "paramiko-3.5", "go-xcrypto-0.55"} {
		p, err := ps.Lookup(id)
		if err != nil {
			t.Errorf("Lookup(%q): %v", id, err)
			continue
		}
		o := p.Offer()
		if !slices.Equal(WithoutMarkers(o.KexAlgorithms), p.KexAlgorithms) || !slices.Contains(o.KexAlgorithms, "ext-info-c") {
			t.Errorf("%s: offer's key exchanges %q, want %q and its markers", id, o.KexAlgorithms, p.KexAlgorithms)
		}
		if !slices.Contains(o.CompressionAlgorithmsClientToServer, "none") {
			t.Errorf("%s: compression %q lacks none", id, o.CompressionAlgorithmsClientToServer)
		}
		if !strings.Contains(p.Source, "commit") && !strings.Contains(p.Source, "Recorded") && !strings.Contains(p.Source, "Not read") {
			t.Errorf("%s: source %q names no commit or recording", id, p.Source)
		}
	}
	if _, err := ps.Lookup("openssh-9.3"); err == nil || !strings.Contains(err.Error(), `did you mean "openssh-9.`) {
		t.Errorf("Lookup(openssh-9.3): %v, want a suggestion", err)
	}
	if _, err := ps.Lookup("mosh"); err == nil || strings.Contains(err.Error(), "did you mean") {
		t.Errorf("Lookup(mosh): %v, want an error without a suggestion", err)
	}
}

func TestProfileForClient(t *testing.T) {
	ps, err := NewProfiles()
	if err != nil {
		t.Fatal(err)
	}
	for version, want := range map[string]string{
		"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3":   "openssh-9.2-debian12",
		"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10":  "openssh-9.2-debian12",
		"SSH-2.0-OpenSSH_9.2":                      "openssh-9.2",
		"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13.5": "openssh-9.6",
		"SSH-2.0-OpenSSH_8.7":                      "openssh-8.7",
		"SSH-2.0-OpenSSH_10.0p2 Debian-5":          "openssh-10.0",
		"SSH-2.0-PuTTY_Release_0.83":               "putty-0.84",
		"SSH-2.0-WinSCP_release_6.5.3":             "winscp-6.5",
		"SSH-2.0-FileZilla_3.69.1":                 "filezilla-3",
		"SSH-2.0-paramiko_3.5.1":                   "paramiko-3.5",
		"SSH-2.0-Go":                               "go-xcrypto-0.55",
		"SSH-2.0-OpenSSH_9.22":                     "",
		"SSH-2.0-OpenSSH_7.4":                      "",
		"SSH-2.0-libssh_0.10.6":                    "",
	} {
		got := ""
		if p := ps.ForClient(version); p != nil {
			got = p.ID
		}
		if got != want {
			t.Errorf("ForClient(%q) = %q, want %q", version, got, want)
		}
	}
}

func TestParseProfilesRejects(t *testing.T) {
	for _, tc := range []struct{ name, input, want string }{
		{"empty", `[]`, "no profiles"},
		{"unknown field", `[{"id":"a-1","colour":"red"}]`, "unknown field"},
		{"bad id", `[{"id":"OpenSSH"}]`, `id "OpenSSH"`},
		{"no source", `[{"id":"a-1","name":"A"}]`, "name and source are required"},
		{"empty list", `[{"id":"a-1","name":"A","source":"s","kex-algorithms":["x"]}]`, "host-key-algorithms is empty"},
		{"bad marker", `[{"id":"a-1","name":"A","source":"s","kex-algorithms":["x"],"host-key-algorithms":["x"],"ciphers":["x"],"macs":["x"],"compression":["none"],"kex-markers":["x"]}]`, "not a marker"},
		{"bad regexp", `[{"id":"a-1","name":"A","source":"s","kex-algorithms":["x"],"host-key-algorithms":["x"],"ciphers":["x"],"macs":["x"],"compression":["none"],"client-version":"("}]`, "client-version"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseProfiles([]byte(tc.input))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("parseProfiles(%s): %v, want an error containing %q", tc.input, err, tc.want)
			}
		})
	}
}
