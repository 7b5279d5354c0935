package local

import (
	"context"
	"time"

	"github.com/faultline/faultline/cluster"
)

// executed reports to the context's fault trace that this driver carried a
// fault out now: "supervisor" for the signals it sends its processes, "nft"
// for partitions.
func executed(ctx context.Context, executor string) {
	cluster.ReportExecution(ctx, cluster.Execution{Executor: executor, Injected: []time.Time{time.Now()}})
}
