package integrity

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/faultline/faultline/checkers"
)

const (
	// ChunkSize is the unit ReadsDeterministic reads K times in a row.
	ChunkSize = 1 << 20
	// BlockSize is the granularity of the offset it reports: the first
	// 4 KiB block whose reads differ.
	BlockSize = 4 << 10
	// DefaultReads is K when ReadOptions.K is 0: with reads rotating over
	// the RW replicas, 4 reads reach every member of a 2-replica raid twice
	// and every member of a 3-replica raid at least once.
	DefaultReads = 4
	// maxChunkEvidence caps the evidence of a failing run; the summary
	// still counts every differing chunk.
	maxChunkEvidence = 16
)

// ReadOptions tune ReadsDeterministic.
type ReadOptions struct {
	// K is how many times each chunk is read in a row (at least 2; 0 means
	// DefaultReads). To be sure every replica of a raid that rotates reads
	// is reached, use at least twice the number of replicas.
	K int
	// Sample > 0 checks only that many chunks, picked by Seed and always
	// including the first and the last; 0 checks every chunk.
	Sample int
	Seed   int64
}

// ReadsDeterministic is checker "reads-deterministic". It reads dev (a
// volume's frontend) in chunks of ChunkSize, each chunk K times in a row,
// and fails when the K reads of a chunk differ. The evidence gives, per
// differing chunk, the first differing 4 KiB block's offset, the distinct
// contents' SHA-256 prefixes and which read numbers returned which. A raid1
// that spreads reads over divergent replicas returns alternating contents
// here, while a digest of the whole device taken twice may well agree.
// A read error is Unknown, unless a chunk already differed (then Fail).
// Like every data check it assumes no writes are in flight.
func (c Checker) ReadsDeterministic(ctx context.Context, dev checkers.Device, opts ReadOptions) checkers.Verdict {
	return checkers.Record(c.Recorder, readsDeterministic(ctx, dev, opts))
}

func readsDeterministic(ctx context.Context, dev checkers.Device, opts ReadOptions) checkers.Verdict {
	k := opts.K
	if k == 0 {
		k = DefaultReads
	}
	if k < 2 {
		return unknown(NameReadsDeterministic, fmt.Sprintf("determinism needs at least 2 reads of each chunk, asked for %d", k))
	}
	size := dev.Size()
	if size <= 0 {
		return unknown(NameReadsDeterministic, "nothing to read: device size is 0")
	}
	chunks := pickChunks((size+ChunkSize-1)/ChunkSize, opts.Sample, opts.Seed)
	bufs := make([][]byte, k)
	for i := range bufs {
		bufs[i] = make([]byte, ChunkSize)
	}
	var ev []checkers.Evidence
	differing := 0
	var first int64 = -1
	for _, ch := range chunks {
		off := ch * ChunkSize
		n := min(int64(ChunkSize), size-off)
		reads := make([][]byte, k)
		for i := range k {
			reads[i] = bufs[i][:n]
			err := ctx.Err()
			if err == nil {
				err = checkers.ReadFull(dev, reads[i], off)
			}
			if err != nil {
				return readFailed(ev, differing, i+1, off, err)
			}
		}
		e, ok := compareReads(reads, off)
		if ok {
			continue
		}
		differing++
		if first < 0 {
			first = *e.Offset
		}
		if len(ev) < maxChunkEvidence {
			ev = append(ev, e)
		}
	}
	if differing > 0 {
		return checkers.Verdict{Checker: NameReadsDeterministic, Outcome: checkers.Fail, Evidence: ev,
			Summary: fmt.Sprintf("%d of %d chunks read differently over %d reads each; first differing 4 KiB block at byte %d",
				differing, len(chunks), k, first)}
	}
	return checkers.Verdict{Checker: NameReadsDeterministic, Outcome: checkers.Pass,
		Summary: fmt.Sprintf("%d of %d chunks of %d bytes each read %d times, identical every time",
			len(chunks), (size+ChunkSize-1)/ChunkSize, ChunkSize, k)}
}

