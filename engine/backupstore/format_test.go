package backupstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

func TestBlockFormat(t *testing.T) {
	text := bytes.Repeat([]byte("refengine backup block "), 1000)
	random := testVolume(BlockSize, 4).b
	for _, tc := range []struct {
		name     string
		data     []byte
		c        Compression
		wantCode byte
	}{
		{"none", text, CompressionNone, 0},
		{"lz4", text, CompressionLZ4, 1},
		{"gzip", text, CompressionGzip, 2},
		{"lz4 half random", random, CompressionLZ4, 1},
		{"lz4 incompressible stays raw", random[:4096], CompressionLZ4, 0},
		{"gzip incompressible stays raw", random[:4096], CompressionGzip, 0},
		{"one byte", []byte{7}, CompressionGzip, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obj, err := encodeBlock(tc.data, tc.c)
			if err != nil {
				t.Fatal(err)
			}
			if obj[5] != tc.wantCode {
				t.Errorf("compression code %d, want %d", obj[5], tc.wantCode)
			}
			got, err := decodeBlock(obj)
			if err != nil || !bytes.Equal(got, tc.data) {
				t.Fatalf("round trip: %v", err)
			}
			for _, cut := range []int{0, 3, blockHeaderSize - 1, blockHeaderSize, len(obj) - 1} {
				if _, err := decodeBlock(obj[:cut]); !errors.Is(err, ErrCorrupt) {
					t.Errorf("decode of %d of %d bytes: %v, want ErrCorrupt", cut, len(obj), err)
				}
			}
		})
	}
	for _, bad := range [][]byte{nil, make([]byte, BlockSize+1)} {
		if _, err := encodeBlock(bad, CompressionNone); err == nil {
			t.Errorf("encodeBlock of %d bytes succeeded", len(bad))
		}
	}
}

// FuzzDecodeBlock: arbitrary bytes decode to at most BlockSize bytes or
// ErrCorrupt, never a panic; what decodes re-encodes to the same data.
func FuzzDecodeBlock(f *testing.F) {
	for _, c := range []Compression{CompressionNone, CompressionLZ4, CompressionGzip} {
		obj, err := encodeBlock(bytes.Repeat([]byte("abcd"), 300), c)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(obj)
	}
	f.Add([]byte("FLBK\x01\x01\x00\x00\x00\x20\x00\x00\x00\x00\x00\x01\x00"))
	f.Fuzz(func(t *testing.T, obj []byte) {
		data, err := decodeBlock(obj)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		if len(data) == 0 || len(data) > BlockSize {
			t.Fatalf("decoded %d bytes", len(data))
		}
		re, err := encodeBlock(data, CompressionNone)
		if err != nil {
			t.Fatal(err)
		}
		if again, err := decodeBlock(re); err != nil || !bytes.Equal(again, data) {
			t.Fatalf("re-encode: %v", err)
		}
	})
}

func testManifest() *Manifest {
	return &Manifest{
		Version: manifestVersion, Name: "b1", Volume: "vol", Snapshot: "s1",
		CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Size: 3*BlockSize + 512, BlockSize: BlockSize,
		BlockMap: []BlockEntry{{0, ZeroHash}, {2 * BlockSize, ZeroHash[:63] + "1"}, {3 * BlockSize, ZeroHash}},
		Labels:   map[string]string{"a": "b"}, Compression: CompressionLZ4,
	}
}

func TestManifestDecode(t *testing.T) {
	good, err := encodeManifest(testManifest())
	if err != nil {
		t.Fatal(err)
	}
	m, err := decodeManifest(good)
	if err != nil || m.Name != "b1" || len(m.BlockMap) != 3 {
		t.Fatalf("round trip: %+v, %v", m, err)
	}
	for _, tc := range []struct {
		name   string
		mutate func(m *Manifest)
	}{
		{"version", func(m *Manifest) { m.Version = 2 }},
		{"block size", func(m *Manifest) { m.BlockSize = 4096 }},
		{"compression", func(m *Manifest) { m.Compression = "zstd" }},
		{"volume name", func(m *Manifest) { m.Volume = "../x" }},
		{"negative size", func(m *Manifest) { m.Size = -1 }},
		{"unaligned offset", func(m *Manifest) { m.BlockMap[1].Offset = 4096 }},
		{"offset past size", func(m *Manifest) { m.BlockMap[2].Offset = 4 * BlockSize }},
		{"offsets out of order", func(m *Manifest) { m.BlockMap[0].Offset = 2 * BlockSize }},
		{"bad hash", func(m *Manifest) { m.BlockMap[0].SHA256 = "XYZ" }},
	} {
		m := testManifest()
		tc.mutate(m)
		data, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := decodeManifest(data); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", tc.name, err)
		}
	}
	for _, raw := range []string{"", "{", string(good[:len(good)/2]), string(good) + "{}", "null", "[]"} {
		if _, err := decodeManifest([]byte(raw)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("decode %.20q...: %v, want ErrCorrupt", raw, err)
		}
	}
}

// FuzzDecodeManifest: arbitrary bytes give a manifest that passes
// validation and re-encodes, or ErrCorrupt; never a panic.
func FuzzDecodeManifest(f *testing.F) {
	good, err := encodeManifest(testManifest())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte(`{"version":1,"name":"a","volume":"v","size":1,"blockSize":2097152,"compression":"none","blockMap":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decodeManifest(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		re, err := encodeManifest(m)
		if err != nil {
			t.Fatalf("a decoded manifest does not encode: %v", err)
		}
		if _, err := decodeManifest(re); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		for _, e := range m.BlockMap {
			if e.Offset%BlockSize != 0 || e.Offset >= m.Size {
				t.Fatalf("accepted offset %d for size %d", e.Offset, m.Size)
			}
		}
	})
}
