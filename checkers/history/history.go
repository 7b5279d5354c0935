// Package history checks that a device holds what a workload history
// allows: after faults, every block must hold its last durable write or a
// write that may have replaced it (acknowledged but not yet flushed,
// failed, or of unknown outcome). Older data is a lost write; data that
// does not decode as a block of this history is corruption.
//
// Blocks are independent registers, so the check is linear in the history
// (one map per block) and needs no linearizability search.
package history

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/checkers"
	"github.com/faultline/faultline/timeline"
	"github.com/faultline/faultline/workload"
)

// Name is the checker name in verdicts.
const Name = "history"

// DefaultMaxEvidence bounds the findings listed in a verdict.
const DefaultMaxEvidence = 20

// maxRead bounds one coalesced read of adjacent blocks.
const maxRead = 1 << 20

// Checker compares a device against a history.
type Checker struct {
	// AckedIsDurable treats every acknowledged write as durable, for
	// devices that promise write-through. Otherwise a write is durable
	// when it was written with FUA or a flush invoked after it returned
	// came back OK.
	AckedIsDurable bool
	// MaxEvidence bounds the listed findings; default DefaultMaxEvidence.
	MaxEvidence int
	// Recorder, when set, receives the verdict as a KindChecker event.
	Recorder *timeline.Recorder
}

// block is what the history says about one block.
type block struct {
	writes []int // indices into ops, in invocation order
	// durableAt is the latest Invoke of a durable write; a write that
	// returned before it can no longer be on disk. -1 when none is durable.
	durableAt time.Duration
}

// Check reads every block h wrote through dev and returns the verdict:
// Fail when a block lost a write or is corrupt, Unknown when a read failed
// (and nothing failed), Pass otherwise. The history must cover every write
// since the device was last all zeros.
func (c Checker) Check(ctx context.Context, h *workload.History, dev checkers.Device) checkers.Verdict {
	maxEvidence := c.MaxEvidence
	if maxEvidence <= 0 {
		maxEvidence = DefaultMaxEvidence
	}
	bs := h.BlockSize()
	if err := workload.CheckBlockSize(bs); err != nil {
		return checkers.Record(c.Recorder, checkers.Verdict{Checker: Name, Outcome: checkers.Unknown,
			Summary: fmt.Sprintf("history of %q: %v", h.Volume(), err)})
	}
	ops := h.Ops()
	blocks, byID, durable := c.index(ops)
	offsets := make([]int64, 0, len(blocks))
	for off := range blocks {
		offsets = append(offsets, off)
	}
	slices.Sort(offsets)

	r := &result{max: maxEvidence}
	if err := readBlocks(ctx, dev, offsets, bs, func(off int64, data []byte, err error) {
		r.blocks++
		if err != nil {
			r.add(&r.unreadable, checkers.Evidence{What: "read error", Offset: checkers.Off(off), Detail: err.Error()})
			return
		}
		c.judge(r, h.Volume(), off, data, blocks[off], ops, byID)
	}); err != nil {
		return checkers.Record(c.Recorder, checkers.Verdict{
			Checker: Name, Outcome: checkers.Unknown,
			Summary:  fmt.Sprintf("stopped after %d of %d blocks: %v", r.blocks, len(offsets), err),
			Evidence: r.evidence,
		})
	}

	outcome := checkers.Pass
	if r.lost+r.corrupt > 0 {
		outcome = checkers.Fail
	} else if r.unreadable > 0 {
		outcome = checkers.Unknown
	}
	if r.dropped > 0 {
		r.evidence = append(r.evidence, checkers.Evidence{What: "truncated", Detail: fmt.Sprintf("%d more findings not listed", r.dropped)})
	}
	return checkers.Record(c.Recorder, checkers.Verdict{
		Checker: Name, Outcome: outcome,
		Summary: fmt.Sprintf("%d blocks checked: %d ok, %d lost writes, %d corrupt, %d unreadable (%d writes, %d durable)",
			r.blocks, r.ok, r.lost, r.corrupt, r.unreadable, len(byID), durable),
		Evidence: r.evidence,
	})
}

