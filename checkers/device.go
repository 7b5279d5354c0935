package checkers

import (
	"fmt"
	"io"
)

// Device is what the data checkers read: a volume's frontend, a replica
// export, a file. Any NBD client or bdev fits.
type Device interface {
	io.ReaderAt
	Size() int64
}

// ReadFull reads len(p) bytes at off. io.EOF with a full buffer is fine
// (io.ReaderAt allows it at the end of a device); a short read is
// io.ErrUnexpectedEOF, with the range in the error.
func ReadFull(dev io.ReaderAt, p []byte, off int64) error {
	n, err := dev.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("read %d bytes at %d: %w", len(p), off, err)
}
