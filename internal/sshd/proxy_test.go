package sshd

import "testing"

func TestProxyHeaderStart(t *testing.T) {
	tests := []struct {
		first          string
		match, decided bool
	}{
		{"SSH-2.0-OpenSSH_9.2\r\n", false, true},
		{"S", false, true},
		{"P", false, false},
		{"PROX", false, false},
		{"PROXY ", true, true},
		{"PROXY TCP4 1.2.3.4", true, true},
		{"PROXYX", false, true},
		{"\r\n", false, false},
		{"\r\n\r\n\x00\r\nQUI", false, false},
		{"\r\n\r\n\x00\r\nQUIT\n", true, true},
		{"\r\n\r\n\x00\r\nQUIT!", false, true},
		{"\r\nSSH-2.0", false, true},
	}
	for _, tt := range tests {
		if match, decided := proxyHeaderStart([]byte(tt.first)); match != tt.match || decided != tt.decided {
			t.Errorf("proxyHeaderStart(%q) = %v, %v; want %v, %v", tt.first, match, decided, tt.match, tt.decided)
		}
	}
}
