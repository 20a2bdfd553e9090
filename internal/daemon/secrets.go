package daemon

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"
)

// readSecret reads the secret name from the Secrets directory (config Secrets.Directory), which
// stands in for AWS Secrets Manager: the file DIR/NAME. The file must be a regular file owned
// by the user transferd runs as, and give its group and others nothing; it is read through an
// os.Root, so no name or symlink leads out of the directory. fs.ErrNotExist when there is no such
// secret.
func (d *Daemon) readSecret(name string) ([]byte, error) {
	dir, _ := d.secretsDir.Load().(string)
	if dir == "" {
		return nil, fmt.Errorf("secret %s: no Secrets.Directory is configured: %w", name, fs.ErrNotExist)
	}
	if name == "" || strings.HasPrefix(name, "/") || path.Clean(name) != name {
		return nil, fmt.Errorf("secret %q: not a secret name", name)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("Secrets.Directory: %w", err)
	}
	defer root.Close()
	f, err := root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0) // a FIFO would block

	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", name, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	switch {
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("secret %s (%s): not a regular file", name, path.Join(dir, name))
	case fi.Mode().Perm()&0o077 != 0:
		return nil, fmt.Errorf("secret %s (%s): mode %04o lets others read it; chmod 600 it", name, path.Join(dir, name), fi.Mode().Perm())
	case !ownedByMe(fi):
		return nil, fmt.Errorf("secret %s (%s): not owned by the user transferd runs as", name, path.Join(dir, name))
	}
	b, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return nil, err
	}
	if len(b) == 1<<20 {
		return nil, errors.New("secret " + name + ": larger than 1 MiB")
	}
	return b, nil
}
