package lvstore

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
)

// On-disk constants; docs/ondisk-format.md describes every byte.
const (
	superMagic  = "FLVSTORE"
	slotMagic   = "FLVSMETA"
	formatV1    = 1
	superSize   = 4096 // superblock region at offset 0
	slotHdrSize = 64
	numSlots    = 2
	// Name limits are SPDK's: an lvstore name is 1-63 bytes
	// (SPDK_LVS_NAME_MAX 64), an lvol name 1-255 (SPDK_LVOL_NAME_MAX 256);
	// both are stored behind a one-byte length.
	maxStoreNameLen = 63
	maxLvolNameLen  = 255
	maxExtLen       = 255
	maxXattrKey     = 255
	maxXattrVal     = 4096
	maxXattrs       = 64
	lvolFixedLen    = 16 + 1 + 1 + 16 + 1 + 8 + 8 + 2 + 4
	extentLen       = 12
	// mdBaseReserve is the part of every metadata slot not reserved for
	// extents: names, xattrs and per-lvol fixed fields.
	mdBaseReserve = 256 << 10
)

// lvol flag bits in the metadata record.
const (
	flagThin     = 1 << 0
	flagReadOnly = 1 << 1
	flagSnapshot = 1 << 2
	flagsKnown   = flagThin | flagReadOnly | flagSnapshot
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crc(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// superblock is the immutable geometry written once by Create.
type superblock struct {
	blockSize     uint32
	clusterSize   uint32
	devSize       uint64
	id            uuid
	mdOffset      uint64
	slotSize      uint64
	dataOffset    uint64
	totalClusters uint64
}

func (sb *superblock) marshal() []byte {
	b := make([]byte, superSize)
	copy(b[0:8], superMagic)
	le := binary.LittleEndian
	le.PutUint32(b[8:], formatV1)
	le.PutUint32(b[12:], sb.blockSize)
	le.PutUint32(b[16:], sb.clusterSize)
	le.PutUint64(b[24:], sb.devSize)
	copy(b[32:48], sb.id[:])
	le.PutUint64(b[48:], sb.mdOffset)
	le.PutUint64(b[56:], sb.slotSize)
	le.PutUint32(b[64:], numSlots)
	le.PutUint64(b[72:], sb.dataOffset)
	le.PutUint64(b[80:], sb.totalClusters)
	le.PutUint32(b[superSize-4:], crc(b[:superSize-4]))
	return b
}

// unmarshalSuperblock parses and validates a superblock against the size of
// the device it was read from. A missing magic is ErrNotFound; anything else
// wrong is ErrCorrupt.
func unmarshalSuperblock(b []byte, devSize int64) (*superblock, error) {
	if len(b) < superSize || string(b[0:8]) != superMagic {
		return nil, ErrNotFound
	}
	le := binary.LittleEndian
	if got, want := le.Uint32(b[superSize-4:]), crc(b[:superSize-4]); got != want {
		return nil, corrupt("superblock checksum %#x, want %#x", got, want)
	}
	if v := le.Uint32(b[8:]); v != formatV1 {
		return nil, corrupt("superblock format version %d not supported (want %d)", v, formatV1)
	}
	sb := &superblock{
		blockSize:     le.Uint32(b[12:]),
		clusterSize:   le.Uint32(b[16:]),
		devSize:       le.Uint64(b[24:]),
		mdOffset:      le.Uint64(b[48:]),
		slotSize:      le.Uint64(b[56:]),
		dataOffset:    le.Uint64(b[72:]),
		totalClusters: le.Uint64(b[80:]),
	}
	copy(sb.id[:], b[32:48])
	if n := le.Uint32(b[64:]); n != numSlots {
		return nil, corrupt("superblock has %d metadata slots, want %d", n, numSlots)
	}
	if err := sb.validate(devSize); err != nil {
		return nil, err
	}
	return sb, nil
}

func (sb *superblock) validate(devSize int64) error {
	bs, cs := uint64(sb.blockSize), uint64(sb.clusterSize)
	switch {
	case bs != 512 && bs != 4096:
		return corrupt("block size %d", bs)
	case cs < 4096 || cs > 1<<30 || cs&(cs-1) != 0:
		return corrupt("cluster size %d", cs)
	case sb.mdOffset != superSize:
		return corrupt("metadata offset %d", sb.mdOffset)
	case sb.slotSize < slotHdrSize+mdBaseReserve || sb.slotSize%4096 != 0 || sb.slotSize > 1<<40:
		return corrupt("metadata slot size %d", sb.slotSize)
	case sb.dataOffset != sb.mdOffset+numSlots*sb.slotSize:
		return corrupt("data offset %d", sb.dataOffset)
	case sb.totalClusters == 0 || sb.totalClusters > 1<<32-1:
		return corrupt("total clusters %d", sb.totalClusters)
	case sb.slotSize < slotCapacityFor(sb.totalClusters):
		return corrupt("metadata slot size %d too small for %d clusters", sb.slotSize, sb.totalClusters)
	case devSize < 0 || sb.dataOffset > uint64(devSize) || sb.totalClusters > (uint64(devSize)-sb.dataOffset)/cs:
		return corrupt("%d clusters of %d bytes at %d do not fit a device of %d bytes",
			sb.totalClusters, cs, sb.dataOffset, devSize)
	}
	return nil
}

// slotCapacityFor is the slot size that holds the worst case for a store of
// n clusters: every cluster its own extent, plus the fixed reserve.
func slotCapacityFor(n uint64) uint64 {
	return roundUp(slotHdrSize+mdBaseReserve+extentLen*n, 4096)
}

func roundUp(x, m uint64) uint64 { return (x + m - 1) / m * m }

// slotHeader precedes the metadata payload in a slot.
type slotHeader struct {
	seq        uint64
	payloadLen uint64
	payloadCRC uint32
	store      uuid
}

func (h *slotHeader) marshal() []byte {
	b := make([]byte, slotHdrSize)
	le := binary.LittleEndian
	copy(b[0:8], slotMagic)
	le.PutUint32(b[8:], formatV1)
	le.PutUint32(b[12:], slotHdrSize)
	le.PutUint64(b[16:], h.seq)
	le.PutUint64(b[24:], h.payloadLen)
	le.PutUint32(b[32:], h.payloadCRC)
	copy(b[36:52], h.store[:])
	le.PutUint32(b[60:], crc(b[:60]))
	return b
}

// unmarshalSlotHeader validates a slot header; maxPayload bounds the length.
func unmarshalSlotHeader(b []byte, store uuid, maxPayload uint64) (*slotHeader, error) {
	le := binary.LittleEndian
	switch {
	case len(b) < slotHdrSize || string(b[0:8]) != slotMagic:
		return nil, corrupt("slot magic missing")
	case le.Uint32(b[60:]) != crc(b[:60]):
		return nil, corrupt("slot header checksum mismatch")
	case le.Uint32(b[8:]) != formatV1 || le.Uint32(b[12:]) != slotHdrSize:
		return nil, corrupt("slot version %d header size %d", le.Uint32(b[8:]), le.Uint32(b[12:]))
	}
	h := &slotHeader{seq: le.Uint64(b[16:]), payloadLen: le.Uint64(b[24:]), payloadCRC: le.Uint32(b[32:])}
	copy(h.store[:], b[36:52])
	if h.store != store {
		return nil, corrupt("slot belongs to lvstore %s, not %s", h.store, store)
	}
	if h.payloadLen > maxPayload {
		return nil, corrupt("slot payload length %d exceeds %d", h.payloadLen, maxPayload)
	}
	return h, nil
}

// mdState is the decoded metadata payload.
type mdState struct {
	name  string
	lvols []mdLvol
}

type mdLvol struct {
	id          uuid
	name        string
	flags       uint8
	parent      uuid
	ext         string
	numClusters uint64
	created     int64
	xattrs      [][2]string // sorted by key
	extents     []extent    // sorted by virt, non-overlapping
}

// extent maps n consecutive virtual clusters to n consecutive physical ones.
type extent struct{ virt, phys, n uint32 }

// fixedLen is the encoded size of the record without its extents.
func (l *mdLvol) fixedLen() int {
	n := lvolFixedLen + len(l.name) + len(l.ext)
	for _, kv := range l.xattrs {
		n += 1 + len(kv[0]) + 2 + len(kv[1])
	}
	return n
}

func (m *mdState) encode() []byte {
	var buf bytes.Buffer
	le := binary.LittleEndian
	put8 := func(v uint8) { buf.WriteByte(v) }
	put16 := func(v uint16) { buf.Write(le.AppendUint16(nil, v)) }
	put32 := func(v uint32) { buf.Write(le.AppendUint32(nil, v)) }
	put64 := func(v uint64) { buf.Write(le.AppendUint64(nil, v)) }
	put8(uint8(len(m.name)))
	buf.WriteString(m.name)
	put32(uint32(len(m.lvols)))
	for i := range m.lvols {
		l := &m.lvols[i]
		buf.Write(l.id[:])
		put8(uint8(len(l.name)))
		buf.WriteString(l.name)
		put8(l.flags)
		buf.Write(l.parent[:])
		put8(uint8(len(l.ext)))
		buf.WriteString(l.ext)
		put64(l.numClusters)
		put64(uint64(l.created))
		put16(uint16(len(l.xattrs)))
		for _, kv := range l.xattrs {
			put8(uint8(len(kv[0])))
			buf.WriteString(kv[0])
			put16(uint16(len(kv[1])))
			buf.WriteString(kv[1])
		}
		put32(uint32(len(l.extents)))
		for _, e := range l.extents {
			put32(e.virt)
			put32(e.phys)
			put32(e.n)
		}
	}
	return buf.Bytes()
}

// reader decodes a payload; every read is bounds-checked and the first
// failure sticks.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b)-r.off {
		r.err = corrupt("metadata truncated at byte %d (need %d more)", r.off, n)
		return nil
	}
	p := r.b[r.off : r.off+n]
	r.off += n
	return p
}

