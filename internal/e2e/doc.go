// Package e2e tests the built transferd binary end to end with real clients: OpenSSH sftp/ssh and pkg/sftp, on loopback.
//
// The package has no code of its own: TestMain builds cmd/transferd once, and every test starts
// real transferd processes on 127.0.0.1 and drives them with the OpenSSH client (installed by
// scripts/test) and with pkg/sftp over golang.org/x/crypto/ssh.
package e2e
