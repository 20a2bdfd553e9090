package s3store

import (
	"cmp"
	"context"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/transferd/transferd/internal/storage"
)

// Attributes kept in an object's user metadata, for servers whose SetStatOption is
// STORE_METADATA. The names and formats are rclone's, so that each tool reads the other's times.
const (
	// metaMtime (x-amz-meta-mtime) is the modification time in seconds since the epoch, in
	// fixed-point decimal: "1700000000" or "1700000000.25".
	metaMtime = "mtime"
	// metaMode (x-amz-meta-mode) is the POSIX st_mode in octal: "100644", or "40755" on a
	// directory's marker.
	metaMode = "mode"
)

const msgNoAttrs = "S3 objects have no POSIX attributes; a server whose SetStatOption is " +
	"STORE_METADATA keeps times and modes in object metadata, and ENABLE_NO_OP ignores such requests"

// headsInFlight bounds the HeadObject requests a listing page makes at once under StoredAttrs.
const headsInFlight = 16

// StoredAttrs returns the store as servers whose SetStatOption is STORE_METADATA see it:
// SETSTAT of a file's modification time or mode copies the object onto itself with them in its
// user metadata (one CopyObject; an upload still open gets them with its data instead), a
// directory keeps them on its marker, and STAT and listings show them. A listing then costs
// one HeadObject per entry, made headsInFlight at a time. Owners are refused, and so are sizes
// other than the object's own (S3 cannot truncate or extend an object). Access times are not
// kept: SFTP version 3 shows the modification time for both.
func (s *Store) StoredAttrs() storage.Backend { return storedAttrs{s} }

type storedAttrs struct{ *Store }

func (a storedAttrs) Stat(ctx context.Context, loc storage.Location) (fs.FileInfo, error) {
	return a.stat(ctx, loc, true)
}

func (a storedAttrs) List(ctx context.Context, loc storage.Location) (storage.Lister, error) {
	return a.list(ctx, loc, true)
}

func (a storedAttrs) OpenWrite(ctx context.Context, loc storage.Location, flags storage.OpenFlags) (storage.WriteHandle, error) {
	return a.openWrite(ctx, loc, flags, true)
}

// SetAttrs keeps attrs' modification time and mode in the metadata of the object at loc, or of
// the directory's marker (made if there was none).
func (a storedAttrs) SetAttrs(ctx context.Context, loc storage.Location, attrs storage.Attrs) error {
	const op = "setstat"
	if err := check(op, loc); err != nil {
		return err
	}
	if loc.Key == "" {
		return storage.Errorf(op, loc, storage.KindPermission, "buckets have no attributes to change", nil)
	}
	if attrs.UID != nil || attrs.GID != nil {
		return storage.Errorf(op, loc, storage.KindNotSupported, "S3 objects have no POSIX owner", nil)
	}
	obj, err := a.head(ctx, op, loc)
	if err != nil {
		return err
	}
	if obj == nil {
		if dir, err := a.isDir(ctx, op, loc); err != nil {
			return err
		} else if !dir {
			return storage.Errorf(op, loc, storage.KindNotExist, "", nil)
		}
		if attrs.Size != nil {
			return storage.Errorf(op, loc, storage.KindIsDir, "a directory has no size to change", nil)
		}
		return a.setDirAttrs(ctx, loc, attrs)
	}
	if err := checkSize(op, loc, attrs, obj.size); err != nil {
		return err
	}
	if attrs.Mtime == nil && attrs.Mode == nil {
		return nil
	}
	return a.copyObject(ctx, op, loc, loc, obj, withAttrs(obj.head.Metadata, attrs, false))
}

// setDirAttrs writes the directory's marker with attrs in its metadata.
func (a storedAttrs) setDirAttrs(ctx context.Context, loc storage.Location, attrs storage.Attrs) error {
	const op = "setstat"
	if attrs.Mtime == nil && attrs.Mode == nil {
		return nil
	}
	marker := storage.Location{Bucket: loc.Bucket, Key: loc.Key + "/"}
	old, err := a.head(ctx, op, marker)
	if err != nil {
		return err
	}
	var meta map[string]string
	if old != nil {
		meta = old.head.Metadata
	}
	_, err = a.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &marker.Bucket, Key: &marker.Key, ContentLength: aws.Int64(0), Body: strings.NewReader(""),
		Metadata: withAttrs(meta, attrs, true),
	})
	if err != nil {
		return a.fail(op, loc, err)
	}
	return nil
}

