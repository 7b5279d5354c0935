package checkers

import "io"

// Device is what the data checkers read: a volume's frontend, a replica
// export, a file. Any NBD client or bdev fits.
type Device interface {
	io.ReaderAt
	Size() int64
}
