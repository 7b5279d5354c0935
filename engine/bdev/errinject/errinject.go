// Package errinject is a pass-through block device that fails, or corrupts,
// a chosen number of requests of a chosen type on demand: refengine's
// counterpart of SPDK's error bdev (bdev_error_create), which faults use to
// make one replica's disk misbehave while everything above it runs
// unchanged.
//
// A rule is armed per I/O type (read, write, unmap, flush) with a count;
// each request of that type that arrives while the count is positive uses
// one up. Other request types (write zeroes) always pass through, as in
// SPDK. The device counts the errors it injected so that a fault can say
// whether its injection actually fired.
package errinject

import (
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/faultline/faultline/engine/bdev"
)

// IOType is a request type a rule applies to.
type IOType int

// The request types SPDK's error bdev can fail.
const (
	Read IOType = iota
	Write
	Unmap
	Flush
	numTypes
)

// IOTypes lists every type in a fixed order.
var IOTypes = [...]IOType{Read, Write, Unmap, Flush}

func (t IOType) String() string {
	switch t {
	case Read:
		return "read"
	case Write:
		return "write"
	case Unmap:
		return "unmap"
	case Flush:
		return "flush"
	}
	return fmt.Sprintf("IOType(%d)", int(t))
}

// Kind is what an armed rule does to a request.
type Kind int

const (
	// Failure fails the request with EIO without passing it on.
	Failure Kind = iota + 1
	// CorruptData passes the request on but flips bits of its data: a
	// write's data before it reaches the base, a read's after it returns.
	CorruptData
	// NoMem stands for SPDK's NOMEM completion, which the bdev layer
	// retries once other requests complete: to the caller it is only a
	// delay, so here the request passes through and just uses up the rule.
	NoMem
)

