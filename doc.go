// Package transferd is the root of the transferd module: a self-hostable equivalent of the SFTP
// side of AWS Transfer Family. The command is in cmd/transferd and the packages in internal/; the
// tests in this folder check that every package says what it owns and imports only what the
// layout allows.
package transferd
