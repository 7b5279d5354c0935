package cluster

import (
	"context"
	"time"
)

// Execution is how an environment carried out one fault: the executor that
// did it and, on Kubernetes, the Chaos Mesh object that describes it. The
// report shows it beside the fault, so a reader knows whether Chaos Mesh,
// faultline itself, Docker or an exec into a pod did the damage.
type Execution struct {
	// Executor names what carried the fault out: "chaos-mesh" (a Chaos
	// Mesh installed on the cluster, from the object), "native" (faultline,
	// from the same object, where Chaos Mesh is absent), "docker", "exec",
	// "nft" or "supervisor".
	Executor string `json:"executor"`
	// Object is the Chaos Mesh object as KIND/NAMESPACE/NAME, when the
	// fault is one.
	Object string `json:"object,omitempty"`
	// Action is the object's action, e.g. pod-kill.
	Action string `json:"action,omitempty"`
	// Injected are the times the executor recorded the injection (Chaos
	// Mesh's status records; the native executor's own clock).
	Injected []time.Time `json:"injected,omitempty"`
}

// FaultTrace receives the executions of the faults carried out under a
// context. Like net/http/httptrace it travels in the context, so a driver
// reports what it did without every fault method returning it.
type FaultTrace struct {
	Executed func(Execution)
}

type faultTraceKey struct{}

// WithFaultTrace returns a context whose driver calls report to t.
func WithFaultTrace(ctx context.Context, t *FaultTrace) context.Context {
	return context.WithValue(ctx, faultTraceKey{}, t)
}

// ReportExecution hands e to the context's FaultTrace, if it has one.
// Drivers call it once they have carried a fault out.
func ReportExecution(ctx context.Context, e Execution) {
	if t, _ := ctx.Value(faultTraceKey{}).(*FaultTrace); t != nil && t.Executed != nil {
		t.Executed(e)
	}
}
