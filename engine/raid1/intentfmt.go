package raid1

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/faultline/faultline/engine/bdev"
)

// On-disk format of a member's write-intent bitmap device (one per
// replica, beside its data):
//
//	block 0 (4 KiB)   header: magic "RFWIBMP1", version, flags, region
//	                  size, volume size, region count, events, CRC-32C
//	from 4 KiB        one bit per region, region i in byte i/8, bit i%8
//	                  (least significant first); a set bit means writes to
//	                  the region may be in flight or not yet flushed on
//	                  every member
//
// The header is rewritten only when the raid starts, when a member fails
// (events counts failures, so a member that missed writes carries a lower
// count than the others) and when a member joins. Bitmap pages are rewritten
// as bits change, one 4 KiB page per write.
const (
	// DefaultRegionSize is the span of one bit: a write dirties every 1 MiB
	// region it touches, and a resync after a crash copies whole regions.
	// It equals the cluster size of managed disks.
	DefaultRegionSize = 1 << 20
	// intentPage is the unit of header and bitmap writes.
	intentPage     = 4096
	intentVersion  = 1
	intentHdrBytes = 8 + 4 + 4 + 8*4 + 4
	// bitsPerPage is how many regions one bitmap page covers.
	bitsPerPage = intentPage * 8
)

var intentMagic = [8]byte{'R', 'F', 'W', 'I', 'B', 'M', 'P', '1'}

// intentFlagAllDirty marks a bitmap whose history is unknown (formatted
// beside data that existed before it): every region must be compared.
const intentFlagAllDirty = 1

// intentFlagRebuilding marks the bitmap of a write-only member: its data
// is complete only where the rebuild has reached, so neither its event
// count nor its bits say what it holds. The raid clears the flag when the
// member turns RW. Without it, a member that joined write-only carries
// the raid's event count, and raises it with the others when a member
// fails: after a crash of every RW member it looked at least as new as
// they did, and auto-salvage revived it without its rebuild
// (salvage-stale-replica-not-chosen found this).
const intentFlagRebuilding = 2

// ErrNoIntent is wrapped by ReadIntent when a device holds no valid
// bitmap: never formatted, or damaged.
var ErrNoIntent = errors.New("no valid write-intent bitmap")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// intentHeader is block 0 of a bitmap device.
type intentHeader struct {
	flags      uint32
	regionSize int64
	volumeSize int64
	regions    int64
	events     uint64
}

func (h intentHeader) allDirty() bool { return h.flags&intentFlagAllDirty != 0 }

func (h intentHeader) rebuilding() bool { return h.flags&intentFlagRebuilding != 0 }

// inSync reports whether the bitmap describes its member's data: neither
// of unknown history nor of a member still being rebuilt.
func (h intentHeader) inSync() bool { return !h.allDirty() && !h.rebuilding() }

func (h intentHeader) marshal() []byte {
	b := make([]byte, intentPage)
	copy(b, intentMagic[:])
	binary.LittleEndian.PutUint32(b[8:], intentVersion)
	binary.LittleEndian.PutUint32(b[12:], h.flags)
	binary.LittleEndian.PutUint64(b[16:], uint64(h.regionSize))
	binary.LittleEndian.PutUint64(b[24:], uint64(h.volumeSize))
	binary.LittleEndian.PutUint64(b[32:], uint64(h.regions))
	binary.LittleEndian.PutUint64(b[40:], h.events)
	binary.LittleEndian.PutUint32(b[48:], crc32.Checksum(b[:48], castagnoli))
	return b
}

