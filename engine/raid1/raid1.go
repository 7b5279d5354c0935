// Package raid1 mirrors a block device over member devices, as SPDK's raid1
// bdev does for Longhorn's v2 engine: the members are a volume's replicas.
//
// A write (and WriteZeroes, Unmap, Flush) goes to every member in state RW
// or WO at once and is acknowledged when all of them have answered; it
// succeeds if at least one RW member took it. A member that fails an I/O is
// marked ERR, reported once through Options.OnMemberFailed and gets no more
// I/O. Reads go to an RW member on this machine when there is one (a
// remote member, bdev.Remote, is read only when none is, as md reads a
// write-mostly member), among those to the one with the fewest requests
// outstanding (round-robin among equals), and are retried on another RW
// member when one fails. A member added at run time joins write-only (WO) so it can be
// rebuilt while it receives every new write, and is made RW by the caller
// when it holds the whole volume.
//
// The raid never closes its members: they belong to the caller, as base
// bdevs belong to SPDK's bdev layer rather than to the raid.
package raid1

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/faultline/faultline/engine/bdev"
)

// State is a member's mode.
type State string

// Member states.
const (
	// StateRW members take writes and serve reads.
	StateRW State = "RW"
	// StateWO members take writes but serve no reads (rebuilding).
	StateWO State = "WO"
	// StateERR members failed an I/O (or were set so) and get no I/O.
	StateERR State = "ERR"
)

func (s State) valid() bool { return s == StateRW || s == StateWO || s == StateERR }

// Member is a device to add to the raid under a unique name.
type Member struct {
	Name string
	Dev  bdev.Device
	// Bitmap is the member's write-intent bitmap device (FormatIntent).
	// Either every member has one, and the raid keeps a write-intent log
	// that must be activated (Activate) before it takes writes, or none
	// has, and the raid keeps no log.
	Bitmap bdev.Device
}

// Options configure a Raid.
type Options struct {
	// Log receives membership changes and member failures; nil discards.
	Log *slog.Logger
	// OnMemberFailed is called once each time a member goes to ERR because
	// an I/O failed, from a goroutine of its own, so it may call back into
	// the Raid (RemoveMember, Suspend).
	OnMemberFailed func(name string, err error)
	// RegionSize is the span of one write-intent bit (a power of two of
	// at least 4 KiB); 0 means DefaultRegionSize.
	RegionSize int64
}

// MemberInfo describes a member at one instant.
type MemberInfo struct {
	Name  string
	State State
	// Err is the error that put the member in ERR, or empty.
	Err string
	// Inflight is the number of requests the member is serving.
	Inflight int64
	// Counters of completed requests.
	Reads, Writes, Flushes, Errors uint64
	BytesRead, BytesWritten        uint64
}

// member is one leg of the mirror.
type member struct {
	name   string
	dev    bdev.Device
	bitmap bdev.Device // nil when the raid keeps no write-intent log
	remote bool        // dev is bdev.Remote: read only when no local member can

	// state and err are guarded by Raid.mu.
	state State
	err   error

	// io counts requests on this member; Add happens under Raid.mu while the
	// member is listed, so RemoveMember can unlist it and then Wait.
	io       sync.WaitGroup
	inflight atomic.Int64

	reads, writes, flushes, errors atomic.Uint64
	bytesRead, bytesWritten        atomic.Uint64
}

// Raid is a raid1 volume; it implements bdev.Device and is safe for
// concurrent use.
type Raid struct {
	name      string
	blockSize int
	size      int64
	log       *slog.Logger
	onFailed  func(string, error)
	next      atomic.Uint64 // round-robin start for reads

	mu      sync.Mutex
	members []*member
	closed  bool
	// suspended blocks every new request; joining blocks new writes while
	// AddMember waits for the writes in flight.
	suspended bool
	joining   int
	// inflight counts requests admitted and not finished, writes those of
	// them that modify data.
	inflight int
	writes   int
	// held counts requests waiting at the gate.
	held int
	// changed, when not nil, is closed (and reset) at the next change that
	// a waiter may be waiting for.
	changed chan struct{}

	// overlap orders overlapping writes identically on every member.
	overlap rangeLock

	// intent is the write-intent log, nil when the members have no
	// bitmaps.
	intent *intentLog
	// noSpace counts writes that failed because no member had room.
	noSpace atomic.Uint64
	// payloads are buffers for spliced payloads a member reads.
	payloads payloadPool
}

var _ bdev.Device = (*Raid)(nil)

