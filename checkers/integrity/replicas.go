package integrity

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/faultline/faultline/checkers"
	"github.com/faultline/faultline/checkers/checksum"
	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/credential"
	"github.com/faultline/faultline/engine/nbd"
)

// ReplicasEqual is checker "replicas-equal". It lists the volume's replicas
// through the API, opens the NBD export of every replica in mode RW (state
// running, address set) directly, not through the engine, digests each
// whole device and fails when they differ, with the first differing byte
// of each differing replica against the first by name in the evidence.
// Reading each replica on its own is the point: the engine's reads hide a
// divergence behind whichever member they happen to pick.
//
// Fewer than 2 RW replicas is Unknown ("nothing to compare"); replicas not
// RW are listed in the evidence as skipped. A replica that cannot be opened
// or read is Unknown with the error, never Pass. The digests are taken one
// replica after the other, so the check means something only while no
// writes are in flight.
func (c Checker) ReplicasEqual(ctx context.Context, volume string) checkers.Verdict {
	if c.API == nil {
		return checkers.Record(c.Recorder, unknown(NameReplicasEqual, "no manager client to list the replicas of "+volume))
	}
	reps, err := c.API.ListReplicas(ctx, volume)
	if err != nil {
		return checkers.Record(c.Recorder, unknown(NameReplicasEqual, fmt.Sprintf("list replicas of %s: %v", volume, err)))
	}
	return checkers.Record(c.Recorder, compareReplicaExports(ctx, volume, reps, c.Credential))
}

// CompareReplicas is the device-level core of ReplicasEqual (named
// devices), usable without a manager. The first name in sorted order is
// the reference the others are compared against.
func (c Checker) CompareReplicas(ctx context.Context, devs map[string]checkers.Device) checkers.Verdict {
	return checkers.Record(c.Recorder, compareDevices(ctx, devs))
}

// compareReplicaExports opens every comparable replica's export, with its
// key when cred is not zero, and compares them; the verdict is not
// recorded.
func compareReplicaExports(ctx context.Context, volume string, reps []api.Replica, cred credential.Token) checkers.Verdict {
	reps = slices.Clone(reps)
	slices.SortFunc(reps, func(a, b api.Replica) int { return strings.Compare(a.Name, b.Name) })
	var skipped []checkers.Evidence
	devs := map[string]checkers.Device{}
	var opened []*nbd.Client
	defer func() {
		for _, d := range opened {
			d.Close()
		}
	}()
	for _, r := range reps {
		if why := notComparable(r); why != "" {
			skipped = append(skipped, checkers.Evidence{What: "skipped replica " + r.Name, Detail: why})
			continue
		}
		dctx, cancel := context.WithTimeout(ctx, dialTimeout)
		d, err := nbd.DialWith(dctx, "tcp", r.Status.Address, r.Status.Export, nbd.DialOptions{Key: exportKey(cred, r.Status.Export)})
		cancel()
		if err != nil {
			v := unknown(NameReplicasEqual, fmt.Sprintf("cannot open replica %s (export %s at %s): %v", r.Name, r.Status.Export, r.Status.Address, err))
			v.Evidence = append(skipped, checkers.Evidence{What: "replica " + r.Name, Detail: err.Error()})
			return v
		}
		opened = append(opened, d)
		devs[r.Name] = d
	}
	if len(devs) < 2 {
		v := unknown(NameReplicasEqual, fmt.Sprintf("nothing to compare: volume %s has %d RW replica(s) with an export", volume, len(devs)))
		v.Evidence = skipped
		return v
	}
	v := compareDevices(ctx, devs)
	v.Evidence = append(v.Evidence, skipped...)
	return v
}

// exportKey is the access key of a replica export, or "" without a
// credential (the nodes then leave their exports open).
func exportKey(cred credential.Token, export string) string {
	if cred.IsZero() {
		return ""
	}
	return cred.ExportKey(export)
}

// notComparable says why a replica's export is not read, or "" when it is.
func notComparable(r api.Replica) string {
	switch {
	case r.Spec.Deleting:
		return "being deleted"
	case r.Status.Mode != api.ModeRW:
		return fmt.Sprintf("mode %q, not RW", r.Status.Mode)
	case r.Status.State != api.InstanceRunning:
		return fmt.Sprintf("state %q, not running", r.Status.State)
	case r.Status.Address == "" || r.Status.Export == "":
		return "no export address"
	}
	return ""
}

// compareDevices digests and compares devs without recording the verdict;
// the digest and first-difference passes are checksum's.
func compareDevices(ctx context.Context, devs map[string]checkers.Device) checkers.Verdict {
	if len(devs) < 2 {
		return unknown(NameReplicasEqual, fmt.Sprintf("nothing to compare: %d device(s)", len(devs)))
	}
	v := checksum.Checker{}.ReplicasEqual(ctx, devs)
	v.Checker = NameReplicasEqual
	return v
}

// unknown is an undecided verdict of checker name.
func unknown(name, summary string) checkers.Verdict {
	return checkers.Verdict{Checker: name, Outcome: checkers.Unknown, Summary: summary}
}
