package sftpd

import (
	"errors"

	"github.com/pkg/sftp"

	"github.com/transferd/transferd/internal/storage"
)

// status is an error pkg/sftp turns into an SSH_FXP_STATUS: its code is found through Unwrap, its
// message is what the client reads. Nothing else of the underlying error (host paths, driver text)
// reaches the client.
type status struct {
	code error
	msg  string
}

func (s *status) Error() string { return s.msg }
func (s *status) Unwrap() error { return s.code }

// The one table from storage kinds to SFTP v3 status codes, following OpenSSH's sftp-server
// (errno_to_portable): ENOENT/ENOTDIR -> NO_SUCH_FILE, EACCES/EPERM -> PERMISSION_DENIED,
// EINVAL/ENAMETOOLONG -> BAD_MESSAGE, ENOSYS -> OP_UNSUPPORTED, the rest -> FAILURE.
var kindStatus = map[storage.Kind]struct {
	code error
	text string
}{
	storage.KindNotExist:     {sftp.ErrSSHFxNoSuchFile, "No such file"},
	storage.KindNotDir:       {sftp.ErrSSHFxNoSuchFile, "Not a directory"},
	storage.KindPermission:   {sftp.ErrSSHFxPermissionDenied, "Permission denied"},
	storage.KindInvalid:      {sftp.ErrSSHFxBadMessage, "Bad message"},
	storage.KindNotSupported: {sftp.ErrSSHFxOpUnsupported, "Operation unsupported"},
	storage.KindExist:        {sftp.ErrSSHFxFailure, "File exists"},
	storage.KindNotEmpty:     {sftp.ErrSSHFxFailure, "Directory not empty"},
	storage.KindIsDir:        {sftp.ErrSSHFxFailure, "Is a directory"},
	storage.KindThrottled:    {sftp.ErrSSHFxFailure, "Storage is busy; try again"},
	storage.KindInternal:     {sftp.ErrSSHFxFailure, "Failure"},
}

// statusError maps err to the status the client receives.
func statusError(err error) error {
	if err == nil {
		return nil
	}
	var st *status
	if errors.As(err, &st) {
		return st
	}
	k := kindStatus[storage.KindOf(err)]
	return &status{code: k.code, msg: clientMessage(err)}
}

// clientMessage is the text a client may see for err: the backend's client-safe message, or the
// kind's standard text.
func clientMessage(err error) string {
	var se *storage.Error
	if errors.As(err, &se) && se.Message != "" {
		return se.Message
	}
	var st *status
	if errors.As(err, &st) {
		return st.msg
	}
	return kindStatus[storage.KindOf(err)].text
}

// unsupported is the status for operations transferd never serves.
func unsupported(msg string) error {
	return &status{code: sftp.ErrSSHFxOpUnsupported, msg: msg}
}

// denied is the status for operations refused on mapping entry points and virtual directories.
func denied(msg string) error {
	return &status{code: sftp.ErrSSHFxPermissionDenied, msg: msg}
}
