//go:build linux

package bdevtest

import (
	"errors"
	"io"
	"syscall"

	"github.com/faultline/faultline/engine/bdev"
)

// BufferSource is a bdev.SpliceSource that pwrites from B, standing in for
// the NBD server's pipes in tests of a device's splice path. Pieces
// records the size of each SpliceTo, so a test sees how a device cut a
// write up.
type BufferSource struct {
	B      []byte
	Pieces []int
}

// SendTo fails: a device splices only into its file.
func (s *BufferSource) SendTo(syscall.RawConn, int) error {
	return errors.New("not a socket source")
}

// Tee fails: a device does not mirror.
func (s *BufferSource) Tee(int) (bdev.SpliceSource, error) { return nil, errors.New("no tee") }

// ReadFull takes the next len(p) bytes into p.
func (s *BufferSource) ReadFull(p []byte) error {
	if len(p) > len(s.B) {
		return io.ErrUnexpectedEOF
	}
	s.B = s.B[copy(p, s.B):]
	return nil
}

// SpliceTo pwrites the next n bytes into fd at off.
func (s *BufferSource) SpliceTo(fd int, off int64, n int) error {
	s.Pieces = append(s.Pieces, n)
	if n > len(s.B) {
		return io.ErrUnexpectedEOF
	}
	for n > 0 {
		m, err := syscall.Pwrite(fd, s.B[:n], off)
		if err != nil {
			return err
		}
		s.B, off, n = s.B[m:], off+int64(m), n-m
	}
	return nil
}