// readFailed ends a run that could not read: Fail when a chunk already
// differed (a definite finding is never hidden), Unknown otherwise.
func readFailed(ev []checkers.Evidence, differing, read int, off int64, err error) checkers.Verdict {
	ev = append(ev, checkers.Evidence{What: fmt.Sprintf("read %d of the chunk at byte %d", read, off), Offset: checkers.Off(off), Detail: err.Error()})
	if differing > 0 {
		return checkers.Verdict{Checker: NameReadsDeterministic, Outcome: checkers.Fail, Evidence: ev,
			Summary: fmt.Sprintf("%d chunk(s) read differently before a read failed at byte %d: %v", differing, off, err)}
	}
	v := unknown(NameReadsDeterministic, fmt.Sprintf("read %d of the chunk at byte %d failed: %v", read, off, err))
	v.Evidence = ev
	return v
}

// compareReads compares the K reads of the chunk at off. When they differ
// it returns the evidence: the first differing 4 KiB block and which reads
// returned which content.
func compareReads(reads [][]byte, off int64) (checkers.Evidence, bool) {
	firstDiff := -1
	for _, r := range reads[1:] {
		if bytes.Equal(r, reads[0]) {
			continue
		}
		if d := firstDifferentByte(reads[0], r); firstDiff < 0 || d < firstDiff {
			firstDiff = d
		}
	}
	if firstDiff < 0 {
		return checkers.Evidence{}, true
	}
	// Hash only now: identical reads, the common case, cost one compare.
	sums := make([]string, len(reads))
	for i, r := range reads {
		s := sha256.Sum256(r)
		sums[i] = hex.EncodeToString(s[:6])
	}
	var other string
	for _, s := range sums {
		if s != sums[0] {
			other = s
			break
		}
	}
	block := off + int64(firstDiff/BlockSize*BlockSize)
	return checkers.Evidence{
		What:     fmt.Sprintf("chunk at byte %d read differently", off),
		Offset:   checkers.Off(block),
		Expected: sums[0],
		Actual:   other,
		Detail:   fmt.Sprintf("first differing 4 KiB block at byte %d; %s", block, groupReads(sums)),
	}, false
}

// firstDifferentByte returns the index of the first byte where a and b
// differ (they have the same length and are known to differ).
func firstDifferentByte(a, b []byte) int {
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return len(a)
}

// groupReads renders which read numbers (from 1) returned which content,
// in order of first appearance: "sha256 1a2b…: reads 1, 3; sha256 …".
func groupReads(sums []string) string {
	var order []string
	reads := map[string][]string{}
	for i, s := range sums {
		if _, ok := reads[s]; !ok {
			order = append(order, s)
		}
		reads[s] = append(reads[s], strconv.Itoa(i+1))
	}
	parts := make([]string, len(order))
	for i, s := range order {
		parts[i] = fmt.Sprintf("sha256 %s…: reads %s", s, strings.Join(reads[s], ", "))
	}
	return strings.Join(parts, "; ")
}

// pickChunks returns the chunk indexes to read, ascending: every one of n
// when sample is 0 or not smaller than n, else sample of them picked by
// seed, always with the first and the last (where partition tables,
// superblocks and short tails live).
func pickChunks(n int64, sample int, seed int64) []int64 {
	if sample <= 0 || int64(sample) >= n {
		out := make([]int64, n)
		for i := range out {
			out[i] = int64(i)
		}
		return out
	}
	pick := map[int64]bool{0: true, n - 1: true}
	r := rand.New(rand.NewPCG(uint64(seed), 0x6661756c746c696e)) // "faultlin"
	for len(pick) < sample {
		pick[r.Int64N(n)] = true
	}
	out := make([]int64, 0, len(pick))
	for c := range pick {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}
