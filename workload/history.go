package workload

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"
)

// OpKind is what an operation did.
type OpKind string

const (
	OpWrite OpKind = "write"
	OpFlush OpKind = "flush"
)

// Outcome is what the caller learnt about an operation. A failed write may
// still have landed; an unknown one (the connection dropped) may land or not.
// Pending means the operation has not returned yet.
type Outcome string

const (
	OK      Outcome = "ok"
	Failed  Outcome = "failed"
	Unknown Outcome = "unknown"
	Pending Outcome = "pending"
)

// Op is one recorded operation. Invoke and Return are monotonic durations
// since the history's Start, so they order correctly even if the wall
// clock jumps, and survive JSON.
type Op struct {
	ID         uint64        `json:"id"`
	Kind       OpKind        `json:"kind"`
	Offset     int64         `json:"offset,omitempty"`
	Length     int           `json:"length,omitempty"`
	WriteID    uint64        `json:"write_id,omitempty"`
	Generation uint64        `json:"generation,omitempty"`
	Writer     uint32        `json:"writer,omitempty"`
	FUA        bool          `json:"fua,omitempty"`
	Invoke     time.Duration `json:"invoke_ns"`
	Return     time.Duration `json:"return_ns,omitempty"`
	Outcome    Outcome       `json:"outcome"`
	Error      string        `json:"error,omitempty"`
}

// Counts summarises a history.
type Counts struct {
	Writes  int `json:"writes"`
	Flushes int `json:"flushes"`
	OK      int `json:"ok"`
	Failed  int `json:"failed"`
	Unknown int `json:"unknown"`
	Pending int `json:"pending"`
}

// History records every operation a workload issued against one volume. It
// is safe for concurrent use.
type History struct {
	mu        sync.Mutex
	volume    string
	blockSize int
	start     time.Time
	ops       []Op
	counts    Counts
}

// NewHistory starts an empty history for volume written in blocks of
// blockSize bytes.
func NewHistory(volume string, blockSize int) *History {
	return &History{volume: volume, blockSize: blockSize, start: time.Now()}
}

// Volume returns the volume id the history's blocks carry.
func (h *History) Volume() string { return h.volume }

// BlockSize returns the size of every write in the history.
func (h *History) BlockSize() int { return h.blockSize }

// Start returns the wall-clock time the history's durations count from.
func (h *History) Start() time.Time { return h.start }

// Invoke records the start of op, assigning its ID and Invoke time, and
// returns a handle for Complete.
func (h *History) Invoke(op Op) int {
	now := time.Since(h.start)
	h.mu.Lock()
	defer h.mu.Unlock()
	op.ID = uint64(len(h.ops) + 1)
	op.Invoke = now
	op.Return = 0
	op.Outcome = Pending
	op.Error = ""
	h.ops = append(h.ops, op)
	h.counts.Pending++
	switch op.Kind {
	case OpWrite:
		h.counts.Writes++
	case OpFlush:
		h.counts.Flushes++
	}
	return len(h.ops) - 1
}

// Complete records the return of the op Invoke returned handle i for.
func (h *History) Complete(i int, outcome Outcome, err error) {
	now := time.Since(h.start)
	h.mu.Lock()
	defer h.mu.Unlock()
	op := &h.ops[i]
	if op.Outcome != Pending {
		return
	}
	op.Return = now
	op.Outcome = outcome
	if err != nil {
		op.Error = err.Error()
	}
	h.counts.Pending--
	switch outcome {
	case OK:
		h.counts.OK++
	case Failed:
		h.counts.Failed++
	default:
		h.counts.Unknown++
	}
}

// Ops returns a copy of the operations in invocation order.
func (h *History) Ops() []Op {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Op(nil), h.ops...)
}

// Counts returns the running totals.
func (h *History) Counts() Counts {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.counts
}

// historyJSON is the serialised form.
type historyJSON struct {
	Volume    string    `json:"volume"`
	BlockSize int       `json:"block_size"`
	Start     time.Time `json:"start"`
	Counts    Counts    `json:"counts"`
	Ops       []Op      `json:"ops"`
}

// MarshalJSON writes the history with its counts.
func (h *History) MarshalJSON() ([]byte, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return json.Marshal(historyJSON{Volume: h.volume, BlockSize: h.blockSize, Start: h.start, Counts: h.counts, Ops: h.ops})
}

// UnmarshalJSON reads a history written by MarshalJSON, validating every
// operation so a checker never works on nonsense.
func (h *History) UnmarshalJSON(b []byte) error {
	var in historyJSON
	if err := json.Unmarshal(b, &in); err != nil {
		return fmt.Errorf("decode history: %w", err)
	}
	if len(in.Volume) > MaxVolumeLen {
		return fmt.Errorf("decode history: volume id %q longer than %d bytes", in.Volume, MaxVolumeLen)
	}
	if err := CheckBlockSize(in.BlockSize); err != nil {
		return fmt.Errorf("decode history: %w", err)
	}
	var c Counts
	for i, op := range in.Ops {
		if err := validateOp(op, in.BlockSize); err != nil {
			return fmt.Errorf("decode history: op %d: %w", i, err)
		}
		switch op.Kind {
		case OpWrite:
			c.Writes++
		case OpFlush:
			c.Flushes++
		}
		switch op.Outcome {
		case OK:
			c.OK++
		case Failed:
			c.Failed++
		case Unknown:
			c.Unknown++
		case Pending:
			c.Pending++
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.volume, h.blockSize, h.start, h.ops, h.counts = in.Volume, in.BlockSize, in.Start, in.Ops, c
	return nil
}

func validateOp(op Op, blockSize int) error {
	switch op.Kind {
	case OpWrite:
		if op.Offset < 0 || op.Offset%int64(blockSize) != 0 {
			return fmt.Errorf("write offset %d not a multiple of the block size %d", op.Offset, blockSize)
		}
		if op.Length != blockSize {
			return fmt.Errorf("write length %d, want the block size %d", op.Length, blockSize)
		}
	case OpFlush:
	default:
		return fmt.Errorf("unknown kind %q", op.Kind)
	}
	switch op.Outcome {
	case OK, Failed, Unknown:
		if op.Return < op.Invoke {
			return fmt.Errorf("returned (%v) before it was invoked (%v)", op.Return, op.Invoke)
		}
	case Pending:
	default:
		return fmt.Errorf("unknown outcome %q", op.Outcome)
	}
	if op.Invoke < 0 {
		return fmt.Errorf("negative invoke time %v", op.Invoke)
	}
	return nil
}
