package raid1

import (
	"fmt"
	"sync"

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
	defer func() {
		if buf != nil {
			r.payloads.put(buf)
		}
	}()
	prepare := func(legs []*member) error {
		srcs = make([]bdev.SpliceSource, len(legs))
		srcs[0] = src
		for i := 1; i < len(legs); i++ {
			t, err := src.Tee(n)
			if err != nil {
				r.log.Debug("raid1 splice: reading the payload instead", "err", err)
				buf = r.payloads.get(n)
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
			return m.wrote(n, k, err)
		}
		if sw, ok := m.dev.(bdev.SpliceWriter); ok {
			if ok, err := sw.WriteFromSplice(srcs[i], n, off); ok {
				return m.wrote(n, n, err)
			}
		}
		// The member declined (an lvol allocating its clusters, say):
		// it reads its own source.
		p := r.payloads.get(n)
		defer r.payloads.put(p)
		if err := srcs[i].ReadFull(p); err != nil {
			return fmt.Errorf("read payload: %w", err)
		}
		k, err := m.dev.WriteAt(p, off)
		return m.wrote(n, k, err)
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
			return m.wrote(n, k, err)
		}
	}
	return true, r.mirrorLegs("write", off, int64(n), prepare, do, start)
}

// payloadPool holds the buffers a mirror reads a spliced payload into
// when a member cannot take it from a splice: a thin replica declines
// every write to clusters it has yet to allocate, and a fresh buffer of a
// megabyte per such write would be garbage for the collector.
type payloadPool struct{ p sync.Pool }

// get returns a buffer of n bytes.
func (pp *payloadPool) get(n int) []byte {
	if b, ok := pp.p.Get().(*[]byte); ok && cap(*b) >= n {
		return (*b)[:n]
	}
	return make([]byte, n)
}

// put gives b back for a later get.
func (pp *payloadPool) put(b []byte) { pp.p.Put(&b) }

var _ bdev.SpliceWriter = (*Raid)(nil)
