package bench

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// fadvDontneed is POSIX_FADV_DONTNEED on Linux.
const fadvDontneed = 4

// dropCache evicts the page cache of every regular file at or under each
// path (posix_fadvise DONTNEED over the whole file), so that the next
// timed operation reads its input from the disk rather than from memory.
// Only clean pages are evicted: callers fsync what they wrote first, which
// every writer in the backup benchmark does. The call affects these files
// only, unlike writing to /proc/sys/vm/drop_caches.
func dropCache(paths ...string) error {
	for _, root := range paths {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			f, err := os.Open(p)
			if err != nil {
				if os.IsNotExist(err) {
					return nil // a temporary file that went away
				}
				return err
			}
			defer f.Close()
			// syscall has no Fadvise; the raw call keeps x/sys out of
			// this package's imports.
			if _, _, e := syscall.Syscall6(syscall.SYS_FADVISE64, f.Fd(), 0, 0, fadvDontneed, 0, 0); e != 0 {
				return fmt.Errorf("fadvise %s: %w", p, e)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("drop page cache: %w", err)
		}
	}
	return nil
}

// syncPath fsyncs one file.
func syncPath(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("fsync %s: %w", path, err)
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("fsync %s: %w", path, err)
	}
	return nil
}
