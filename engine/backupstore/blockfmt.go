package backupstore

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/pierrec/lz4/v4"
)

// Compression names how a stored block's payload is encoded.
type Compression string

const (
	CompressionNone Compression = "none"
	CompressionLZ4  Compression = "lz4"
	CompressionGzip Compression = "gzip"
)

// Valid reports whether c is one this package reads and writes.
func (c Compression) Valid() bool {
	return c == CompressionNone || c == CompressionLZ4 || c == CompressionGzip
}

// Stored block header: 16 bytes in front of every block object, so that a
// reader never guesses how to decode what it fetched.
//
//	0  4  magic "FLBK"
//	4  1  format version (1)
//	5  1  compression: 0 none, 1 lz4 (block format), 2 gzip
//	6  2  reserved, zero
//	8  4  uncompressed length, big endian, 1..BlockSize
//	12 4  payload length, big endian (what follows the header)
const (
	blockMagic      = "FLBK"
	blockVersion    = 1
	blockHeaderSize = 16
)

// compressionCode is the header byte for c.
func compressionCode(c Compression) byte {
	switch c {
	case CompressionLZ4:
		return 1
	case CompressionGzip:
		return 2
	}
	return 0
}

// encodeBlock compresses data as asked and prepends the header. When the
// compressed form would not be smaller the block is stored uncompressed:
// the header says so, and the manifest's compression is only the request.
func encodeBlock(data []byte, c Compression) ([]byte, error) {
	if len(data) == 0 || len(data) > BlockSize {
		return nil, fmt.Errorf("encode block: length %d out of range", len(data))
	}
	payload, used := data, CompressionNone
	switch c {
	case CompressionLZ4:
		buf := make([]byte, lz4.CompressBlockBound(len(data)))
		var comp lz4.Compressor
		n, err := comp.CompressBlock(data, buf)
		if err != nil {
			return nil, fmt.Errorf("encode block: lz4: %w", err)
		}
		if n > 0 && n < len(data) {
			payload, used = buf[:n], CompressionLZ4
		}
	case CompressionGzip:
		var b bytes.Buffer
		w, err := gzip.NewWriterLevel(&b, gzip.BestSpeed)
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(data); err != nil {
			return nil, fmt.Errorf("encode block: gzip: %w", err)
		}
		if err := w.Close(); err != nil {
			return nil, fmt.Errorf("encode block: gzip: %w", err)
		}
		if b.Len() < len(data) {
			payload, used = b.Bytes(), CompressionGzip
		}
	case CompressionNone:
	default:
		return nil, fmt.Errorf("encode block: unknown compression %q", c)
	}
	out := make([]byte, blockHeaderSize+len(payload))
	copy(out, blockMagic)
	out[4] = blockVersion
	out[5] = compressionCode(used)
	binary.BigEndian.PutUint32(out[8:], uint32(len(data)))
	binary.BigEndian.PutUint32(out[12:], uint32(len(payload)))
	copy(out[blockHeaderSize:], payload)
	return out, nil
}

// decodeBlock checks the header and returns the uncompressed bytes. It
// never allocates more than BlockSize for the result, whatever the header
// claims, and wraps ErrCorrupt for anything it cannot decode exactly.
func decodeBlock(obj []byte) ([]byte, error) {
	if len(obj) < blockHeaderSize {
		return nil, corrupt("block: %d bytes, shorter than its header", len(obj))
	}
	if string(obj[:4]) != blockMagic {
		return nil, corrupt("block: bad magic %q", obj[:4])
	}
	if obj[4] != blockVersion {
		return nil, corrupt("block: unknown format version %d", obj[4])
	}
	if obj[6] != 0 || obj[7] != 0 {
		return nil, corrupt("block: reserved header bytes set")
	}
	size := binary.BigEndian.Uint32(obj[8:])
	plen := binary.BigEndian.Uint32(obj[12:])
	if size == 0 || size > BlockSize {
		return nil, corrupt("block: uncompressed length %d out of range", size)
	}
	payload := obj[blockHeaderSize:]
	if uint64(len(payload)) != uint64(plen) {
		return nil, corrupt("block: payload is %d bytes, header says %d", len(payload), plen)
	}
	switch obj[5] {
	case 0:
		if plen != size {
			return nil, corrupt("block: uncompressed payload of %d bytes, header says %d", plen, size)
		}
		return payload, nil
	case 1:
		out := make([]byte, size)
		n, err := lz4.UncompressBlock(payload, out)
		if err != nil || n != int(size) {
			return nil, corrupt("block: lz4 payload does not decode to %d bytes (%d, %v)", size, n, err)
		}
		return out, nil
	case 2:
		r, err := gzip.NewReader(bytes.NewReader(payload))
		if err != nil {
			return nil, corrupt("block: gzip: %v", err)
		}
		out := make([]byte, size)
		if _, err := io.ReadFull(r, out); err != nil {
			return nil, corrupt("block: gzip payload shorter than %d bytes: %v", size, err)
		}
		if n, _ := r.Read(make([]byte, 1)); n != 0 {
			return nil, corrupt("block: gzip payload longer than %d bytes", size)
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			return nil, corrupt("block: gzip: %v", err)
		}
		return out, nil
	default:
		return nil, corrupt("block: unknown compression code %d", obj[5])
	}
}
