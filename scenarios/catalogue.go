package scenarios

import (
	"context"
	"time"
)

// scenario is one suite entry: an It named Name.
type scenario struct {
	Name        string
	Labels      []string
	Description string
	Timeout     time.Duration
	Body        func(ctx context.Context, s *Spec)
}

// all lists every scenario, in catalogue order. It is a function, not a
// package variable, so that registering specs has no init-order surprises.
func all() []scenario {
	return []scenario{
		smoke(),
		imRestartLoop(),
		biReplicaRebuild(),
		upgradeCrash(),
	}
}

// Info is one line of the scenario catalogue (`faultline list`).
type Info struct {
	Name        string   `json:"name"`
	Labels      []string `json:"labels"`
	Description string   `json:"description"`
	Timeout     string   `json:"timeout"` // the spec's SpecTimeout, e.g. "4m0s"
}

// Catalogue lists every scenario with its labels and one-line description.
func Catalogue() []Info {
	var out []Info
	for _, sc := range all() {
		out = append(out, Info{Name: sc.Name, Labels: sc.Labels, Description: sc.Description, Timeout: sc.Timeout.String()})
	}
	return out
}

// KnownLabels are the labels scenarios use, for --label-filter help.
func KnownLabels() []string { return []string{"smoke", "seed", "v2", "upgrade", "backup", "nightly"} }
