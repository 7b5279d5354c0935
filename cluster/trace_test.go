package cluster

import (
	"context"
	"testing"
)

func TestReportExecution(t *testing.T) {
	var got []Execution
	ctx := WithFaultTrace(context.Background(), &FaultTrace{Executed: func(e Execution) { got = append(got, e) }})
	ReportExecution(ctx, Execution{Executor: "chaos-mesh", Object: "PodChaos/ns/x"})
	ReportExecution(context.Background(), Execution{Executor: "lost"}) // no trace: nothing happens
	ReportExecution(WithFaultTrace(context.Background(), &FaultTrace{}), Execution{Executor: "lost"})
	if len(got) != 1 || got[0].Executor != "chaos-mesh" || got[0].Object != "PodChaos/ns/x" {
		t.Fatalf("trace saw %+v, want the one chaos-mesh execution", got)
	}
}