func (r *reader) u8() uint8 {
	if p := r.take(1); p != nil {
		return p[0]
	}
	return 0
}

func (r *reader) u16() uint16 {
	if p := r.take(2); p != nil {
		return binary.LittleEndian.Uint16(p)
	}
	return 0
}

func (r *reader) u32() uint32 {
	if p := r.take(4); p != nil {
		return binary.LittleEndian.Uint32(p)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if p := r.take(8); p != nil {
		return binary.LittleEndian.Uint64(p)
	}
	return 0
}

func (r *reader) str(n int) string { return string(r.take(n)) }

// decodeState parses a payload. It checks only the encoding; semantic checks
// (cluster ownership, parents, names) are done by the loader.
func decodeState(b []byte) (*mdState, error) {
	r := &reader{b: b}
	m := &mdState{name: r.str(int(r.u8()))}
	count := r.u32()
	if r.err == nil && uint64(count) > uint64(len(b))/lvolFixedLen {
		return nil, corrupt("lvol count %d does not fit a payload of %d bytes", count, len(b))
	}
	m.lvols = make([]mdLvol, 0, count)
	for i := uint32(0); i < count && r.err == nil; i++ {
		var l mdLvol
		copy(l.id[:], r.take(16))
		l.name = r.str(int(r.u8()))
		l.flags = r.u8()
		copy(l.parent[:], r.take(16))
		l.ext = r.str(int(r.u8()))
		l.numClusters = r.u64()
		l.created = int64(r.u64())
		nx := int(r.u16())
		if nx > maxXattrs {
			return nil, corrupt("lvol %d has %d xattrs (max %d)", i, nx, maxXattrs)
		}
		for j := 0; j < nx && r.err == nil; j++ {
			k := r.str(int(r.u8()))
			v := r.str(int(r.u16()))
			l.xattrs = append(l.xattrs, [2]string{k, v})
		}
		ne := r.u32()
		if r.err == nil && uint64(ne) > uint64(len(b)-r.off)/extentLen {
			return nil, corrupt("lvol %d claims %d extents beyond the payload", i, ne)
		}
		if r.err == nil {
			l.extents = make([]extent, ne)
		}
		for j := range l.extents {
			l.extents[j] = extent{virt: r.u32(), phys: r.u32(), n: r.u32()}
		}
		m.lvols = append(m.lvols, l)
	}
	if r.err != nil {
		return nil, r.err
	}
	if r.off != len(b) {
		return nil, corrupt("%d trailing bytes after metadata", len(b)-r.off)
	}
	return m, nil
}
