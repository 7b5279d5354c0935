package scenarios

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/faultline/faultline/checkers"
	"github.com/faultline/faultline/checkers/state"
	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/nbd"
	"github.com/faultline/faultline/workload"
)

// The helpers below are shared by the scenarios of the longhorn-tests
// table (table_*.go): each row faults a volume at a moment read from the
// manager's change stream and then judges it with the generic checkers.

// tablePoll is how often the table scenarios look at the change stream
// while they wait for the moment to inject a fault: a rebuild lasts
// seconds, so 20 ms puts the fault well inside it.
const tablePoll = 20 * time.Millisecond

// awaitSample waits until the change stream reported, at or after since, a
// sample that match accepts, and returns it. At the deadline it fails the
// spec through state-converge with the newest sample of the resources
// match looked at.
func awaitSample(ctx context.Context, s *Spec, what string, since time.Time, deadline time.Duration, match func(state.Sample) bool) state.Sample {
	dctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	for {
		for _, x := range s.States.Samples() {
			if !x.Time.Before(since) && match(x) {
				return x
			}
		}
		if !sleepCtx(dctx, tablePoll) {
			break
		}
	}
	Expect(ctx.Err()).NotTo(HaveOccurred(), "waiting for %s", what)
	s.Check(checkers.Verdict{Checker: "state-converge", Outcome: checkers.Fail, At: time.Now(),
		Summary: fmt.Sprintf("%s not seen on the change stream within %v", what, deadline)})
	return state.Sample{}
}

// replicaSample matches a replica of volume (by name prefix) in mode;
// pred, when set, must accept it too.
func replicaSample(volume, mode string, pred func(state.Sample) bool) func(state.Sample) bool {
	return func(x state.Sample) bool {
		return x.Kind == state.KindReplica && strings.HasPrefix(x.Name, volume+"-r-") && x.State != "deleted" &&
			x.Detail["mode"] == mode && (pred == nil || pred(x))
	}
}

// modeAt is the last mode the change stream reported for a replica at or
// before t ("" when none).
func modeAt(samples []state.Sample, replica string, t time.Time) string {
	mode := ""
	for _, x := range samples {
		if x.Kind == state.KindReplica && x.Name == replica && !x.Time.After(t) && x.Detail["mode"] != "" {
			mode = x.Detail["mode"]
		}
	}
	return mode
}

// seenMode reports whether replica was reported in mode in [from, to].
func seenMode(samples []state.Sample, replica, mode string, from, to time.Time) bool {
	return slices.ContainsFunc(samples, func(x state.Sample) bool {
		return x.Kind == state.KindReplica && x.Name == replica && x.Detail["mode"] == mode && !x.Time.Before(from) && !x.Time.After(to)
	})
}

// nodeCall sends one JSON-RPC request to a storage node, as a tester
// would (cluster.DialNode).
func nodeCall(ctx context.Context, s *Spec, node, method string, params, out any) error {
	n, err := cluster.NodeNamed(s.Env.Cluster, node)
	if err != nil {
		return err
	}
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := cluster.DialNode(dctx, s.Env.Cluster, n)
	if err != nil {
		return fmt.Errorf("dial node %s: %w", node, err)
	}
	defer c.Close()
	if err := c.Call(dctx, method, params, out); err != nil {
		return fmt.Errorf("%s on node %s: %w", method, node, err)
	}
	return nil
}

// rebuildSource asks the destination's node which replica its rebuild
// reads from: a rebuilding head is a clone of the source's rebuild
// snapshot, attached as the remote bdev rebuild-src-<dst> whose export is
// "<source>-snap-rebuild-…". ok is false when there is no such bdev: the
// rebuild has not started or has already finished.
func rebuildSource(ctx context.Context, s *Spec, dst api.Replica) (source string, ok bool, err error) {
	var bdevs []struct {
		Name           string `json:"name"`
		DriverSpecific struct {
			Remote *struct {
				Export string `json:"export_name"`
			} `json:"remote"`
		} `json:"driver_specific"`
	}
	err = nodeCall(ctx, s, dst.Spec.Node, "bdev_get_bdevs", nil, &bdevs)
	if err != nil {
		return "", false, err
	}
	for _, b := range bdevs {
		if b.Name != "rebuild-src-"+dst.Name || b.DriverSpecific.Remote == nil {
			continue
		}
		src, _, found := strings.Cut(b.DriverSpecific.Remote.Export, "-snap-")
		if !found {
			return "", false, fmt.Errorf("rebuild-src-%s exports %q, not a replica snapshot", dst.Name, b.DriverSpecific.Remote.Export)
		}
		return src, true, nil
	}
	return "", false, nil
}

