package backupstore

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// manifestVersion is written into every manifest; a reader refuses others.
const manifestVersion = 1

// Manifest describes one backup. It is the only record that the backup
// exists, and it is complete on its own: BlockMap lists every block of the
// volume that holds data or that a previous backup held data in and has
// since become zero (those carry ZeroHash). A block absent from the map is
// zero and was never backed up.
type Manifest struct {
	Version     int               `json:"version"`
	Name        string            `json:"name"`
	Volume      string            `json:"volume"`
	Snapshot    string            `json:"snapshot"`
	CreatedAt   time.Time         `json:"createdAt"`
	Size        int64             `json:"size"`
	BlockSize   int64             `json:"blockSize"`
	BlockMap    []BlockEntry      `json:"blockMap"`
	Labels      map[string]string `json:"labels,omitempty"`
	Compression Compression       `json:"compression"`
}

// BlockEntry maps the block at Offset to the SHA-256 of its uncompressed
// bytes (ZeroHash for an explicitly zeroed block).
type BlockEntry struct {
	Offset int64  `json:"offset"`
	SHA256 string `json:"sha256"`
}

// maxManifestSize bounds what decodeManifest accepts: a 64 TiB volume has
// 32 Mi blocks of about 100 bytes of JSON each.
const maxManifestSize = 4 << 30

func encodeManifest(m *Manifest) ([]byte, error) {
	if err := m.validate(); err != nil {
		return nil, fmt.Errorf("encode manifest: %w", err)
	}
	return json.MarshalIndent(m, "", " ")
}

// decodeManifest parses and validates a manifest. Anything that is not a
// complete, self-consistent manifest (truncated JSON, trailing bytes,
// offsets out of order or out of range, a bad hash) wraps ErrCorrupt.
func decodeManifest(data []byte) (*Manifest, error) {
	if len(data) > maxManifestSize {
		return nil, corrupt("manifest: %d bytes", len(data))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, corrupt("manifest: %v", err)
	}
	if dec.More() {
		return nil, corrupt("manifest: trailing data after the JSON object")
	}
	if err := m.validate(); err != nil {
		return nil, fmt.Errorf("%w: manifest: %v", ErrCorrupt, err)
	}
	return &m, nil
}

func (m *Manifest) validate() error {
	if m.Version != manifestVersion {
		return fmt.Errorf("version %d, want %d", m.Version, manifestVersion)
	}
	if err := validName("backup", m.Name); err != nil {
		return err
	}
	if err := validName("volume", m.Volume); err != nil {
		return err
	}
	if m.Size < 0 {
		return fmt.Errorf("negative size %d", m.Size)
	}
	if m.BlockSize != BlockSize {
		return fmt.Errorf("block size %d, want %d", m.BlockSize, BlockSize)
	}
	if !m.Compression.Valid() {
		return fmt.Errorf("unknown compression %q", m.Compression)
	}
	prev := int64(-1)
	for i, e := range m.BlockMap {
		if e.Offset < 0 || e.Offset%BlockSize != 0 || e.Offset >= m.Size {
			return fmt.Errorf("block %d: offset %d not a block of a %d-byte volume", i, e.Offset, m.Size)
		}
		if e.Offset <= prev {
			return fmt.Errorf("block %d: offset %d out of order", i, e.Offset)
		}
		prev = e.Offset
		if !hashRE.MatchString(e.SHA256) {
			return fmt.Errorf("block %d: bad sha256 %q", i, e.SHA256)
		}
	}
	return nil
}

// blockLen is the length of the block at off: BlockSize, except for the
// last block of a volume whose size is not a multiple of it.
func (m *Manifest) blockLen(off int64) int64 { return min(BlockSize, m.Size-off) }

// hashes returns the block map as offset → hash.
func (m *Manifest) hashes() map[int64]string {
	h := make(map[int64]string, len(m.BlockMap))
	for _, e := range m.BlockMap {
		h[e.Offset] = e.SHA256
	}
	return h
}
