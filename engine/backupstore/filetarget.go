package backupstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// tmpPrefix marks files that a Put is still writing. List never returns
// them; they are what a crash mid-Put leaves behind.
const tmpPrefix = ".tmp-"

// fileTarget stores each object as a file under a root directory that must
// already exist: the target never creates its root, so a backup directory
// that disappears (an NFS mount gone, a disk unplugged) reads as
// ErrUnreachable instead of filling the directory below it.
type fileTarget struct {
	loc Location
}

func openFile(loc Location) (Target, error) {
	t := &fileTarget{loc: loc}
	if err := t.checkRoot("open"); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *fileTarget) String() string { return t.loc.String() }

// checkRoot returns ErrUnreachable unless the root is a directory.
func (t *fileTarget) checkRoot(op string) error {
	fi, err := os.Stat(t.loc.Dir)
	if err != nil {
		return t.fail(op, "", ErrUnreachable, err)
	}
	if !fi.IsDir() {
		return t.fail(op, "", ErrUnreachable, fmt.Errorf("%s is not a directory", t.loc.Dir))
	}
	return nil
}

func (t *fileTarget) fail(op, key string, kind, err error) error {
	return &TargetError{Target: t.String(), Op: op, Key: key, Kind: kind, Err: err}
}

// classify maps a filesystem error to a sentinel: a missing file is
// ErrNotFound only while the root is there; EACCES/EPERM/EROFS are
// ErrAccessDenied; anything else is an I/O failure of the target.
func (t *fileTarget) classify(op, key string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if rootErr := t.checkRoot(op); rootErr != nil {
			return rootErr
		}
		return t.fail(op, key, ErrNotFound, err)
	case errors.Is(err, fs.ErrPermission), errors.Is(err, syscall.EROFS):
		return t.fail(op, key, ErrAccessDenied, err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	default:
		return t.fail(op, key, ErrUnreachable, err)
	}
}

// file maps a key to a path below the root, refusing keys that would
// leave it.
func (t *fileTarget) file(key string) (string, error) {
	clean := path.Clean("/" + key)
	if key == "" || clean != "/"+key || strings.HasPrefix(path.Base(key), tmpPrefix) {
		return "", t.fail("key", key, ErrNotFound, fmt.Errorf("invalid object key"))
	}
	return filepath.Join(t.loc.Dir, filepath.FromSlash(key)), nil
}

// Put writes a temporary file beside the final name, fsyncs it, renames it
// into place and fsyncs the directory, so the object is either absent or
// whole and durable.
func (t *fileTarget) Put(ctx context.Context, key string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	name, err := t.file(key)
	if err != nil {
		return err
	}
	dir := filepath.Dir(name)
	if err := t.mkdirs(dir); err != nil {
		return t.classify("put", key, err)
	}
	f, err := os.CreateTemp(dir, tmpPrefix+filepath.Base(name)+"-*")
	if err != nil {
		return t.classify("put", key, err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		os.Remove(tmp)
		return t.classify("put", key, err)
	}
	return nil
}

// mkdirs creates the missing directories between the root and dir (never
// the root itself) and fsyncs the parent of each one it creates.
func (t *fileTarget) mkdirs(dir string) error {
	if dir == t.loc.Dir {
		return nil
	}
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		return nil
	}
	parent := filepath.Dir(dir)
	if err := t.mkdirs(parent); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return syncDir(parent)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

func (t *fileTarget) Get(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	name, err := t.file(key)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, t.classify("get", key, err)
	}
	return data, nil
}

func (t *fileTarget) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	if err := ctx.Err(); err != nil {
		return ObjectInfo{}, err
	}
	name, err := t.file(key)
	if err != nil {
		return ObjectInfo{}, err
	}
	fi, err := os.Stat(name)
	if err != nil {
		return ObjectInfo{}, t.classify("stat", key, err)
	}
	if !fi.Mode().IsRegular() {
		return ObjectInfo{}, t.fail("stat", key, ErrNotFound, fmt.Errorf("not a regular file"))
	}
	return ObjectInfo{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// List walks the directory that holds prefix. A prefix that names no
// directory lists nothing (as S3 would), unless the root itself is gone.
func (t *fileTarget) List(ctx context.Context, prefix string) ([]string, error) {
	if err := t.checkRoot("list"); err != nil {
		return nil, err
	}
	start := t.loc.Dir
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		start = filepath.Join(t.loc.Dir, filepath.FromSlash(path.Clean("/"+prefix[:i])))
	}
	var keys []string
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == start && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() || !d.Type().IsRegular() || strings.HasPrefix(d.Name(), tmpPrefix) {
			return nil
		}
		rel, err := filepath.Rel(t.loc.Dir, p)
		if err != nil {
			return err
		}
		if key := filepath.ToSlash(rel); strings.HasPrefix(key, prefix) {
			keys = append(keys, key)
		}
		return nil
	})
	if err != nil {
		return nil, t.classify("list", prefix, err)
	}
	sort.Strings(keys)
	return keys, nil
}

func (t *fileTarget) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	name, err := t.file(key)
	if err != nil {
		return err
	}
	if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return t.classify("delete", key, err)
	}
	if err := t.checkRoot("delete"); err != nil {
		return err
	}
	return nil
}