// replicaByName returns the named replica of volume from a listing.
func replicaByName(ctx context.Context, s *Spec, volume, name string) (api.Replica, bool) {
	reps, err := s.Client().ListReplicas(ctx, volume)
	Expect(err).NotTo(HaveOccurred(), "list replicas of %s", volume)
	for _, r := range reps {
		if r.Name == name {
			return r, true
		}
	}
	return api.Replica{}, false
}

// tableWriter is the light background writer every table scenario runs
// through its fault: flushed 4 KiB writes in its own region, so what it
// acknowledged and flushed before, during and after the fault is checked.
func tableWriter(s *Spec, volume string, off, length int64, writer uint32) *workload.Generator {
	gen, err := workload.New(workload.Config{
		Volume: volume, BlockSize: 4096, Offset: off, Length: length, Pattern: workload.Random,
		Concurrency: 2, Rate: 200, FlushEvery: 16, Seed: uint64(s.Seed) + uint64(writer), Writer: writer,
		ErrorBackoff: 20 * time.Millisecond, Classify: workload.UnknownOn(nbd.ErrDisconnected),
		Recorder: s.Timeline, Logger: seedLogger(),
	})
	Expect(err).NotTo(HaveOccurred())
	return gen
}

// tableFill writes count blocks of blockSize sequentially over [off,
// off+length) and flushes; every write must succeed.
func tableFill(ctx context.Context, s *Spec, volume string, off, length int64, blockSize int, writer uint32, dev *nbd.Client) *workload.Generator {
	gen, err := workload.New(workload.Config{
		Volume: volume, BlockSize: blockSize, Offset: off, Length: length, Pattern: workload.Sequential, Concurrency: 4,
		Count: int(length / int64(blockSize)), Seed: uint64(s.Seed) + uint64(writer), Writer: writer,
		Recorder: s.Timeline, Logger: seedLogger(),
	})
	Expect(err).NotTo(HaveOccurred())
	seedWriteFlush(ctx, gen, dev)
	return gen
}

// takeSnapshot takes a user snapshot of volume and waits until it is ready.
func takeSnapshot(ctx context.Context, s *Spec, volume, name string) {
	c := s.Client()
	snap, err := c.SnapshotVolume(ctx, volume, name)
	Expect(err).NotTo(HaveOccurred(), "snapshot %s of %s", name, volume)
	dctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		got, err := c.GetSnapshot(dctx, snap.Name)
		if err == nil && got.Status.State == api.SnapshotReady {
			return
		}
		if err == nil && got.Status.State == api.SnapshotError {
			Fail(fmt.Sprintf("snapshot %s of %s failed: %s", name, volume, got.Status.Message))
		}
		if !sleepCtx(dctx, 100*time.Millisecond) {
			Fail(fmt.Sprintf("snapshot %s of %s not ready within a minute (last %+v, err %v)", name, volume, got.Status, err))
		}
	}
}

// timingVerdict records where a fault landed: every table scenario must
// hit the moment it names (a rebuild in progress, a replica gone stale),
// and says so, pass or fail, in the report.
func timingVerdict(ok bool, summary string, evidence ...checkers.Evidence) checkers.Verdict {
	v := checkers.Verdict{Checker: "fault-timing", Outcome: checkers.Pass, At: time.Now(), Summary: summary, Evidence: evidence}
	if !ok {
		v.Outcome = checkers.Fail
	}
	return v
}

// redial reconnects to the volume's current endpoint once it is attached.
func redial(ctx context.Context, s *Spec, volume string) *nbd.Client {
	vol, err := s.Client().GetVolume(ctx, volume)
	Expect(err).NotTo(HaveOccurred())
	Expect(vol.Status.Endpoint).NotTo(BeEmpty(), "volume %s has no endpoint", volume)
	return seedDial(ctx, s, vol.Status.Endpoint, time.Minute)
}
