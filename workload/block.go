package workload

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/fnv"
)

// Block layout, version 1 (docs/block-format.md has the same table). All
// integers are little-endian. A block is BlockSize bytes, a multiple of 512
// and at least 512:
//
//	off  size  field
//	0    4     magic "FLTB"
//	4    2     format version (1)
//	6    1     length of the volume id (0..32)
//	7    1     flags (0; reserved)
//	8    4     block size in bytes
//	12   4     writer id
//	16   8     device offset the block was written to
//	24   8     write id (unique within a history)
//	32   8     generation (caller-chosen epoch, e.g. the fault iteration)
//	40   32    volume id, zero-padded
//	72   n-76  payload: a splitmix64 stream seeded from (volume, offset, write id)
//	n-4  4     CRC32C (Castagnoli) of bytes 0..n-4
//
// The payload is deterministic so that a block whose CRC matches but whose
// body was assembled from pieces of other blocks is still caught.
const (
	Magic          = "FLTB"
	FormatVersion  = 1
	MaxVolumeLen   = 32
	MinBlockSize   = 512
	DefaultBlock   = 4096
	headerLen      = 72
	crcLen         = 4
	maxBlockLength = 32 << 20 // an NBD request's bound
)

// Errors Decode returns, wrapped with the detail of the mismatch. Callers
// test them with errors.Is.
var (
	ErrBlockSize     = errors.New("invalid block size")
	ErrZero          = errors.New("block is all zeros (never written)")
	ErrNotBlock      = errors.New("not a workload block (bad magic)")
	ErrVersion       = errors.New("unsupported block format version")
	ErrBadCRC        = errors.New("block checksum mismatch")
	ErrBadHeader     = errors.New("invalid block header")
	ErrPayload       = errors.New("block payload does not match its header")
	ErrForeignVolume = errors.New("block belongs to another volume")
	ErrMisplaced     = errors.New("block written for another offset (misplaced)")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Header is what a block says about itself.
type Header struct {
	Volume     string `json:"volume"`
	Offset     int64  `json:"offset"`
	WriteID    uint64 `json:"write_id"`
	Generation uint64 `json:"generation"`
	Writer     uint32 `json:"writer"`
}

// CheckBlockSize reports whether n is a usable block size.
func CheckBlockSize(n int) error {
	if n < MinBlockSize || n%MinBlockSize != 0 || n > maxBlockLength {
		return fmt.Errorf("%w: %d (want a multiple of %d from %d to %d)", ErrBlockSize, n, MinBlockSize, MinBlockSize, maxBlockLength)
	}
	return nil
}

// Encode fills dst, whose length is the block size, with the block that h
// describes.
func Encode(dst []byte, h Header) error {
	if err := CheckBlockSize(len(dst)); err != nil {
		return err
	}
	if len(h.Volume) > MaxVolumeLen {
		return fmt.Errorf("%w: volume id %q longer than %d bytes", ErrBadHeader, h.Volume, MaxVolumeLen)
	}
	if h.Offset < 0 {
		return fmt.Errorf("%w: negative offset %d", ErrBadHeader, h.Offset)
	}
	n := len(dst)
	clear(dst[:headerLen])
	copy(dst[0:4], Magic)
	binary.LittleEndian.PutUint16(dst[4:], FormatVersion)
	dst[6] = byte(len(h.Volume))
	binary.LittleEndian.PutUint32(dst[8:], uint32(n))
	binary.LittleEndian.PutUint32(dst[12:], h.Writer)
	binary.LittleEndian.PutUint64(dst[16:], uint64(h.Offset))
	binary.LittleEndian.PutUint64(dst[24:], h.WriteID)
	binary.LittleEndian.PutUint64(dst[32:], h.Generation)
	copy(dst[40:40+MaxVolumeLen], h.Volume)
	fillPayload(dst[headerLen:n-crcLen], h)
	binary.LittleEndian.PutUint32(dst[n-crcLen:], crc32.Checksum(dst[:n-crcLen], castagnoli))
	return nil
}

// Decode parses a block read from a device. It checks, in order: the
// length, all-zero (ErrZero), magic, version, CRC, header fields and the
// payload, and returns the first mismatch. It does not know where the block
// was read from; DecodeAt adds that.
func Decode(b []byte) (Header, error) {
	n := len(b)
	if err := CheckBlockSize(n); err != nil {
		return Header{}, err
	}
	if isZero(b) {
		return Header{}, ErrZero
	}
	if string(b[0:4]) != Magic {
		return Header{}, fmt.Errorf("%w: starts with %q", ErrNotBlock, b[0:4])
	}
	if v := binary.LittleEndian.Uint16(b[4:]); v != FormatVersion {
		return Header{}, fmt.Errorf("%w: %d (this build reads %d)", ErrVersion, v, FormatVersion)
	}
	stored := binary.LittleEndian.Uint32(b[n-crcLen:])
	if sum := crc32.Checksum(b[:n-crcLen], castagnoli); sum != stored {
		return Header{}, fmt.Errorf("%w: stored %08x, computed %08x", ErrBadCRC, stored, sum)
	}
	if bs := binary.LittleEndian.Uint32(b[8:]); bs != uint32(n) {
		return Header{}, fmt.Errorf("%w: written as a %d-byte block, read as %d", ErrBadHeader, bs, n)
	}
	vlen := int(b[6])
	if vlen > MaxVolumeLen {
		return Header{}, fmt.Errorf("%w: volume id length %d", ErrBadHeader, vlen)
	}
	if !isZero(b[40+vlen : 40+MaxVolumeLen]) {
		return Header{}, fmt.Errorf("%w: volume id padding is not zero", ErrBadHeader)
	}
	if b[7] != 0 {
		return Header{}, fmt.Errorf("%w: unknown flags %#x", ErrBadHeader, b[7])
	}
	off := binary.LittleEndian.Uint64(b[16:])
	if off > 1<<62 {
		return Header{}, fmt.Errorf("%w: offset %d out of range", ErrBadHeader, off)
	}
	h := Header{
		Volume:     string(b[40 : 40+vlen]),
		Offset:     int64(off),
		WriteID:    binary.LittleEndian.Uint64(b[24:]),
		Generation: binary.LittleEndian.Uint64(b[32:]),
		Writer:     binary.LittleEndian.Uint32(b[12:]),
	}
	if !payloadMatches(b[headerLen:n-crcLen], h) {
		return h, fmt.Errorf("%w: volume %q offset %d write %d", ErrPayload, h.Volume, h.Offset, h.WriteID)
	}
	return h, nil
}

// DecodeAt decodes a block read at offset off of volume and checks that it
// was written there for that volume. A valid block of another volume gives
// ErrForeignVolume; one written for another offset gives ErrMisplaced. The
// header is returned with either error so evidence can name the stray block.
func DecodeAt(b []byte, volume string, off int64) (Header, error) {
	h, err := Decode(b)
	if err != nil {
		return h, err
	}
	if h.Volume != volume {
		return h, fmt.Errorf("%w: read from %q at %d, written by %q", ErrForeignVolume, volume, off, h.Volume)
	}
	if h.Offset != off {
		return h, fmt.Errorf("%w: read at %d, written for %d (write %d)", ErrMisplaced, off, h.Offset, h.WriteID)
	}
	return h, nil
}

func isZero(b []byte) bool {
	for len(b) > 0 {
		k := min(len(b), len(zeroPage))
		if !bytes.Equal(b[:k], zeroPage[:k]) {
			return false
		}
		b = b[k:]
	}
	return true
}

var zeroPage [4096]byte

// payloadSeed mixes the identity of a write into one 64-bit seed.
func payloadSeed(h Header) uint64 {
	f := fnv.New64a()
	f.Write([]byte(h.Volume))
	s := f.Sum64()
	s ^= mix64(uint64(h.Offset) + 0x9e3779b97f4a7c15)
	s ^= mix64(h.WriteID ^ 0xbf58476d1ce4e5b9)
	return s
}

// mix64 is splitmix64's finaliser.
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// payloadWord advances the payload stream and returns its next word.
func payloadWord(state *uint64) uint64 {
	*state += 0x9e3779b97f4a7c15
	return mix64(*state)
}

func fillPayload(p []byte, h Header) {
	state := payloadSeed(h)
	var w [8]byte
	for i := 0; i < len(p); i += 8 {
		binary.LittleEndian.PutUint64(w[:], payloadWord(&state))
		copy(p[i:], w[:])
	}
}

func payloadMatches(p []byte, h Header) bool {
	state := payloadSeed(h)
	var w [8]byte
	for i := 0; i < len(p); i += 8 {
		binary.LittleEndian.PutUint64(w[:], payloadWord(&state))
		k := min(8, len(p)-i)
		if !bytes.Equal(p[i:i+k], w[:k]) {
			return false
		}
	}
	return true
}
