package history

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/faultline/faultline/workload"
)

const (
	vol = "vol-h"
	bs  = 512
)

// memDevice is an in-memory device; reads at offsets in bad fail.
type memDevice struct {
	data []byte
	bad  map[int64]bool
}

func newMem(blocks int) *memDevice {
	return &memDevice{data: make([]byte, blocks*bs), bad: map[int64]bool{}}
}

func (d *memDevice) Size() int64 { return int64(len(d.data)) }

func (d *memDevice) ReadAt(p []byte, off int64) (int, error) {
	for o := off; o < off+int64(len(p)); o += bs {
		if d.bad[o] {
			return 0, errors.New("EIO")
		}
	}
	return copy(p, d.data[off:]), nil
}

// put stores the block of write op at its offset.
func (d *memDevice) put(t testing.TB, op workload.Op) {
	t.Helper()
	h := workload.Header{Volume: vol, Offset: op.Offset, WriteID: op.WriteID, Generation: op.Generation, Writer: op.Writer}
	if err := workload.Encode(d.data[op.Offset:op.Offset+bs], h); err != nil {
		t.Fatal(err)
	}
}

// w is a write of id to block blk, invoked at ms and returning at ms+1.
func w(id uint64, blk int64, ms int, outcome workload.Outcome) workload.Op {
	return workload.Op{Kind: workload.OpWrite, Offset: blk * bs, Length: bs, WriteID: id,
		Invoke: time.Duration(ms) * time.Millisecond, Return: time.Duration(ms+1) * time.Millisecond, Outcome: outcome}
}

// flush is a flush invoked at ms that returned OK.
func flush(ms int) workload.Op {
	return workload.Op{Kind: workload.OpFlush, Invoke: time.Duration(ms) * time.Millisecond,
		Return: time.Duration(ms+1) * time.Millisecond, Outcome: workload.OK}
}

// history builds a History with exactly these ops and times, through the
// same JSON path a saved history takes.
func history(t testing.TB, ops ...workload.Op) *workload.History {
	t.Helper()
	for i := range ops {
		ops[i].ID = uint64(i + 1)
	}
	b, err := json.Marshal(map[string]any{"volume": vol, "block_size": bs, "start": time.Now(), "ops": ops})
	if err != nil {
		t.Fatal(err)
	}
	var h workload.History
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return &h
}