// New builds a raid1 named name over members, all of which start RW. The
// volume's size is that of the smallest member; all must share one block
// size. When the members have bitmap devices, writes are refused until
// Activate has brought the members in line.
func New(name string, members []Member, opts Options) (*Raid, error) {
	if name == "" {
		return nil, errors.New("raid1: empty name")
	}
	if len(members) == 0 {
		return nil, fmt.Errorf("raid1 %s: no members", name)
	}
	r := &Raid{name: name, log: opts.Log, onFailed: opts.OnMemberFailed}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	r.log = r.log.With("raid", name)
	seen := map[string]bool{}
	withBitmap := 0
	for i, m := range members {
		if err := checkMember(m); err != nil {
			return nil, fmt.Errorf("raid1 %s: %w", name, err)
		}
		if seen[m.Name] {
			return nil, fmt.Errorf("raid1 %s: member %q given twice", name, m.Name)
		}
		seen[m.Name] = true
		bs, size := m.Dev.BlockSize(), m.Dev.Size()
		if i == 0 {
			r.blockSize, r.size = bs, size
		}
		if bs != r.blockSize {
			return nil, fmt.Errorf("raid1 %s: member %s has block size %d, %s has %d", name, m.Name, bs, members[0].Name, r.blockSize)
		}
		r.size = min(r.size, size)
		r.members = append(r.members, newMember(m, StateRW))
		if m.Bitmap != nil {
			withBitmap++
		}
	}
	if r.size < int64(r.blockSize) {
		return nil, fmt.Errorf("raid1 %s: smallest member holds %d bytes, less than a block", name, r.size)
	}
	r.size -= r.size % int64(r.blockSize)
	switch withBitmap {
	case 0:
	case len(members):
		rs := opts.RegionSize
		if rs == 0 {
			rs = DefaultRegionSize
		}
		if rs < intentPage || rs&(rs-1) != 0 {
			return nil, fmt.Errorf("raid1 %s: write-intent region size %d is not a power of two of at least %d", name, rs, intentPage)
		}
		r.intent = newIntentLog(r.size, rs)
		for _, m := range r.members {
			if need := intentPage * (1 + bitmapPages(r.intent.regions)); m.bitmap.Size() < need {
				return nil, fmt.Errorf("raid1 %s: member %s's bitmap device holds %d bytes, %d needed", name, m.name, m.bitmap.Size(), need)
			}
		}
	default:
		return nil, fmt.Errorf("raid1 %s: %d of %d members have a write-intent bitmap; all or none must", name, withBitmap, len(members))
	}
	return r, nil
}

// newMember is the leg for m, in state.
func newMember(m Member, state State) *member {
	return &member{name: m.Name, dev: m.Dev, bitmap: m.Bitmap, remote: bdev.IsRemote(m.Dev), state: state}
}

func checkMember(m Member) error {
	if m.Name == "" {
		return errors.New("member with an empty name")
	}
	if m.Dev == nil {
		return fmt.Errorf("member %s has no device", m.Name)
	}
	return nil
}

// Name returns the raid's name.
func (r *Raid) Name() string { return r.name }

// Size returns the volume size: that of the smallest member at creation.
func (r *Raid) Size() int64 { return r.size }

// BlockSize returns the block size shared by the members.
func (r *Raid) BlockSize() int { return r.blockSize }

// Online reports whether the raid has an RW member and so can serve I/O.
func (r *Raid) Online() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.members {
		if m.state == StateRW {
			return true
		}
	}
	return false
}

// Members describes every member, in the order they joined.
func (r *Raid) Members() []MemberInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]MemberInfo, 0, len(r.members))
	for _, m := range r.members {
		info := MemberInfo{
			Name:         m.name,
			State:        m.state,
			Inflight:     m.inflight.Load(),
			Reads:        m.reads.Load(),
			Writes:       m.writes.Load(),
			Flushes:      m.flushes.Load(),
			Errors:       m.errors.Load(),
			BytesRead:    m.bytesRead.Load(),
			BytesWritten: m.bytesWritten.Load(),
		}
		if m.err != nil {
			info.Err = m.err.Error()
		}
		out = append(out, info)
	}
	return out
}

// find returns the listed member called name. r.mu must be held.
func (r *Raid) find(name string) (int, *member) {
	for i, m := range r.members {
		if m.name == name {
			return i, m
		}
	}
	return -1, nil
}

// listed reports whether m is still a member. r.mu must be held.
func (r *Raid) listed(m *member) bool {
	for _, x := range r.members {
		if x == m {
			return true
		}
	}
	return false
}

// markFailed puts m in ERR because of err, unless it already is or has been
// removed, and reports it.
func (r *Raid) markFailed(m *member, err error) {
	r.mu.Lock()
	report := r.listed(m) && m.state != StateERR
	if report {
		m.state, m.err = StateERR, err
	}
	r.mu.Unlock()
	if !report {
		return
	}
	if r.intent != nil {
		r.intent.noteFailure()
	}
	r.log.Warn("raid1 member failed", "member", m.name, "err", err)
	if r.onFailed != nil {
		go r.onFailed(m.name, err)
	}
}

// Close waits for the requests in flight and makes later I/O fail with
// bdev.ErrClosed. It does not close the members.
func (r *Raid) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return fmt.Errorf("raid1 %s close: %w", r.name, bdev.ErrClosed)
	}
	r.closed = true
	r.notify()
	for r.inflight > 0 {
		r.waitLocked()
	}
	return nil
}
