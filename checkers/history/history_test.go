package history

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/checkers"
	"github.com/faultline/faultline/timeline"
	"github.com/faultline/faultline/workload"
)

func TestCheck(t *testing.T) {
	ok, failed, unknown := workload.OK, workload.Failed, workload.Unknown
	type content struct {
		blk int64
		op  *workload.Op // nil: leave zeros
	}
	w1, w2, w3 := w(1, 0, 0, ok), w(2, 0, 10, ok), w(3, 0, 20, unknown)
	f1, f2 := w(4, 0, 10, failed), w(5, 0, 30, ok)
	overlapA, overlapB := w(6, 1, 0, ok), w(7, 1, 0, ok)
	overlapB.Return = 5 * time.Millisecond
	fua := w(8, 0, 10, ok)
	fua.FUA = true

	tests := []struct {
		name    string
		ops     []workload.Op
		content []content
		acked   bool
		want    checkers.Outcome
		what    string // evidence expected on failure
	}{
		{"latest durable present", []workload.Op{w1, flush(5), w2, flush(15)}, []content{{0, &w2}}, false, checkers.Pass, ""},
		{"lost write: older durable data", []workload.Op{w1, flush(5), w2, flush(15)}, []content{{0, &w1}}, false, checkers.Fail, "lost write"},
		{"lost write: durable block reads zeros", []workload.Op{w1, flush(5)}, nil, false, checkers.Fail, "lost write"},
		{"zeros allowed when nothing durable", []workload.Op{w1}, nil, false, checkers.Pass, ""},
		{"zeros rejected when acked is durable", []workload.Op{w1}, nil, true, checkers.Fail, "lost write"},
		{"acked-unflushed write lost: flush mode accepts", []workload.Op{w1, flush(5), w2}, []content{{0, &w1}}, false, checkers.Pass, ""},
		{"acked-unflushed write lost: acked mode rejects", []workload.Op{w1, flush(5), w2}, []content{{0, &w1}}, true, checkers.Fail, "lost write"},
		{"unknown-outcome write present", []workload.Op{w1, flush(5), w2, flush(15), w3}, []content{{0, &w3}}, false, checkers.Pass, ""},
		{"unknown-outcome write absent", []workload.Op{w1, flush(5), w2, flush(15), w3}, []content{{0, &w2}}, false, checkers.Pass, ""},
		{"failed write after durable present", []workload.Op{w1, flush(5), f2}, []content{{0, &f2}}, false, checkers.Pass, ""},
		{"failed write before durable present", []workload.Op{f1, w(9, 0, 20, ok), flush(25)}, []content{{0, &f1}}, false, checkers.Fail, "lost write"},
		{"flush concurrent with write does not cover it", []workload.Op{w1, flush(0)}, nil, false, checkers.Pass, ""},
		{"FUA write is durable without flush", []workload.Op{w1, fua}, []content{{0, &w1}}, false, checkers.Fail, "lost write"},
		{"overlapping durable writes: first", []workload.Op{overlapA, overlapB, flush(10)}, []content{{1, &overlapA}}, false, checkers.Pass, ""},
		{"overlapping durable writes: second", []workload.Op{overlapA, overlapB, flush(10)}, []content{{1, &overlapB}}, false, checkers.Pass, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dev := newMem(4)
			for _, c := range tt.content {
				dev.put(t, *c.op)
			}
			v := Checker{AckedIsDurable: tt.acked}.Check(context.Background(), history(t, tt.ops...), dev)
			if v.Outcome != tt.want {
				t.Fatalf("outcome %s, want %s: %s %+v", v.Outcome, tt.want, v.Summary, v.Evidence)
			}
			if tt.want == checkers.Fail {
				if len(v.Evidence) == 0 || v.Evidence[0].What != tt.what || v.Evidence[0].Offset == nil {
					t.Fatalf("evidence %+v, want %q with an offset", v.Evidence, tt.what)
				}
			}
		})
	}
}

func TestCheckLostWriteEvidence(t *testing.T) {
	w1, w2 := w(1, 3, 0, workload.OK), w(2, 3, 10, workload.OK)
	dev := newMem(4)
	dev.put(t, w1)
	v := Checker{}.Check(context.Background(), history(t, w1, flush(5), w2, flush(15)), dev)
	if v.Outcome != checkers.Fail || len(v.Evidence) != 1 {
		t.Fatalf("verdict %+v", v)
	}
	e := v.Evidence[0]
	if *e.Offset != 3*bs || !strings.Contains(e.Expected, "2 (ok)") || strings.Contains(e.Expected, "1 (ok)") || !strings.Contains(e.Actual, "write 1") {
		t.Fatalf("evidence %+v", e)
	}
	if !strings.Contains(v.Summary, "1 lost writes") {
		t.Fatalf("summary %q", v.Summary)
	}
}

