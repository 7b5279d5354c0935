package chaosmesh

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// Injection is what a Chaos Mesh object's status says about its fault.
type Injection struct {
	// Injected: Chaos Mesh reports every selected target injected (the
	// AllInjected condition).
	Injected bool
	// Times are the times Chaos Mesh recorded a successful injection, one
	// per target and attempt, for the report.
	Times []time.Time
	// Targets are the records Chaos Mesh injected (namespace/pod, or
	// namespace/pod/container).
	Targets []string
	// Failures are the messages of failed injection attempts, newest last:
	// Chaos Mesh retries, so a failure is not final, but a fault that only
	// fails should say why.
	Failures []string
}

// ReadInjection reads an object's status as a dynamic client returns it.
func ReadInjection(u *unstructured.Unstructured) (Injection, error) {
	var st v1alpha1.ChaosStatus
	raw, _, err := unstructured.NestedMap(u.Object, "status")
	if err != nil {
		return Injection{}, fmt.Errorf("chaos-mesh %s %s: status: %w", u.GetKind(), u.GetName(), err)
	}
	if raw != nil {
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &st); err != nil {
			return Injection{}, fmt.Errorf("chaos-mesh %s %s: status: %w", u.GetKind(), u.GetName(), err)
		}
	}
	var in Injection
	for _, c := range st.Conditions {
		if c.Type == v1alpha1.ConditionAllInjected && c.Status == "True" {
			in.Injected = true
		}
	}
	for _, r := range st.Experiment.Records {
		for _, e := range r.Events {
			if e.Operation != v1alpha1.Apply {
				continue
			}
			switch e.Type {
			case v1alpha1.TypeSucceeded:
				in.Times = append(in.Times, e.Timestamp.Time)
				if !slices.Contains(in.Targets, r.Id) {
					in.Targets = append(in.Targets, r.Id)
				}
			case v1alpha1.TypeFailed:
				in.Failures = append(in.Failures, r.Id+": "+strings.TrimSpace(e.Message))
			}
		}
	}
	return in, nil
}