// index groups writes by block and computes each block's durability
// horizon. It returns the blocks, a write-id index and the number of
// durable writes.
func (c Checker) index(ops []workload.Op) (map[int64]*block, map[uint64]int, int) {
	flushedAt := time.Duration(-1) // latest Invoke of a flush that returned OK
	for _, op := range ops {
		if op.Kind == workload.OpFlush && op.Outcome == workload.OK {
			flushedAt = max(flushedAt, op.Invoke)
		}
	}
	blocks := map[int64]*block{}
	byID := map[uint64]int{}
	durable := 0
	for i, op := range ops {
		if op.Kind != workload.OpWrite {
			continue
		}
		b := blocks[op.Offset]
		if b == nil {
			b = &block{durableAt: -1}
			blocks[op.Offset] = b
		}
		b.writes = append(b.writes, i)
		byID[op.WriteID] = i
		if c.isDurable(op, flushedAt) {
			durable++
			b.durableAt = max(b.durableAt, op.Invoke)
		}
	}
	return blocks, byID, durable
}

func (c Checker) isDurable(op workload.Op, flushedAt time.Duration) bool {
	if op.Outcome != workload.OK {
		return false
	}
	return c.AckedIsDurable || op.FUA || (flushedAt >= 0 && flushedAt >= op.Return)
}

// allowed reports whether w may still be the content of its block: no
// durable write to the block was invoked after w returned. A write that
// never returned may land at any time.
func allowed(w workload.Op, b *block) bool {
	return b.durableAt < 0 || w.Outcome == workload.Pending || w.Return >= b.durableAt
}

// judge classifies one block's content.
func (c Checker) judge(r *result, volume string, off int64, data []byte, b *block, ops []workload.Op, byID map[uint64]int) {
	hdr, err := workload.DecodeAt(data, volume, off)
	switch {
	case errors.Is(err, workload.ErrZero):
		if b.durableAt < 0 {
			r.ok++
			return
		}
		r.add(&r.lost, checkers.Evidence{What: "lost write", Offset: checkers.Off(off),
			Expected: expected(b, ops), Actual: "zeros (never written)",
			Detail: "a durable write to this block is gone"})
		return
	case errors.Is(err, workload.ErrMisplaced), errors.Is(err, workload.ErrForeignVolume):
		r.add(&r.corrupt, checkers.Evidence{What: "corruption", Offset: checkers.Off(off),
			Expected: expected(b, ops), Actual: fmt.Sprintf("write %d of volume %q for offset %d", hdr.WriteID, hdr.Volume, hdr.Offset),
			Detail: err.Error()})
		return
	case err != nil:
		r.add(&r.corrupt, checkers.Evidence{What: "corruption", Offset: checkers.Off(off),
			Expected: expected(b, ops), Actual: "undecodable block", Detail: err.Error()})
		return
	}
	i, found := byID[hdr.WriteID]
	if !found || ops[i].Offset != off || ops[i].Generation != hdr.Generation || ops[i].Writer != hdr.Writer {
		r.add(&r.corrupt, checkers.Evidence{What: "corruption", Offset: checkers.Off(off),
			Expected: expected(b, ops), Actual: describe(hdr),
			Detail: "a valid block that this history never wrote here (another run's data?)"})
		return
	}
	if allowed(ops[i], b) {
		r.ok++
		return
	}
	r.add(&r.lost, checkers.Evidence{What: "lost write", Offset: checkers.Off(off),
		Expected: expected(b, ops), Actual: fmt.Sprintf("write %d (%s)", hdr.WriteID, ops[i].Outcome),
		Detail: fmt.Sprintf("write %d returned at %v, before a durable write to this block was invoked at %v",
			hdr.WriteID, ops[i].Return, b.durableAt)})
}

// expected lists the write ids the block may hold, "zeros" included when
// nothing durable was written.
func expected(b *block, ops []workload.Op) string {
	const limit = 8
	var ids []string
	if b.durableAt < 0 {
		ids = append(ids, "zeros")
	}
	n := 0
	for _, i := range b.writes {
		if !allowed(ops[i], b) {
			continue
		}
		n++
		if n <= limit {
			ids = append(ids, strconv.FormatUint(ops[i].WriteID, 10)+" ("+string(ops[i].Outcome)+")")
		}
	}
	s := "one of: " + strings.Join(ids, ", ")
	if n > limit {
		s += fmt.Sprintf(" and %d more", n-limit)
	}
	return s
}

func describe(h workload.Header) string {
	return fmt.Sprintf("write %d generation %d writer %d", h.WriteID, h.Generation, h.Writer)
}

// result accumulates counts and the bounded evidence list.
type result struct {
	max                                   int
	blocks, ok, lost, corrupt, unreadable int
	dropped                               int
	evidence                              []checkers.Evidence
}

func (r *result) add(counter *int, e checkers.Evidence) {
	*counter++
	if len(r.evidence) < r.max {
		r.evidence = append(r.evidence, e)
	} else {
		r.dropped++
	}
}