func (k Kind) String() string {
	switch k {
	case Failure:
		return "failure"
	case CorruptData:
		return "corrupt_data"
	case NoMem:
		return "nomem"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Rule arms one I/O type.
type Rule struct {
	Kind Kind
	// Num is how many requests the rule affects; 0 disarms it.
	Num uint32
	// QueueDepth makes the rule apply only to requests that arrive while
	// at least this many pass-through requests are in flight.
	QueueDepth uint64
	// CorruptOffset and CorruptValue, for CorruptData: the byte at this
	// offset into the request's data is XORed with the value, which must
	// not be 0. An offset past the data changes nothing.
	CorruptOffset uint64
	CorruptValue  uint8
}

// Device is a bdev.Device over a base device. It does not own the base:
// Close leaves it open.
type Device struct {
	base     bdev.Device
	inflight atomic.Int64
	closed   atomic.Bool
	// armed is whether any rule has a count left: the data path reads it
	// alone while nothing is armed, the usual state of a node that has the
	// layer only in case a fault wants it.
	armed atomic.Bool

	mu    sync.Mutex
	rules [numTypes]Rule
	fired [numTypes]uint64
}

var (
	_ bdev.Device    = (*Device)(nil)
	_ bdev.FUAWriter = (*Device)(nil)
)

// New returns a device passing every request through to base.
func New(base bdev.Device) *Device { return &Device{base: base} }

// Base is the device under this one.
func (d *Device) Base() bdev.Device { return d.base }

// Arm sets the rule of each given type, replacing what was there.
func (d *Device) Arm(r Rule, types ...IOType) error {
	if r.Kind == CorruptData && r.CorruptValue == 0 {
		return fmt.Errorf("error bdev: corrupt value 0 would change nothing: %w", syscall.EINVAL)
	}
	if r.Kind < Failure || r.Kind > NoMem {
		return fmt.Errorf("error bdev: unknown error kind %d: %w", int(r.Kind), syscall.EINVAL)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, t := range types {
		d.rules[t] = r
	}
	d.armed.Store(d.anyArmedLocked())
	return nil
}

func (d *Device) anyArmedLocked() bool {
	for _, r := range d.rules {
		if r.Num > 0 {
			return true
		}
	}
	return false
}

// Clear disarms every rule (SPDK's io_type "clear": the counts go to 0).
func (d *Device) Clear() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for t := range d.rules {
		d.rules[t].Num = 0
	}
	d.armed.Store(false)
}

// Stats is what the device did and still has armed, per I/O type.
type Stats struct {
	// Fired counts the requests a rule affected since the device was made.
	Fired map[string]uint64
	// Armed is the count each rule has left.
	Armed map[string]uint32
}

// Stats returns the counters.
func (d *Device) Stats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := Stats{Fired: map[string]uint64{}, Armed: map[string]uint32{}}
	for _, t := range IOTypes {
		s.Fired[t.String()] = d.fired[t]
		s.Armed[t.String()] = d.rules[t].Num
	}
	return s
}

// take uses up one count of t's rule, if it applies now, and returns it.
func (d *Device) take(t IOType) (Rule, bool) {
	if !d.armed.Load() {
		return Rule{}, false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.rules[t]
	if r.Num == 0 || uint64(d.inflight.Load()) < r.QueueDepth {
		return Rule{}, false
	}
	d.rules[t].Num--
	d.fired[t]++
	if d.rules[t].Num == 0 {
		d.armed.Store(d.anyArmedLocked())
	}
	return r, true
}

// admit checks the device is open and decides the fate of one request. A
// request that fails here never reaches the base.
func (d *Device) admit(t IOType, off int64) (Rule, bool, error) {
	if d.closed.Load() {
		return Rule{}, false, fmt.Errorf("error bdev %s at %d: %w", t, off, bdev.ErrClosed)
	}
	r, ok := d.take(t)
	if ok && r.Kind == Failure {
		return r, true, fmt.Errorf("error bdev: injected %s failure at %d: %w", t, off, syscall.EIO)
	}
	return r, ok, nil
}

// pass runs one request on the base, counted as in flight.
func (d *Device) pass(fn func() error) error {
	d.inflight.Add(1)
	defer d.inflight.Add(-1)
	return fn()
}

// corrupt XORs the rule's byte of p, if p reaches that far.
func corrupt(p []byte, r Rule) {
	if r.CorruptOffset < uint64(len(p)) {
		p[r.CorruptOffset] ^= r.CorruptValue
	}
}

// ReadAt reads from the base; a corrupt_data rule damages what it returns.
func (d *Device) ReadAt(p []byte, off int64) (int, error) {
	r, hit, err := d.admit(Read, off)
	if err != nil {
		return 0, err
	}
	var n int
	err = d.pass(func() error {
		var err error
		n, err = d.base.ReadAt(p, off)
		return err
	})
	if err == nil && hit && r.Kind == CorruptData {
		corrupt(p[:n], r)
	}
	return n, err
}

// WriteAt writes to the base; a corrupt_data rule damages a copy of p on
// the way (never the caller's buffer, which a mirror shares between legs).
func (d *Device) WriteAt(p []byte, off int64) (int, error) {
	return d.write(p, off, d.base.WriteAt)
}

// WriteAtFUA is WriteAt made durable, through the base's own FUA write
// when it has one; it counts as a write.
func (d *Device) WriteAtFUA(p []byte, off int64) (int, error) {
	return d.write(p, off, func(p []byte, off int64) (int, error) { return bdev.WriteAtFUA(d.base, p, off) })
}

func (d *Device) write(p []byte, off int64, do func([]byte, int64) (int, error)) (int, error) {
	r, hit, err := d.admit(Write, off)
	if err != nil {
		return 0, err
	}
	if hit && r.Kind == CorruptData {
		p = append([]byte(nil), p...)
		corrupt(p, r)
	}
	var n int
	err = d.pass(func() error {
		var err error
		n, err = do(p, off)
		return err
	})
	return n, err
}

// Flush flushes the base.
func (d *Device) Flush() error {
	if _, _, err := d.admit(Flush, 0); err != nil {
		return err
	}
	return d.pass(d.base.Flush)
}

// Unmap unmaps on the base.
func (d *Device) Unmap(off, length int64) error {
	if _, _, err := d.admit(Unmap, off); err != nil {
		return err
	}
	return d.pass(func() error { return d.base.Unmap(off, length) })
}

// WriteZeroes always passes through: SPDK's error bdev does not fail it.
func (d *Device) WriteZeroes(off, length int64) error {
	if d.closed.Load() {
		return fmt.Errorf("error bdev write zeroes at %d: %w", off, bdev.ErrClosed)
	}
	return d.pass(func() error { return d.base.WriteZeroes(off, length) })
}

// Size is the base's size.
func (d *Device) Size() int64 { return d.base.Size() }

// BlockSize is the base's block size.
func (d *Device) BlockSize() int { return d.base.BlockSize() }

// Close makes later requests fail with bdev.ErrClosed; the base stays open.
func (d *Device) Close() error {
	if d.closed.Swap(true) {
		return fmt.Errorf("error bdev close: %w", bdev.ErrClosed)
	}
	return nil
}