func TestCheckCorruption(t *testing.T) {
	w1, w2 := w(1, 0, 0, workload.OK), w(2, 1, 1, workload.OK)
	ops := []workload.Op{w1, w2, flush(5)}
	tests := []struct {
		name   string
		damage func(d *memDevice)
		detail string
	}{
		{"flipped byte", func(d *memDevice) { d.data[100] ^= 0x40 }, "checksum"},
		{"misplaced block", func(d *memDevice) { copy(d.data[0:bs], d.data[bs:2*bs]) }, "misplaced"},
		{"foreign data", func(d *memDevice) { copy(d.data[0:bs], strings.Repeat("not a block ", 50)) }, "not a workload block"},
		{"another volume", func(d *memDevice) {
			if err := workload.Encode(d.data[0:bs], workload.Header{Volume: "other", WriteID: 1}); err != nil {
				panic(err)
			}
		}, "another volume"},
		{"write id this history never made", func(d *memDevice) {
			if err := workload.Encode(d.data[0:bs], workload.Header{Volume: vol, WriteID: 99}); err != nil {
				panic(err)
			}
		}, "never wrote"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dev := newMem(2)
			dev.put(t, w1)
			dev.put(t, w2)
			tt.damage(dev)
			v := Checker{}.Check(context.Background(), history(t, ops...), dev)
			if v.Outcome != checkers.Fail || len(v.Evidence) != 1 {
				t.Fatalf("verdict %s %q %+v", v.Outcome, v.Summary, v.Evidence)
			}
			e := v.Evidence[0]
			if e.What != "corruption" || *e.Offset != 0 || !strings.Contains(e.Detail, tt.detail) {
				t.Fatalf("evidence %+v, want corruption at 0 mentioning %q", e, tt.detail)
			}
		})
	}
}

func TestCheckUnreadable(t *testing.T) {
	w1, w2 := w(1, 0, 0, workload.OK), w(2, 1, 1, workload.OK)
	dev := newMem(2)
	dev.put(t, w1)
	dev.put(t, w2)
	dev.bad[bs] = true
	v := Checker{}.Check(context.Background(), history(t, w1, w2, flush(5)), dev)
	if v.Outcome != checkers.Unknown || len(v.Evidence) != 1 || *v.Evidence[0].Offset != bs {
		t.Fatalf("verdict %s %q %+v", v.Outcome, v.Summary, v.Evidence)
	}
	// A definite failure elsewhere still fails the check.
	dev.data[0] ^= 1
	if v := (Checker{}).Check(context.Background(), history(t, w1, w2, flush(5)), dev); v.Outcome != checkers.Fail {
		t.Fatalf("corruption plus unreadable block: %s", v.Outcome)
	}
}

func TestCheckBoundedEvidence(t *testing.T) {
	var ops []workload.Op
	for b := range int64(10) {
		ops = append(ops, w(uint64(b+1), b, int(b), workload.OK))
	}
	ops = append(ops, flush(20))
	v := Checker{MaxEvidence: 3}.Check(context.Background(), history(t, ops...), newMem(10))
	if v.Outcome != checkers.Fail || len(v.Evidence) != 4 || v.Evidence[3].What != "truncated" {
		t.Fatalf("verdict %+v", v)
	}
	if !strings.Contains(v.Summary, "10 lost writes") || !strings.Contains(v.Evidence[3].Detail, "7 more") {
		t.Fatalf("summary %q, last %+v", v.Summary, v.Evidence[3])
	}
}

func TestCheckCancelledAndRecorded(t *testing.T) {
	rec := timeline.NewRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	w1 := w(1, 0, 0, workload.OK)
	v := Checker{Recorder: rec}.Check(ctx, history(t, w1), newMem(1))
	if v.Outcome != checkers.Unknown {
		t.Fatalf("cancelled check: %s", v.Outcome)
	}
	ev := rec.Events()
	if len(ev) != 1 || ev[0].Kind != timeline.KindChecker || ev[0].Name != "unknown" {
		t.Fatalf("events %+v", ev)
	}
}

func TestCheckZeroHistory(t *testing.T) {
	if v := (Checker{}).Check(context.Background(), &workload.History{}, newMem(1)); v.Outcome != checkers.Unknown {
		t.Fatalf("zero history: %+v", v)
	}
}
