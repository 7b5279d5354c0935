// Package aio is a block device over a regular file or a block device,
// refengine's counterpart of SPDK's aio bdev and the base of every lvstore.
//
// I/O goes through pread/pwrite on an os.File; Flush is fdatasync, so a
// write is durable once a Flush that started after it has returned.
// WriteAtFUA is a pwrite through a second descriptor opened O_DSYNC, which
// makes only that range (and the metadata needed to read it back) durable
// instead of every dirty page of the file. Unmap and WriteZeroes punch
// holes, which keeps disks thin.
package aio

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/faultline/faultline/engine/bdev"
)

// Options configure Open.
type Options struct {
	// BlockSize is the device block size; 0 means 512. It must be a power
	// of two of at least 512.
	BlockSize int
	// ReadOnly opens the file read-only; writes fail with bdev.ErrReadOnly.
	ReadOnly bool
	// Create makes the file, sparse and Size bytes long, if it is missing.
	Create bool
	// Size is the device size in bytes. 0 takes the size of the file or
	// block device (rounded down to the block size). A regular file shorter
	// than Size is not grown; the part past its end reads as zeros and is
	// filled in by writes.
	Size int64
}

// Device is a bdev.Device over a file. It is safe for concurrent use.
type Device struct {
	path      string
	f         *os.File
	fua       *os.File // the same file opened O_DSYNC; nil when read-only
	size      int64
	blockSize int
	readOnly  bool
	closed    atomic.Bool
	// punch deallocates a range; a field so tests can take the fallback.
	punch func(fd uintptr, off, length int64) error
}

var (
	_ bdev.Device    = (*Device)(nil)
	_ bdev.FUAWriter = (*Device)(nil)
)

// Open opens (or with opts.Create, creates) the file or block device at
// path as a bdev.
func Open(path string, opts Options) (*Device, error) {
	bs := opts.BlockSize
	if bs == 0 {
		bs = 512
	}
	if bs < 512 || bs&(bs-1) != 0 {
		return nil, fmt.Errorf("aio %s: block size %d: must be a power of two of at least 512", path, bs)
	}
	if opts.Size < 0 || opts.Size%int64(bs) != 0 {
		return nil, fmt.Errorf("aio %s: size %d: must be a non-negative multiple of the block size %d", path, opts.Size, bs)
	}
	if opts.Create && opts.ReadOnly {
		return nil, fmt.Errorf("aio %s: cannot create a read-only device", path)
	}
	flag := os.O_RDWR
	if opts.ReadOnly {
		flag = os.O_RDONLY
	}
	f, err := os.OpenFile(path, flag, 0)
	created := false
	if errors.Is(err, fs.ErrNotExist) && opts.Create {
		if opts.Size == 0 {
			return nil, fmt.Errorf("aio %s: creating a device needs a size", path)
		}
		f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		created = err == nil
	}
	if err != nil {
		return nil, fmt.Errorf("aio open %s: %w", path, err)
	}
	d := &Device{path: path, f: f, blockSize: bs, readOnly: opts.ReadOnly, punch: punchHole}
	err = d.setSize(opts.Size, created)
	if err == nil && !opts.ReadOnly {
		d.fua, err = d.openDSync()
	}
	if err != nil {
		f.Close()
		if created {
			os.Remove(path)
		}
		return nil, err
	}
	return d, nil
}