// checkSize refuses a size other than the object's: S3 cannot truncate or extend an object.
func checkSize(op string, loc storage.Location, attrs storage.Attrs, size int64) error {
	if attrs.Size != nil && *attrs.Size != size {
		return storage.Errorf(op, loc, storage.KindNotSupported,
			fmt.Sprintf("S3 objects cannot be truncated or extended (size %d asked, the file has %d bytes)", *attrs.Size, size), nil)
	}
	return nil
}

// withAttrs returns a copy of meta with attrs' modification time and mode set.
func withAttrs(meta map[string]string, attrs storage.Attrs, dir bool) map[string]string {
	out := make(map[string]string, len(meta)+2)
	for k, v := range meta {
		out[strings.ToLower(k)] = v
	}
	if attrs.Mtime != nil {
		out[metaMtime] = formatMtime(*attrs.Mtime)
	}
	if attrs.Mode != nil {
		typ := uint32(0o100000)
		if dir {
			typ = 0o40000
		}
		out[metaMode] = strconv.FormatUint(uint64(typ|uint32(attrs.Mode.Perm())), 8)
	}
	return out
}

// formatMtime writes t as rclone does: seconds, then the fraction without trailing zeros.
func formatMtime(t time.Time) string {
	ns := t.UnixNano()
	sign := ""
	if ns < 0 {
		sign, ns = "-", -ns
	}
	sec, frac := ns/1e9, ns%1e9
	if frac == 0 {
		return sign + strconv.FormatInt(sec, 10)
	}
	return sign + strconv.FormatInt(sec, 10) + "." + strings.TrimRight(fmt.Sprintf("%09d", frac), "0")
}

// parseMtime reads what formatMtime (or rclone) wrote.
func parseMtime(v string) (time.Time, bool) {
	v = strings.TrimSpace(v)
	neg := strings.HasPrefix(v, "-")
	v = strings.TrimPrefix(v, "-")
	whole, frac, _ := strings.Cut(v, ".")
	if whole == "" || len(frac) > 18 {
		return time.Time{}, false
	}
	sec, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || sec > 1<<40 {
		return time.Time{}, false
	}
	var ns int64
	if frac != "" {
		digits := (frac + "000000000")[:9]
		if ns, err = strconv.ParseInt(digits, 10, 64); err != nil || strings.Trim(frac, "0123456789") != "" {
			return time.Time{}, false
		}
	}
	if neg {
		sec, ns = -sec, -ns
	}
	return time.Unix(sec, ns), true
}

// metaValue looks name up in metadata, whose keys S3 servers return in any case.
func metaValue(meta map[string]string, name string) (string, bool) {
	if v, ok := meta[name]; ok {
		return v, true
	}
	for k, v := range meta {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return "", false
}

// withStoredAttrs returns fi with the time and mode kept in meta, when there are any; values
// that do not parse are left out.
func withStoredAttrs(fi *fileInfo, meta map[string]string) *fileInfo {
	out := *fi
	if v, ok := metaValue(meta, metaMtime); ok {
		if t, ok := parseMtime(v); ok {
			out.mtime = t
		}
	}
	if v, ok := metaValue(meta, metaMode); ok {
		if m, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32); err == nil {
			out.perm, out.hasPerm = fs.FileMode(m&0o777), true
		}
	}
	return &out
}

// storedDirInfo is fi with what the marker of the directory loc keeps.
func (s *Store) storedDirInfo(ctx context.Context, op string, loc storage.Location, fi *fileInfo) (*fileInfo, error) {
	marker, err := s.head(ctx, op, storage.Location{Bucket: loc.Bucket, Key: loc.Key + "/"})
	if err != nil || marker == nil {
		return fi, err
	}
	return withStoredAttrs(fi, marker.head.Metadata), nil
}

// storedInfos replaces the entries of a listing page of the directory prefix in bucket with what
// their metadata keeps, headsInFlight HeadObject requests at a time. An entry gone meanwhile
// keeps what the listing said.
func (s *Store) storedInfos(ctx context.Context, bucket, prefix string, page []fs.FileInfo) error {
	var (
		wg     sync.WaitGroup
		sem    = make(chan struct{}, headsInFlight)
		mu     sync.Mutex
		failed error
	)
	for i, e := range page {
		fi, ok := e.(*fileInfo)
		if !ok {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			loc := storage.Location{Bucket: bucket, Key: prefix + fi.name}
			var (
				out *fileInfo
				err error
			)
			if fi.dir {
				out, err = s.storedDirInfo(ctx, "list", loc, fi)
			} else {
				var obj *object
				if obj, err = s.head(ctx, "list", loc); err == nil && obj != nil {
					out = withStoredAttrs(fi, obj.head.Metadata)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				failed = cmp.Or(failed, err)
			case out != nil:
				page[i] = out
			}
		})
	}
	wg.Wait()
	return failed
}
