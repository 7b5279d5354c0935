package raid1

import (
	"fmt"
	"io"

	"github.com/faultline/faultline/engine/bdev"
)

// WriteFromSplice writes the next n bytes of src at off to every RW and WO
// member, as WriteAt does, without the payload passing through user space
// where it can be helped (bdev.SpliceWriter): each member beyond the
// first gets a tee of src, the kernel sharing the pages; a remote member
// sends its tee to its socket (bdev.AsyncSpliceWriter), started before the
// others are written, and a local one takes it into its file. A member
// that takes only buffers, or declines the splice, reads its own source
// into a buffer. When a tee cannot be made, src is read once into a
// buffer that every member writes from. It always takes the write.
func (r *Raid) WriteFromSplice(src bdev.SpliceSource, n int, off int64) (bool, error) {
	var (
		srcs []bdev.SpliceSource // by leg
		buf  []byte              // set when every leg writes from a buffer
	)
	wrote := func(m *member, k int, err error) error {
		if err == nil && k < n {
			err = io.ErrShortWrite
		}
		if err == nil {
			m.writes.Add(1)
			m.bytesWritten.Add(uint64(k))
		}
		return err
	}
	prepare := func(legs []*member) error {
		srcs = make([]bdev.SpliceSource, len(legs))
		srcs[0] = src
		for i := 1; i < len(legs); i++ {
			t, err := src.Tee(n)
			if err != nil {
				r.log.Debug("raid1 splice: reading the payload instead", "err", err)
				buf = make([]byte, n)
				if err := src.ReadFull(buf); err != nil {
					return fmt.Errorf("read payload: %w", err)
				}
				return nil
			}
			srcs[i] = t
		}
		return nil
	}
	do := func(i int, m *member) error {
		if buf != nil {
			k, err := m.dev.WriteAt(buf, off)
			return wrote(m, k, err)
		}
		if sw, ok := m.dev.(bdev.SpliceWriter); ok {
			if ok, err := sw.WriteFromSplice(srcs[i], n, off); ok {
				return wrote(m, n, err)
			}
		}
		p := make([]byte, n)
		if err := srcs[i].ReadFull(p); err != nil {
			return fmt.Errorf("read payload: %w", err)
		}
		k, err := m.dev.WriteAt(p, off)
		return wrote(m, k, err)
	}
	start := func(i int, m *member) func() error {
		var wait func() (int, error)
		switch dev := m.dev.(type) {
		case bdev.AsyncSpliceWriter:
			if buf != nil {
				wait = dev.StartWriteAt(buf, off)
			} else {
				wait = dev.StartWriteFromSplice(srcs[i], n, off)
			}
		case bdev.AsyncWriter:
			if buf == nil {
				return nil // do reads its source
			}
			wait = dev.StartWriteAt(buf, off)
		default:
			return nil
		}
		return func() error {
			k, err := wait()
			return wrote(m, k, err)
		}
	}
	return true, r.mirrorLegs("write", off, int64(n), prepare, do, start)
}

var _ bdev.SpliceWriter = (*Raid)(nil)
