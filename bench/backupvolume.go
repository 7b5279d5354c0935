package bench

import (
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"

	"github.com/faultline/faultline/engine/backupstore"
)

// blockKind is what a block of the benchmark volume holds.
type blockKind int

const (
	kindRandom blockKind = iota // incompressible: media, encrypted or already compressed data
	kindText                    // log-like lines, which lz4 shrinks to about 40 %
	kindZero                    // never written, or trimmed
)

func (k blockKind) String() string {
	return [...]string{"random", "text", "zero"}[k]
}

// kindOf spreads the three kinds over the volume in a period of eight
// 2 MiB blocks (R T R Z R T R Z): half random, a quarter text, a quarter
// zeros, mixed throughout the volume rather than in three long runs, as a
// file system scatters its data.
func kindOf(block int) blockKind {
	switch block % 8 {
	case 1, 5:
		return kindText
	case 3, 7:
		return kindZero
	}
	return kindRandom
}

// VolumeContent describes the benchmark volume for the report.
const VolumeContent = "2 MiB blocks in a period of eight (random, text, random, zero, random, text, random, zero): " +
	"half seeded random bytes, a quarter log-like text, a quarter zeros written out; " +
	"a changed block gets new content, 1 MiB random then 1 MiB text"

// benchVolume is the source of the backup benchmark: a file whose every
// 2 MiB block has content derived from (seed, block, version), so any
// version of any block can be rewritten or checked without keeping the
// volume in memory.
type benchVolume struct {
	path string
	size int64
	seed uint64
	// version of each block: 0 is the initial content, higher ones are
	// changes.
	version []int
	// sums fingerprints each block's current content.
	sums   []uint64
	hashed maphash.Seed
}

// blockSize is the backup store's block, the unit of change.
const blockSize = backupstore.BlockSize

// createVolume writes the initial volume to path and fsyncs it.
func createVolume(path string, size int64, seed uint64) (*benchVolume, error) {
	if size <= 0 || size%blockSize != 0 {
		return nil, fmt.Errorf("backup volume size %d: must be a positive multiple of %d", size, blockSize)
	}
	n := int(size / blockSize)
	v := &benchVolume{path: path, size: size, seed: seed, version: make([]int, n),
		sums: make([]uint64, n), hashed: maphash.MakeSeed()}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create backup volume: %w", err)
	}
	defer f.Close()
	buf := make([]byte, blockSize)
	for i := range n {
		v.fill(buf, i, 0)
		v.sums[i] = maphash.Bytes(v.hashed, buf)
		if _, err := f.Write(buf); err != nil {
			return nil, fmt.Errorf("write backup volume: %w", err)
		}
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("sync backup volume: %w", err)
	}
	return v, f.Close()
}

// blocks is the number of blocks in the volume.
func (v *benchVolume) blocks() int { return len(v.version) }

// fill writes the content of block i at version ver into buf.
func (v *benchVolume) fill(buf []byte, i, ver int) {
	rng := rand.NewChaCha8(chachaSeed(v.seed, uint64(i), uint64(ver)))
	if ver > 0 {
		half := len(buf) / 2
		rng.Read(buf[:half])
		fillText(buf[half:], rng)
		return
	}
	switch kindOf(i) {
	case kindRandom:
		rng.Read(buf)
	case kindText:
		fillText(buf, rng)
	default:
		clear(buf)
	}
}

// chachaSeed derives a generator seed from the volume seed, a block and a
// version.
func chachaSeed(seed, block, ver uint64) [32]byte {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[0:], seed)
	binary.LittleEndian.PutUint64(s[8:], block)
	binary.LittleEndian.PutUint64(s[16:], ver)
	binary.LittleEndian.PutUint64(s[24:], 0x6261636b7570) // "backup"
	return s
}

// textWords are the vocabulary of the log-like text.
var textWords = [...]string{
	"volume", "replica", "engine", "snapshot", "write", "read", "flush", "ok", "rebuild",
	"node-a", "node-b", "node-c", "lvol", "raid1", "nbd", "export", "attached", "degraded",
	"healthy", "offset", "length", "latency_us", "queue", "backup", "restore", "block",
}

// fillText fills buf with lines like a storage daemon's log: a timestamp,
// a level, a few words from a small vocabulary and numbers.
func fillText(buf []byte, rng *rand.ChaCha8) {
	r := rand.New(rng)
	line := make([]byte, 0, 160)
	ts := int64(1_790_000_000) + r.Int64N(1_000_000)
	for off := 0; off < len(buf); {
		ts += r.Int64N(3)
		line = append(line[:0], "2026-11-30T"...)
		line = strconv.AppendInt(line, ts%86400, 10)
		line = append(line, []string{" INFO ", " DEBUG ", " WARN "}[r.IntN(3)]...)
		for range 4 + r.IntN(5) {
			line = append(line, textWords[r.IntN(len(textWords))]...)
			if r.IntN(3) == 0 {
				line = append(line, '=')
				line = strconv.AppendInt(line, r.Int64N(1<<20), 10)
			}
			line = append(line, ' ')
		}
		line[len(line)-1] = '\n'
		off += copy(buf[off:], line)
	}
}

// rewrite gives the blocks in list new content (version ver; 0 restores
// the initial content) and fsyncs the file.
func (v *benchVolume) rewrite(list []int, ver int) error {
	f, err := os.OpenFile(v.path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("change backup volume: %w", err)
	}
	defer f.Close()
	buf := make([]byte, blockSize)
	for _, i := range list {
		v.fill(buf, i, ver)
		if _, err := f.WriteAt(buf, int64(i)*blockSize); err != nil {
			return fmt.Errorf("change backup volume: %w", err)
		}
		v.version[i], v.sums[i] = ver, maphash.Bytes(v.hashed, buf)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("change backup volume: %w", err)
	}
	return f.Close()
}

// snapshot returns the fingerprints of the current content.
func (v *benchVolume) snapshot() []uint64 { return slices.Clone(v.sums) }

// verify reads path, which must be the volume's size, and reports the first
// block whose content differs from want.
func (v *benchVolume) verify(path string, want []uint64) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("verify %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("verify %s: %w", path, err)
	}
	if fi.Size() != v.size {
		return fmt.Errorf("verify %s: size %d, want %d", path, fi.Size(), v.size)
	}
	buf := make([]byte, blockSize)
	for i, w := range want {
		if _, err := f.ReadAt(buf, int64(i)*blockSize); err != nil {
			return fmt.Errorf("verify %s: %w", path, err)
		}
		if maphash.Bytes(v.hashed, buf) != w {
			return fmt.Errorf("verify %s: block %d (offset %d) differs from what was backed up", path, i, int64(i)*blockSize)
		}
	}
	return nil
}

// changeSets picks count disjoint sets of blocks, each pct percent of the
// volume (at least one block), spread over the volume by a generator
// seeded with seed; each set is sorted.
func changeSets(blocks, pct, count int, seed uint64) [][]int {
	k := max(1, (blocks*pct+99)/100)
	perm := rand.New(rand.NewPCG(seed, 0x5ca1ab1e)).Perm(blocks)
	var sets [][]int
	for s := range count {
		lo, hi := min(s*k, blocks), min((s+1)*k, blocks)
		set := slices.Clone(perm[lo:hi])
		slices.Sort(set)
		sets = append(sets, set)
	}
	return sets
}
