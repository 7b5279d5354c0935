// Package bdevtest holds what the tests of every bdev.Device implementation
// share: a data pattern, a read-back check, and a runner for a table of
// operations on a fresh device, so that each implementation's test states
// only its own cases.
package bdevtest

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/faultline/faultline/engine/bdev"
)

// Pattern returns n bytes that differ from block to block and by seed, so
// a misplaced or stale block shows.
func Pattern(n int, seed byte) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = seed + byte(i*7)
	}
	return p
}

// Expect reads len(want) bytes at off and fails the test unless they are
// want, naming the first byte that differs.
func Expect(t testing.TB, d bdev.Device, off int64, want []byte) {
	t.Helper()
	got := make([]byte, len(want))
	if n, err := d.ReadAt(got, off); err != nil || n != len(got) {
		t.Fatalf("read %d bytes at %d: n=%d err=%v", len(got), off, n, err)
	}
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && got[i] == want[i] {
			i++
		}
		t.Fatalf("data at %d differs from byte %d on", off, i)
	}
}

// Case is one operation on a fresh device of type D.
type Case[D bdev.Device] struct {
	Name string
	// Run performs the operation on d and returns its error.
	Run func(d D) error
	// Want is the expected error (nil for success), matched with errors.Is.
	Want error
	// Check inspects the device afterwards; nil skips.
	Check func(t *testing.T, d D)
}

// Run runs each case as a subtest on a device from open, which must have
// size bytes in blocks of bs.
func Run[D bdev.Device](t *testing.T, cases []Case[D], size int64, bs int, open func(t *testing.T) D) {
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			d := open(t)
			if d.Size() != size || d.BlockSize() != bs {
				t.Fatalf("geometry %d/%d, want %d/%d", d.Size(), d.BlockSize(), size, bs)
			}
			err := tc.Run(d)
			if !errors.Is(err, tc.Want) || (tc.Want == nil) != (err == nil) {
				t.Fatalf("got error %v, want %v", err, tc.Want)
			}
			if tc.Check != nil {
				tc.Check(t, d)
			}
		})
	}
}

// SpliceDevice is a device that takes writes from a splice.
type SpliceDevice interface {
	bdev.Device
	bdev.SpliceWriter
}

// SpliceCounter counts the writes its device took from a splice, so that
// a test tells the splice path from the buffered one.
type SpliceCounter struct {
	SpliceDevice
	Spliced atomic.Int64
}

// WriteFromSplice passes the write on and counts it when it was taken.
func (d *SpliceCounter) WriteFromSplice(src bdev.SpliceSource, n int, off int64) (bool, error) {
	ok, err := d.SpliceDevice.WriteFromSplice(src, n, off)
	if ok {
		d.Spliced.Add(1)
	}
	return ok, err
}

// WriteRandom writes n random bytes at a random offset of w, a multiple
// of 512, and copies them into want, the test's image of the device.
func WriteRandom(t testing.TB, w io.WriterAt, rng *rand.Rand, want []byte, n int) {
	t.Helper()
	off := rng.Int64N(int64(len(want)-n)/512) * 512
	p := make([]byte, n)
	for j := range p {
		p[j] = byte(rng.Uint32())
	}
	copy(want[off:], p)
	if _, err := w.WriteAt(p, off); err != nil {
		t.Fatalf("write %d at %d: %v", n, off, err)
	}
}
