package bdev

import "syscall"

// SpliceSource holds the payload of one write in kernel pages, on its way
// from a socket to the devices without passing through user space: the
// NBD server moves a large WRITE's payload from its socket into a pipe
// (splice(2)), and the devices take it from there, a file copying it once
// into the page cache, a remote replica's connection sending the same
// pages on. Each call takes the next bytes of the payload.
type SpliceSource interface {
	// SpliceTo writes the next n bytes into the file fd at off, as pwrite
	// would. An error may leave some of them written.
	SpliceTo(fd int, off int64, n int) error
	// SendTo writes the next n bytes into the stream socket raw, waiting
	// while its buffer is full. An error leaves the stream broken.
	SendTo(raw syscall.RawConn, n int) error
	// ReadFull reads the next len(p) bytes into p, for a device that
	// takes only buffers.
	ReadFull(p []byte) error
	// Tee returns a second source of the next n bytes, without taking
	// them from this one: the kernel shares the pages, so a mirror hands
	// each member its own source of the one payload. It is valid until the
	// write it serves returns.
	Tee(n int) (SpliceSource, error)
}

// SpliceWriter is implemented by devices that can take a write from a
// SpliceSource.
type SpliceWriter interface {
	// WriteFromSplice writes the next n bytes of src at off. When it
	// cannot (ok false: the range needs allocating, say, or the device
	// underneath cannot take a splice), it has taken nothing from src, and
	// the caller reads the bytes and calls WriteAt. Otherwise err is what
	// WriteAt would have returned, and on error some of the n bytes may
	// not have been taken from src.
	WriteFromSplice(src SpliceSource, n int, off int64) (ok bool, err error)
}

// AsyncSpliceWriter is an AsyncWriter that can also start a write whose
// data comes from a SpliceSource: a network device sends it from the
// source to its socket. It always takes the write, reading the source
// into a buffer when it cannot splice.
type AsyncSpliceWriter interface {
	AsyncWriter
	// StartWriteFromSplice starts writing the next n bytes of src at off
	// and returns the function that waits for the write, as
	// StartWriteAt does. The caller must call wait exactly once, and src
	// must stay valid until it returns.
	StartWriteFromSplice(src SpliceSource, n int, off int64) (wait func() (int, error))
}
