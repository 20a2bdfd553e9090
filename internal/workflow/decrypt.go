package workflow

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"

	"github.com/transferd/transferd/internal/storage"
	"github.com/transferd/transferd/internal/transfer"
)

// pgpSecret is a DECRYPT step's key, as Transfer Family keeps it in Secrets Manager.
type pgpSecret struct {
	PGPPrivateKey string
	PGPPassphrase string
}

// decrypt decrypts an OpenPGP file (armored or binary) into to, streaming, with the key of the
// user's secret (aws/transfer/SERVER/USER) or the server's default (.../@pgp-default). A file
// that does not decrypt whole (a wrong key, a failed integrity check) leaves nothing written.
func (r *runner) decrypt(ctx context.Context, in, to transfer.FileRef, overwrite bool) error {
	if in.Bucket == to.Bucket && in.Key == to.Key {
		return failed(transfer.ErrBadRequest, "the destination /%s/%s is the file being decrypted", to.Bucket, to.Key)
	}
	keys, err := r.pgpKeys()
	if err != nil {
		return err
	}
	rd, err := r.backend.OpenRead(ctx, storage.Location{Bucket: in.Bucket, Key: in.Key})
	if err != nil {
		return err
	}
	defer rd.Close()
	src := &sourceReader{r: io.NewSectionReader(rd, 0, 1<<62)}
	body, err := plaintext(src, keys)
	if err != nil {
		return err
	}
	var pe *plaintextError
	if err := r.write(ctx, to, overwrite, &plaintextReader{r: body, src: src}); errors.As(err, &pe) {
		return failed(transfer.ErrBadRequest, "/%s/%s does not decrypt: %v", in.Bucket, in.Key, pe.err)
	} else if err != nil {
		return err
	}
	return nil
}

// sourceReader reads the encrypted file and remembers a read error of storage, which then is
// not the message's fault.
type sourceReader struct {
	r   io.Reader
	err error
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}

// plaintextReader reads the decrypted contents; an error that is not storage's is the message's
// (a failed integrity check, a truncated message).
type plaintextReader struct {
	r   io.Reader
	src *sourceReader
}

type plaintextError struct{ err error }

func (e *plaintextError) Error() string { return e.err.Error() }

func (p *plaintextReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if err != nil && err != io.EOF && p.src.err == nil {
		return n, &plaintextError{err}
	}
	return n, err
}

// plaintext opens an OpenPGP message, armored or binary, and returns its decrypted contents;
// reading them checks the message's integrity as it ends.
func plaintext(r io.Reader, keys openpgp.EntityList) (io.Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(64)
	var msg io.Reader = br
	if bytes.HasPrefix(bytes.TrimSpace(head), []byte("-----BEGIN PGP MESSAGE-----")) {
		block, err := armor.Decode(br)
		if err != nil {
			return nil, failed(transfer.ErrBadRequest, "the file is not an OpenPGP message: %v", err)
		}
		msg = block.Body
	}
	md, err := openpgp.ReadMessage(msg, keys, nil, nil)
	switch {
	case errors.Is(err, pgperrors.ErrKeyIncorrect):
		return nil, failed(transfer.ErrBadRequest, "the file is not encrypted to the PGP key of the secret")
	case err != nil:
		return nil, failed(transfer.ErrBadRequest, "the file is not an OpenPGP message this key decrypts: %v", err)
	}
	return md.UnverifiedBody, nil
}

// pgpKeys reads the user's PGP key secret, or the server's default one, and unlocks its keys
// with the passphrase.
func (r *runner) pgpKeys() (openpgp.EntityList, error) {
	if r.e.opts.Secret == nil {
		return nil, failed(transfer.ErrBadRequest, "no secrets are configured (Secrets.Directory) to hold the PGP key")
	}
	names := []string{"aws/transfer/" + r.x.ServerId + "/" + r.x.UserName, "aws/transfer/" + r.x.ServerId + "/@pgp-default"}
	var data []byte
	var err error
	for _, n := range names {
		if data, err = r.e.opts.Secret(n); err == nil || !errors.Is(err, fs.ErrNotExist) {
			break
		}
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, failed(transfer.ErrNotFound, "no PGP key: neither secret %s nor %s exists", names[0], names[1])
	}
	if err != nil {
		return nil, failed(transfer.ErrPermissionDenied, "the PGP key's secret cannot be read: %v", err)
	}
	var sec pgpSecret
	if err := json.Unmarshal(data, &sec); err != nil || sec.PGPPrivateKey == "" {
		return nil, failed(transfer.ErrBadRequest, "the PGP key's secret is not JSON with PGPPrivateKey (and PGPPassphrase)")
	}
	keys, err := openpgp.ReadArmoredKeyRing(bytes.NewReader([]byte(sec.PGPPrivateKey)))
	if err != nil {
		return nil, failed(transfer.ErrBadRequest, "the secret's PGPPrivateKey is not an armored OpenPGP key: %v", err)
	}
	unlock := func(k interface {
		Decrypt([]byte) error
	}, encrypted bool) error {
		if !encrypted {
			return nil
		}
		return k.Decrypt([]byte(sec.PGPPassphrase))
	}
	for _, e := range keys {
		if e.PrivateKey == nil {
			return nil, failed(transfer.ErrBadRequest, "the secret's PGPPrivateKey holds a public key only")
		}
		if err := unlock(e.PrivateKey, e.PrivateKey.Encrypted); err != nil {
			return nil, failed(transfer.ErrBadRequest, "the secret's PGPPassphrase does not unlock its key: %v", err)
		}
		for _, sk := range e.Subkeys {
			if sk.PrivateKey != nil {
				if err := unlock(sk.PrivateKey, sk.PrivateKey.Encrypted); err != nil {
					return nil, failed(transfer.ErrBadRequest, "the secret's PGPPassphrase does not unlock its subkey: %v", err)
				}
			}
		}
	}
	return keys, nil
}
