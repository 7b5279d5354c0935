package history

import (
	"context"
	"testing"

	"github.com/faultline/faultline/checkers"
	"github.com/faultline/faultline/workload"
)

// BenchmarkCheck checks a history of 100,000 writes over 4,096 blocks
// (each block overwritten ~24 times) with a flush every 100 writes.
func BenchmarkCheck(b *testing.B) {
	const writes, blocks = 100_000, 4096
	ops := make([]workload.Op, 0, writes+writes/100)
	dev := newMem(blocks)
	for i := range writes {
		op := w(uint64(i+1), int64(i%blocks), 2*i, workload.OK)
		ops = append(ops, op)
		if i%100 == 99 {
			ops = append(ops, flush(2*i+1))
		}
	}
	last := map[int64]workload.Op{}
	for _, op := range ops {
		if op.Kind == workload.OpWrite {
			last[op.Offset] = op
		}
	}
	for _, op := range last {
		dev.put(b, op)
	}
	h := history(b, ops...)
	b.ResetTimer()
	for range b.N {
		if v := (Checker{}).Check(context.Background(), h, dev); v.Outcome != checkers.Pass {
			b.Fatalf("%s", v.Summary)
		}
	}
	b.ReportMetric(float64(writes)*float64(b.N)/b.Elapsed().Seconds(), "writes/s")
}
