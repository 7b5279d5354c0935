package lvstore

import (
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/faultline/faultline/engine/bdev"
)

// DefaultClusterSize is used when Create is given a cluster size of 0,
// as SPDK's bdev_lvol_create_lvstore does.
const DefaultClusterSize = 4 << 20

// ExternalResolver finds an external-snapshot (esnap) bdev by UUID. It
// reports false when the bdev does not exist (yet).
type ExternalResolver func(uuid string) (bdev.Device, bool)

// Option configures Create and Open.
type Option func(*options)

type options struct {
	log     *slog.Logger
	mdRatio uint32 // WithMDPagesPerClusterRatio
}

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// Store is an lvstore inside a base device.
type Store struct {
	dev   bdev.Device
	sb    superblock
	log   *slog.Logger
	alloc *allocator

	mdMu   sync.Mutex // serialises metadata operations and commits
	seq    uint64     // sequence number of the last durable slot; under mdMu
	dirty  atomic.Bool
	closed atomic.Bool

	// Durability of cluster mappings, for WriteAtFUA (see fua.go): epoch
	// counts commits begun, durable is the epoch of the last commit that
	// completed, mdStamp the epoch when the last metadata operation began.
	epoch   atomic.Uint64
	durable atomic.Uint64
	mdStamp atomic.Uint64

	topoMu sync.RWMutex // leaf lock: never acquire another lock under it
	name   string
	lvols  map[string]*Lvol // by UUID text
	// order is the last creation order number handed out; under topoMu.
	order  uint64
	byName map[string]*Lvol
	ext    map[string]bdev.Device
}

func buildOptions(opts []Option) options {
	o := options{log: slog.Default()}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// Create formats dev as a new, empty lvstore. Any lvstore on dev is lost.
func Create(dev bdev.Device, name string, clusterSize uint32, opts ...Option) (*Store, error) {
	o := buildOptions(opts)
	if err := checkName("lvstore", name); err != nil {
		return nil, err
	}
	if clusterSize == 0 {
		clusterSize = DefaultClusterSize
	}
	bs := dev.BlockSize()
	cs := uint64(clusterSize)
	if bs != 512 && bs != 4096 {
		return nil, errno(syscall.EINVAL, "create lvstore %s: base block size %d not supported (512 or 4096)", name, bs)
	}
	if cs < 4096 || cs > 1<<30 || cs&(cs-1) != 0 {
		return nil, errno(syscall.EINVAL, "create lvstore %s: cluster size %d must be a power of two between 4 KiB and 1 GiB", name, cs)
	}
	devSize := dev.Size()
	n, err := fitClusters(devSize, cs)
	if err != nil {
		return nil, fmt.Errorf("create lvstore %s: %w", name, err)
	}
	if spdk := spdkDataClusters(devSize, cs, o.mdRatio); spdk > 0 {
		n = min(n, spdk) // capacity.go
	}
	id, err := newUUID()
	if err != nil {
		return nil, fmt.Errorf("create lvstore %s: %w", name, err)
	}
	slot := slotCapacityFor(n)
	sb := superblock{
		blockSize:     uint32(bs),
		clusterSize:   clusterSize,
		devSize:       uint64(devSize),
		id:            id,
		mdOffset:      superSize,
		slotSize:      slot,
		dataOffset:    superSize + numSlots*slot,
		totalClusters: n,
	}
	s := newStore(dev, sb, o.log, name)
	// Wipe any previous superblock first so a crash mid-format leaves
	// "no lvstore" rather than an old superblock over new slots.
	if err := s.writeSync(make([]byte, superSize), 0); err != nil {
		return nil, fmt.Errorf("create lvstore %s: wipe superblock: %w", name, err)
	}
	// The first commit (seq 1) goes to slot 1; clear slot 0's header.
	if err := s.writeSync(make([]byte, 4096), int64(sb.mdOffset)); err != nil {
		return nil, fmt.Errorf("create lvstore %s: wipe slot: %w", name, err)
	}
	s.mdMu.Lock()
	err = s.commitLocked()
	s.mdMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("create lvstore %s: %w", name, err)
	}
	if err := s.writeSync(sb.marshal(), 0); err != nil {
		return nil, fmt.Errorf("create lvstore %s: write superblock: %w", name, err)
	}
	s.log.Info("lvstore created", "name", name, "uuid", id.String(), "cluster_size", cs, "clusters", n)
	return s, nil
}

// fitClusters returns the largest cluster count whose data and worst-case
// metadata fit a device of devSize bytes.
func fitClusters(devSize int64, cs uint64) (uint64, error) {
	minSize := superSize + numSlots*slotCapacityFor(1) + cs
	if devSize < 0 || uint64(devSize) < minSize {
		return 0, errno(syscall.ENOSPC, "device of %d bytes too small for cluster size %d (need at least %d bytes)", devSize, cs, minSize)
	}
	d := uint64(devSize)
	n := (d - superSize - numSlots*(slotHdrSize+mdBaseReserve)) / (cs + numSlots*extentLen)
	n = min(n, 1<<32-1)
	for n > 0 && superSize+numSlots*slotCapacityFor(n)+n*cs > d {
		n--
	}
	if n == 0 {
		return 0, errno(syscall.ENOSPC, "device of %d bytes holds no cluster of %d bytes", devSize, cs)
	}
	return n, nil
}

func newStore(dev bdev.Device, sb superblock, log *slog.Logger, name string) *Store {
	s := &Store{
		dev:    dev,
		sb:     sb,
		log:    log,
		alloc:  newAllocator(uint32(sb.totalClusters)),
		name:   name,
		lvols:  make(map[string]*Lvol),
		byName: make(map[string]*Lvol),
		ext:    make(map[string]bdev.Device),
	}
	// What Open loads is durable: stamps start at 0, below durable.
	s.epoch.Store(1)
	s.durable.Store(1)
	return s
}