func unmarshalIntentHeader(b []byte) (intentHeader, error) {
	if len(b) < intentHdrBytes || [8]byte(b[:8]) != intentMagic {
		return intentHeader{}, fmt.Errorf("%w: bad magic", ErrNoIntent)
	}
	if got, want := binary.LittleEndian.Uint32(b[48:]), crc32.Checksum(b[:48], castagnoli); got != want {
		return intentHeader{}, fmt.Errorf("%w: header checksum %08x, want %08x", ErrNoIntent, got, want)
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v != intentVersion {
		return intentHeader{}, fmt.Errorf("%w: version %d not supported", ErrNoIntent, v)
	}
	h := intentHeader{
		flags:      binary.LittleEndian.Uint32(b[12:]),
		regionSize: int64(binary.LittleEndian.Uint64(b[16:])),
		volumeSize: int64(binary.LittleEndian.Uint64(b[24:])),
		regions:    int64(binary.LittleEndian.Uint64(b[32:])),
		events:     binary.LittleEndian.Uint64(b[40:]),
	}
	rs := h.regionSize
	if rs < intentPage || rs&(rs-1) != 0 || h.volumeSize <= 0 || h.regions != regionsFor(h.volumeSize, rs) {
		return intentHeader{}, fmt.Errorf("%w: region size %d, volume size %d, %d regions do not agree", ErrNoIntent, rs, h.volumeSize, h.regions)
	}
	return h, nil
}

func regionsFor(volumeSize, regionSize int64) int64 {
	return (volumeSize + regionSize - 1) / regionSize
}

// bitmapPages is the number of bitmap pages after the header.
func bitmapPages(regions int64) int64 {
	return (regions + bitsPerPage - 1) / bitsPerPage
}

// IntentDeviceSize is the smallest bitmap device for a volume of
// volumeSize bytes with DefaultRegionSize regions.
func IntentDeviceSize(volumeSize int64) int64 {
	return intentPage * (1 + bitmapPages(regionsFor(volumeSize, DefaultRegionSize)))
}

// FormatIntent writes a header and a clear bitmap for a volume of
// volumeSize bytes to dev, durably. With allDirty the bitmap says that
// nothing is known of the data beside it (a replica that existed before
// its bitmap), so the next start compares every region.
func FormatIntent(dev bdev.Device, volumeSize int64, allDirty bool) error {
	h := intentHeader{regionSize: DefaultRegionSize, volumeSize: volumeSize, regions: regionsFor(volumeSize, DefaultRegionSize)}
	if allDirty {
		h.flags |= intentFlagAllDirty
	}
	if need := intentPage * (1 + bitmapPages(h.regions)); dev.Size() < need {
		return fmt.Errorf("format write-intent bitmap: device holds %d bytes, a %d-byte volume needs %d", dev.Size(), volumeSize, need)
	}
	zero := make([]byte, intentPage)
	for p := range bitmapPages(h.regions) {
		if _, err := dev.WriteAt(zero, intentPage*(1+p)); err != nil {
			return fmt.Errorf("format write-intent bitmap page %d: %w", p, err)
		}
	}
	if _, err := dev.WriteAt(h.marshal(), 0); err != nil {
		return fmt.Errorf("format write-intent bitmap header: %w", err)
	}
	if err := dev.Flush(); err != nil {
		return fmt.Errorf("format write-intent bitmap: %w", err)
	}
	return nil
}

// intentImage is what one member's bitmap device says.
type intentImage struct {
	hdr  intentHeader
	bits []byte // bitmap bytes, one bit per region of hdr.regionSize
}

// dirtyBytes calls fn with the byte range of every dirty region, clamped
// to the volume size.
func (im intentImage) dirtyBytes(fn func(off, end int64)) {
	for i := int64(0); i < im.hdr.regions; i++ {
		if im.bits[i/8]&(1<<(i%8)) != 0 {
			off := i * im.hdr.regionSize
			fn(off, min(off+im.hdr.regionSize, im.hdr.volumeSize))
		}
	}
}

// IntentEvents reads the event count of a bitmap device's header; a
// member that was being rebuilt counts 0, below every member that was in
// sync, whatever the raid last wrote to it.
func IntentEvents(dev bdev.Device) (uint64, error) {
	hb := make([]byte, intentPage)
	if _, err := dev.ReadAt(hb, 0); err != nil {
		return 0, fmt.Errorf("read write-intent header: %w", err)
	}
	h, err := unmarshalIntentHeader(hb)
	if err != nil {
		return 0, err
	}
	if h.rebuilding() {
		return 0, nil
	}
	return h.events, nil
}

// readIntent reads and checks a member's bitmap device.
func readIntent(dev bdev.Device) (intentImage, error) {
	hb := make([]byte, intentPage)
	if _, err := dev.ReadAt(hb, 0); err != nil {
		return intentImage{}, fmt.Errorf("read write-intent header: %w", err)
	}
	h, err := unmarshalIntentHeader(hb)
	if err != nil {
		return intentImage{}, err
	}
	pages := bitmapPages(h.regions)
	if dev.Size() < intentPage*(1+pages) {
		return intentImage{}, fmt.Errorf("%w: device of %d bytes is too small for %d regions", ErrNoIntent, dev.Size(), h.regions)
	}
	bits := make([]byte, pages*intentPage)
	if _, err := dev.ReadAt(bits, intentPage); err != nil {
		return intentImage{}, fmt.Errorf("read write-intent bitmap: %w", err)
	}
	return intentImage{hdr: h, bits: bits}, nil
}
