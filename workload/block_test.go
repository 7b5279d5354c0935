package workload

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"strings"
	"testing"
)

func TestBlockRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		size int
		h    Header
	}{
		{"min block", 512, Header{Volume: "v", Offset: 0, WriteID: 1}},
		{"default", 4096, Header{Volume: "vol-a", Offset: 1 << 20, WriteID: 42, Generation: 7, Writer: 3}},
		{"empty volume", 1024, Header{Offset: 4096, WriteID: 1<<64 - 1}},
		{"longest volume", 8192, Header{Volume: strings.Repeat("x", MaxVolumeLen), Offset: 1 << 40, WriteID: 9, Generation: 1<<64 - 1, Writer: 1<<32 - 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := make([]byte, tt.size)
			if err := Encode(b, tt.h); err != nil {
				t.Fatalf("Encode: %v", err)
			}
			got, err := DecodeAt(b, tt.h.Volume, tt.h.Offset)
			if err != nil {
				t.Fatalf("DecodeAt: %v", err)
			}
			if got != tt.h {
				t.Fatalf("decoded %+v, want %+v", got, tt.h)
			}
		})
	}
}

func TestPayloadDiffersPerWrite(t *testing.T) {
	a, b := make([]byte, 512), make([]byte, 512)
	if err := Encode(a, Header{Volume: "v", Offset: 512, WriteID: 1}); err != nil {
		t.Fatal(err)
	}
	if err := Encode(b, Header{Volume: "v", Offset: 512, WriteID: 2}); err != nil {
		t.Fatal(err)
	}
	if string(a[headerLen:500]) == string(b[headerLen:500]) {
		t.Fatal("two writes to one offset have the same payload")
	}
}

// reseal recomputes the CRC after a test edits a block, so the decoder's
// later checks are reached.
func reseal(b []byte) {
	n := len(b)
	binary.LittleEndian.PutUint32(b[n-4:], crc32.Checksum(b[:n-4], crc32.MakeTable(crc32.Castagnoli)))
}

func TestDecodeErrors(t *testing.T) {
	good := func() []byte {
		b := make([]byte, 1024)
		if err := Encode(b, Header{Volume: "vol", Offset: 8192, WriteID: 5}); err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name   string
		block  func() []byte
		volume string
		offset int64
		want   error
	}{
		{"short", func() []byte { return good()[:100] }, "vol", 8192, ErrBlockSize},
		{"not a multiple of 512", func() []byte { return make([]byte, 1000) }, "vol", 8192, ErrBlockSize},
		{"zeros", func() []byte { return make([]byte, 1024) }, "vol", 8192, ErrZero},
		{"foreign data", func() []byte { b := good(); copy(b, "EXT4 superblock"); return b }, "vol", 8192, ErrNotBlock},
		{"version", func() []byte { b := good(); b[4] = 9; return b }, "vol", 8192, ErrVersion},
		{"flipped payload byte", func() []byte { b := good(); b[600] ^= 0x10; return b }, "vol", 8192, ErrBadCRC},
		{"flipped crc byte", func() []byte { b := good(); b[1023] ^= 1; return b }, "vol", 8192, ErrBadCRC},
		{"block size field", func() []byte { b := good(); binary.LittleEndian.PutUint32(b[8:], 4096); reseal(b); return b }, "vol", 8192, ErrBadHeader},
		{"volume length", func() []byte { b := good(); b[6] = 200; reseal(b); return b }, "vol", 8192, ErrBadHeader},
		{"volume padding", func() []byte { b := good(); b[70] = 'x'; reseal(b); return b }, "vol", 8192, ErrBadHeader},
		{"flags", func() []byte { b := good(); b[7] = 1; reseal(b); return b }, "vol", 8192, ErrBadHeader},
		{"huge offset", func() []byte { b := good(); binary.LittleEndian.PutUint64(b[16:], 1<<63); reseal(b); return b }, "vol", 8192, ErrBadHeader},
		{"payload resealed", func() []byte { b := good(); b[600] ^= 0x10; reseal(b); return b }, "vol", 8192, ErrPayload},
		{"header write id changed", func() []byte { b := good(); b[24]++; reseal(b); return b }, "vol", 8192, ErrPayload},
		{"foreign volume", good, "other", 8192, ErrForeignVolume},
		{"misplaced", good, "vol", 4096, ErrMisplaced},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeAt(tt.block(), tt.volume, tt.offset)
			if !errors.Is(err, tt.want) {
				t.Fatalf("DecodeAt error %v, want %v", err, tt.want)
			}
		})
	}
}

func TestEncodeErrors(t *testing.T) {
	tests := []struct {
		name string
		size int
		h    Header
		want error
	}{
		{"size", 1000, Header{}, ErrBlockSize},
		{"too big", 64 << 20, Header{}, ErrBlockSize},
		{"volume too long", 512, Header{Volume: strings.Repeat("v", 33)}, ErrBadHeader},
		{"negative offset", 512, Header{Offset: -512}, ErrBadHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := Encode(make([]byte, tt.size), tt.h); !errors.Is(err, tt.want) {
				t.Fatalf("Encode error %v, want %v", err, tt.want)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	b := make([]byte, 512)
	if err := Encode(b, Header{Volume: "fuzz", Offset: 512, WriteID: 3}); err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(make([]byte, 512))
	f.Add([]byte("FLTB"))
	f.Add(append([]byte("FLTB\x01\x00\x20\x00"), make([]byte, 504)...))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := Decode(data)
		if err != nil {
			return
		}
		// Whatever decodes must re-encode to the same bytes.
		again := make([]byte, len(data))
		if err := Encode(again, h); err != nil {
			t.Fatalf("decoded header %+v does not encode: %v", h, err)
		}
		if string(again) != string(data) {
			t.Fatalf("decode/encode of %+v is not the identity", h)
		}
	})
}