func (s *Store) writeSync(b []byte, off int64) error {
	if _, err := s.dev.WriteAt(b, off); err != nil {
		return err
	}
	return s.dev.Flush()
}

// Name is the lvstore name.
func (s *Store) Name() string {
	s.topoMu.RLock()
	defer s.topoMu.RUnlock()
	return s.name
}

// UUID is the lvstore UUID.
func (s *Store) UUID() string { return s.sb.id.String() }

// ClusterSize is the cluster size in bytes.
func (s *Store) ClusterSize() uint64 { return uint64(s.sb.clusterSize) }

// TotalClusters is the number of data clusters.
func (s *Store) TotalClusters() uint64 { return s.sb.totalClusters }

// FreeClusters is the number of clusters not owned by any lvol.
func (s *Store) FreeClusters() uint64 { return s.alloc.freeCount() }

// BlockSize is the block size of the store and its lvols.
func (s *Store) BlockSize() int { return int(s.sb.blockSize) }

// Device is the base device.
func (s *Store) Device() bdev.Device { return s.dev }

// Rename changes the lvstore name.
func (s *Store) Rename(newName string) error {
	if err := checkName("lvstore", newName); err != nil {
		return err
	}
	return s.mdOp(fmt.Sprintf("rename lvstore %s", s.Name()), func() error {
		if err := s.checkRoom(len(newName) - len(s.name)); err != nil {
			return err
		}
		s.topoMu.Lock()
		s.name = newName
		s.topoMu.Unlock()
		return nil
	})
}

// Flush makes every completed write and every cluster allocation durable.
func (s *Store) Flush() error {
	if s.closed.Load() {
		return bdev.ErrClosed
	}
	// Take mdMu even when clean: a commit already under way may have
	// cleared dirty while the slot holding our allocations is unwritten.
	s.mdMu.Lock()
	defer s.mdMu.Unlock()
	if !s.dirty.Load() {
		return s.dev.Flush()
	}
	return s.commitLocked()
}

// Close persists pending metadata and releases the store. The base device
// stays open; it belongs to the caller.
func (s *Store) Close() error {
	s.mdMu.Lock()
	defer s.mdMu.Unlock()
	if s.closed.Load() {
		return nil
	}
	var err error
	if s.dirty.Load() {
		err = s.commitLocked()
	} else {
		err = s.dev.Flush()
	}
	s.closed.Store(true)
	if err != nil {
		return fmt.Errorf("close lvstore %s: %w", s.Name(), err)
	}
	return nil
}

// Destroy deletes every lvol and wipes the superblock and metadata slots,
// so Open finds nothing on the device afterwards.
func (s *Store) Destroy() error {
	s.mdMu.Lock()
	defer s.mdMu.Unlock()
	if s.closed.Load() {
		return fmt.Errorf("destroy lvstore: %w", bdev.ErrClosed)
	}
	for _, lv := range s.snapshotLvols() {
		lv.mu.Lock()
		lv.deleted = true
		lv.mu.Unlock()
	}
	if err := s.writeSync(make([]byte, superSize), 0); err != nil {
		return fmt.Errorf("destroy lvstore %s: wipe superblock: %w", s.Name(), err)
	}
	zero := make([]byte, 4096)
	for i := range uint64(numSlots) {
		if _, err := s.dev.WriteAt(zero, int64(s.sb.mdOffset+i*s.sb.slotSize)); err != nil {
			return fmt.Errorf("destroy lvstore %s: wipe slot %d: %w", s.Name(), i, err)
		}
	}
	if err := s.dev.Flush(); err != nil {
		return fmt.Errorf("destroy lvstore %s: %w", s.Name(), err)
	}
	s.closed.Store(true)
	s.log.Info("lvstore destroyed", "name", s.Name(), "uuid", s.UUID())
	return nil
}

// snapshotLvols returns the lvols sorted by UUID.
func (s *Store) snapshotLvols() []*Lvol {
	s.topoMu.RLock()
	out := make([]*Lvol, 0, len(s.lvols))
	for _, lv := range s.lvols {
		out = append(out, lv)
	}
	s.topoMu.RUnlock()
	slices.SortFunc(out, func(a, b *Lvol) int { return compareUUID(a.id, b.id) })
	return out
}

func compareUUID(a, b uuid) int {
	for i := range a {
		if a[i] != b[i] {
			return int(a[i]) - int(b[i])
		}
	}
	return 0
}

// mdOp runs a metadata operation under the metadata lock and persists it
// before returning. If the commit fails (an I/O error on the base device)
// memory keeps the change, the store stays dirty and the next Flush retries.
func (s *Store) mdOp(what string, fn func() error) error {
	s.mdMu.Lock()
	defer s.mdMu.Unlock()
	if s.closed.Load() {
		return fmt.Errorf("%s: %w", what, bdev.ErrClosed)
	}
	s.mdStamp.Store(s.epoch.Load())
	if err := fn(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := s.commitLocked(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// checkRoom fails with ENOSPC unless the metadata, grown by delta bytes,
// still fits its slot in the worst case (every cluster its own extent).
// Caller holds mdMu.
func (s *Store) checkRoom(delta int) error {
	size := 1 + len(s.name) + 4 + delta
	for _, lv := range s.snapshotLvols() {
		lv.mu.RLock()
		size += lv.fixedLenLocked()
		lv.mu.RUnlock()
	}
	if size > mdBaseReserve {
		return errno(syscall.ENOSPC, "lvstore metadata full (%d of %d bytes for names and xattrs)", size, mdBaseReserve)
	}
	return nil
}
