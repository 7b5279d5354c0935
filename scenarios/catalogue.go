package scenarios

import (
	"context"
	"strings"
	"time"
)

// scenario is one suite entry: an It named Name.
type scenario struct {
	Name        string
	Labels      []string
	Description string
	Timeout     time.Duration
	Body        func(ctx context.Context, s *Spec)
	// timeoutOf, when set, computes the spec timeout from the run's
	// configuration (the soak runs for as long as it is told).
	timeoutOf func(*Config) time.Duration
	// explicit scenarios run only when selected by name or by a label
	// filter that names one of their labels, never by default.
	explicit bool
	// disks is how many disks per node the scenario needs (0: one);
	// see DisksNeeded.
	disks int
}

// all lists every scenario, in catalogue order. It is a function, not a
// package variable, so that registering specs has no init-order surprises.
func all() []scenario {
	out := []scenario{smoke(), imRestartLoop()}
	out = append(out, imLoopScenarios()...)
	return append(out, []scenario{
		biReplicaRebuild(),
		biRebuildVariant(biWidened),
		biRebuildVariant(biOtherDisk),
		upgradeCrash(),
		networkDisconnect(),
		engineCrashUnderLoad(),
		rebuildChurn(),
		imDeleteDuringRebuild(),
		drRestore(drIncrementalNodeStop),
		drRestore(drInitialNodeStop),
		drRestore(drEngineCrash),
		drRestore(drTargetDown),
		systemBackup(sbRetainsData),
		systemBackup(sbPolicyAlways),
		systemBackup(sbPolicyDisabled),
		systemBackup(sbRestoreAttached),
		rebuildUnderFault(rebuildDeleteDst),
		rebuildUnderFault(rebuildCrashSrc),
		rebuildUnderFault(rebuildStopSrcNode),
		salvageAfterCrash(salvageAll),
		salvageAfterCrash(salvageStale),
		engineNodeStop(),
		diskErrorReplica(),
		soak(),
	}...)
}

// Info is one line of the scenario catalogue (`faultline list`).
type Info struct {
	Name        string   `json:"name"`
	Labels      []string `json:"labels"`
	Description string   `json:"description"`
	Timeout     string   `json:"timeout"` // the spec's SpecTimeout, e.g. "4m0s"
	// Explicit scenarios run only when named (--scenario, or a label
	// filter naming their label), never by default.
	Explicit bool `json:"explicit,omitempty"`
}

// Catalogue lists every scenario with its labels and one-line description.
func Catalogue() []Info {
	var out []Info
	for _, sc := range all() {
		out = append(out, Info{Name: sc.Name, Labels: sc.Labels, Description: sc.Description, Timeout: sc.Timeout.String(), Explicit: sc.explicit})
	}
	return out
}

// KnownLabels are the labels scenarios use, for --label-filter help.
func KnownLabels() []string {
	return []string{"smoke", "seed", "integrity", "v2", "upgrade", "backup", "dr", "table", "nightly", soakName}
}

// LabelFilter returns the Ginkgo label filter that selects what filter
// and focus (a scenario name, or "") ask for, minus the explicit
// scenarios neither of them names: a default run, or one filtered by
// other labels, never starts a soak.
func LabelFilter(filter, focus string) string {
	var excluded []string
	for _, sc := range all() {
		if !sc.explicit || sc.Name == focus {
			continue
		}
		named := false
		for _, l := range sc.Labels {
			named = named || labelNamed(filter, l)
		}
		if !named {
			excluded = append(excluded, "!"+sc.Labels[0])
		}
	}
	if len(excluded) == 0 {
		return filter
	}
	not := strings.Join(excluded, " && ")
	if strings.TrimSpace(filter) == "" {
		return not
	}
	return "(" + filter + ") && " + not
}

// labelNamed reports whether label appears as a word in a label filter.
func labelNamed(filter, label string) bool {
	for _, w := range strings.FieldsFunc(filter, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' || r == ':')
	}) {
		if w == label {
			return true
		}
	}
	return false
}
