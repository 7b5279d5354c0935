package history

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/faultline/faultline/checkers"
	"github.com/faultline/faultline/workload"
)

// fileDevice is a device over a real file, flushed with fsync.
type fileDevice struct{ *os.File }

func (d fileDevice) Flush() error { return d.Sync() }
func (d fileDevice) Size() int64 {
	fi, err := d.Stat()
	if err != nil {
		return 0
	}
	return fi.Size()
}

// TestWorkloadThenCheck runs the real generator against a file, then
// rolls one block back to an older durable write, as a replica that missed
// a write would.
func TestWorkloadThenCheck(t *testing.T) {
	f, err := os.OpenFile(filepath.Join(t.TempDir(), "vol.img"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(32 * bs); err != nil {
		t.Fatal(err)
	}
	dev := fileDevice{f}
	g, err := workload.New(workload.Config{Volume: vol, BlockSize: bs, Pattern: workload.Hotspot, Count: 300, Concurrency: 3, FlushEvery: 25, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	h, err := g.Run(context.Background(), dev)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Flush(context.Background(), dev); err != nil {
		t.Fatal(err)
	}
	if v := (Checker{}).Check(context.Background(), h, dev); v.Outcome != checkers.Pass {
		t.Fatalf("clean run: %s %+v", v.Summary, v.Evidence)
	}

	// Find a block written at least twice with the first write finished
	// before the last began, and put the first one back.
	first := map[int64]workload.Op{}
	var victim *workload.Op
	for _, op := range h.Ops() {
		if op.Kind != workload.OpWrite {
			continue
		}
		if f, seen := first[op.Offset]; !seen {
			first[op.Offset] = op
		} else if f.Return < op.Invoke {
			victim = &f
		}
	}
	if victim == nil {
		t.Fatal("hotspot workload overwrote no block")
	}
	buf := make([]byte, bs)
	if err := workload.Encode(buf, workload.Header{Volume: vol, Offset: victim.Offset, WriteID: victim.WriteID}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(buf, victim.Offset); err != nil {
		t.Fatal(err)
	}
	v := Checker{}.Check(context.Background(), h, dev)
	if v.Outcome != checkers.Fail || len(v.Evidence) != 1 || v.Evidence[0].What != "lost write" || *v.Evidence[0].Offset != victim.Offset {
		t.Fatalf("rolled-back block at %d: %s %+v", victim.Offset, v.Summary, v.Evidence)
	}
}