// openDSync opens the device's file a second time for synchronous data
// writes, for WriteAtFUA.
func (d *Device) openDSync() (*os.File, error) {
	var f *os.File
	err := d.control(func(fd uintptr) error {
		var err error
		f, err = reopenDSync(fd, d.path)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("aio %s: open for synchronous writes: %w", d.path, err)
	}
	return f, nil
}

// setSize works out the device size from the options and the file.
func (d *Device) setSize(want int64, created bool) error {
	st, err := d.f.Stat()
	if err != nil {
		return fmt.Errorf("aio stat %s: %w", d.path, err)
	}
	var have int64
	switch mode := st.Mode(); {
	case mode.IsRegular():
		have = st.Size()
	case mode&fs.ModeDevice != 0 && mode&fs.ModeCharDevice == 0:
		// A block device reports size 0 to stat; its end is its size.
		have, err = d.f.Seek(0, io.SeekEnd)
		if err != nil {
			return fmt.Errorf("aio size of block device %s: %w", d.path, err)
		}
		if want > have {
			return fmt.Errorf("aio %s: size %d larger than the block device (%d bytes)", d.path, want, have)
		}
	default:
		return fmt.Errorf("aio %s: %s is neither a regular file nor a block device", d.path, mode.Type())
	}
	if created {
		// Truncate makes a sparse file: no blocks are allocated.
		if err := d.f.Truncate(want); err != nil {
			return fmt.Errorf("aio size new file %s: %w", d.path, err)
		}
		if err := d.syncDir(); err != nil {
			return err
		}
	}
	d.size = want
	if want == 0 {
		d.size = have - have%int64(d.blockSize)
	}
	if d.size == 0 {
		return fmt.Errorf("aio %s: device is empty (give a size)", d.path)
	}
	return nil
}

// syncDir makes the new file's directory entry durable.
func (d *Device) syncDir() error {
	dir, err := os.Open(filepath.Dir(d.path))
	if err != nil {
		return fmt.Errorf("aio sync directory of %s: %w", d.path, err)
	}
	defer dir.Close()
	if err := dir.Sync(); err != nil {
		return fmt.Errorf("aio sync directory of %s: %w", d.path, err)
	}
	return nil
}

// Path returns the file the device was opened on.
func (d *Device) Path() string { return d.path }

// Size returns the device size in bytes.
func (d *Device) Size() int64 { return d.size }

// BlockSize returns the block size in bytes.
func (d *Device) BlockSize() int { return d.blockSize }

func (d *Device) check(op string, off, length int64, write bool) error {
	if d.closed.Load() {
		return fmt.Errorf("aio %s %s at %d: %w", d.path, op, off, bdev.ErrClosed)
	}
	if write && d.readOnly {
		return fmt.Errorf("aio %s %s at %d: %w", d.path, op, off, bdev.ErrReadOnly)
	}
	if err := bdev.CheckRange(off, length, d.size, d.blockSize); err != nil {
		return fmt.Errorf("aio %s %s of %d bytes at %d (size %d): %w", d.path, op, length, off, d.size, err)
	}
	return nil
}

// wrap adds context to an os error and maps a closed file to bdev.ErrClosed.
func (d *Device) wrap(op string, off int64, err error) error {
	if errors.Is(err, os.ErrClosed) {
		err = bdev.ErrClosed
	}
	return fmt.Errorf("aio %s %s at %d: %w", d.path, op, off, err)
}

// ReadAt reads len(p) bytes at off. The part of a short file past its end
// reads as zeros.
func (d *Device) ReadAt(p []byte, off int64) (int, error) {
	if err := d.check("read", off, int64(len(p)), false); err != nil {
		return 0, err
	}
	n, err := d.f.ReadAt(p, off)
	if err == io.EOF {
		clear(p[n:])
		return len(p), nil
	}
	if err != nil {
		return n, d.wrap("read", off, err)
	}
	return n, nil
}

// WriteAt writes p at off.
func (d *Device) WriteAt(p []byte, off int64) (int, error) {
	return d.write("write", d.f, p, off)
}

// WriteAtFUA writes p at off and returns once it is on stable storage,
// without writing out other dirty data of the file.
func (d *Device) WriteAtFUA(p []byte, off int64) (int, error) {
	return d.write("write FUA", d.fua, p, off)
}

// write checks a write and pwrites it through f.
func (d *Device) write(op string, f *os.File, p []byte, off int64) (int, error) {
	if err := d.check(op, off, int64(len(p)), true); err != nil {
		return 0, err
	}
	n := 0
	for n < len(p) {
		k, err := f.WriteAt(p[n:min(len(p), n+writePiece)], off+int64(n))
		n += k
		if err != nil {
			return n, d.wrap(op, off, err)
		}
	}
	return n, nil
}

// writePiece bounds one write system call. ext4 caches a file in folios
// as large as the write that filled them (up to 2 MiB), and a later 4 KiB
// write into such a folio walks the buffer heads of all of it
// (ext4_block_write_begin): after a sequential 1 MiB workload, random
// 4 KiB writes to a replica ran at two thirds of their speed. Writing in
// 256 KiB pieces keeps the folios small and costs sequential writes
// little; docs/benchmarks.md has the figures.
const writePiece = 256 << 10

// Flush makes every completed write durable (fdatasync).
func (d *Device) Flush() error {
	if d.closed.Load() {
		return fmt.Errorf("aio %s flush: %w", d.path, bdev.ErrClosed)
	}
	if d.readOnly {
		return nil
	}
	if err := syncData(d); err != nil {
		return d.wrap("flush", 0, err)
	}
	return nil
}

// Unmap discards the range by punching a hole; it reads as zeros after.
func (d *Device) Unmap(off, length int64) error {
	if err := d.check("unmap", off, length, true); err != nil {
		return err
	}
	return d.zero("unmap", off, length)
}

// WriteZeroes makes the range read as zeros by punching a hole, or by
// writing zeros where the file system or device cannot punch.
func (d *Device) WriteZeroes(off, length int64) error {
	if err := d.check("write zeroes", off, length, true); err != nil {
		return err
	}
	return d.zero("write zeroes", off, length)
}

func (d *Device) zero(op string, off, length int64) error {
	if length == 0 {
		return nil
	}
	err := d.control(func(fd uintptr) error { return d.punch(fd, off, length) })
	if err == nil {
		return nil
	}
	if !errors.Is(err, errPunchUnsupported) {
		return d.wrap(op, off, err)
	}
	// Fall back to writing zeros, in bounded pieces.
	const piece = 1 << 20
	zeros := make([]byte, min(length, piece))
	for length > 0 {
		n := min(length, piece)
		if _, err := d.f.WriteAt(zeros[:n], off); err != nil {
			return d.wrap(op, off, err)
		}
		off += n
		length -= n
	}
	return nil
}

// control runs fn on the raw descriptor without putting the file into
// blocking mode (as Fd would).
func (d *Device) control(fn func(fd uintptr) error) error {
	rc, err := d.f.SyscallConn()
	if err != nil {
		return err
	}
	var opErr error
	if err := rc.Control(func(fd uintptr) { opErr = fn(fd) }); err != nil {
		return err
	}
	return opErr
}

// Close closes the file. It does not flush: call Flush first for
// durability.
func (d *Device) Close() error {
	if d.closed.Swap(true) {
		return fmt.Errorf("aio %s close: %w", d.path, bdev.ErrClosed)
	}
	err := d.f.Close()
	if d.fua != nil {
		err = errors.Join(err, d.fua.Close())
	}
	if err != nil {
		return fmt.Errorf("aio %s close: %w", d.path, err)
	}
	return nil
}

// WriteFromSplice writes n bytes of src at off straight into the file
// (bdev.SpliceWriter): the data is copied once, from the pipe into the
// page cache. A device that cannot splice (not Linux) declines.
func (d *Device) WriteFromSplice(src bdev.SpliceSource, n int, off int64) (bool, error) {
	if !spliceSupported {
		return false, nil
	}
	if err := d.check("write", off, int64(n), true); err != nil {
		return true, err
	}
	err := d.control(func(fd uintptr) error {
		for done := 0; done < n; {
			k := min(n-done, writePiece)
			if err := src.SpliceTo(int(fd), off+int64(done), k); err != nil {
				return err
			}
			done += k
		}
		return nil
	})
	if err != nil {
		return true, d.wrap("write", off, err)
	}
	return true, nil
}
