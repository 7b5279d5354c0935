package scenarios

import (
	"bytes"
	"context"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/faultline/faultline/checkers/checksum"
	"github.com/faultline/faultline/checkers/history"
	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/nbd"
	"github.com/faultline/faultline/faults"
	"github.com/faultline/faultline/workload"
)

// imLoop is one variant of seed 003's loop (instance-manager-restart-loop
// is the plain one): the same fault N times on one node, each time the
// volume back to attached and healthy with its data, and, in every
// variant, no head create or clone answered "File exists" on any node.
type imLoop struct {
	name, description string
	iterations        int // default of --iterations
	replicas          int
	snapshots         int  // user snapshots taken before the loop
	backingImage      bool // the volume sits on a backing image
	remoteEngine      bool // engine on a node without the restarted replica
	others            int  // more volumes with a replica on that node
	crash             bool // replica-crash instead of instance-manager-delete
}

// The variants. Their defaults keep a clean run under about 90 s on two
// cores (the mutation table runs each seed scenario ten times).
func imLoops() []imLoop {
	return []imLoop{
		{name: "instance-manager-restart-loop-snapshots", iterations: 20, replicas: 1, snapshots: 2,
			description: "1-replica volume with 2 user snapshots under its head; delete the instance manager of its node N times (default 20); the head must come back on its snapshots (chain-matches), no create/clone answered File exists"},
		{name: "instance-manager-restart-loop-backing-image", iterations: 20, replicas: 1, snapshots: 1, backingImage: true,
			description: "1-replica volume on a backing image with a user snapshot; delete the instance manager of its node N times (default 20); chain image → snapshot → head kept, no create/clone answered File exists"},
		{name: "replica-crash-restart-loop", iterations: 15, replicas: 2, crash: true,
			description: "2-replica volume; crash the same replica in its live instance manager N times (default 15); each time the manager restarts that replica in place and rebuilds it to RW; no create/clone answered File exists"},
		{name: "instance-manager-restart-loop-remote-engine", iterations: 10, replicas: 3, remoteEngine: true,
			description: "3-replica volume attached on a node other than the restarted one; delete the instance manager of one replica's node N times (default 10); the replica is restarted and rebuilt, no create/clone answered File exists"},
		{name: "instance-manager-restart-loop-many-volumes", iterations: 10, replicas: 1, others: 2,
			description: "1-replica volume plus 2 volumes with a replica on every node; delete the instance manager of the first volume's node N times (default 10); every volume back healthy with its data, no create/clone answered File exists"},
	}
}

// imLoopScenarios are the variants as catalogue entries.
func imLoopScenarios() []scenario {
	var out []scenario
	for _, l := range imLoops() {
		out = append(out, l.scenario())
	}
	return out
}

// imOthersHold is how long the other volumes must stay healthy after an
// iteration: longer than the engine takes to mark a replica whose node
// restarted ERR (it flushes every second) plus one manager poll.
const imOthersHold = 2500 * time.Millisecond

func (l imLoop) scenario() scenario {
	return scenario{Name: l.name, Labels: []string{"v2"}, Description: l.description, Timeout: 10 * time.Minute,
		Body: func(ctx context.Context, s *Spec) { l.run(ctx, s) }}
}

// imVolume is one volume of a loop with its workloads and digest.
type imVolume struct {
	name        string
	fill, batch *workload.Generator
	dev         *nbd.Client
	digest      string
}

func (l imLoop) run(ctx context.Context, s *Spec) {
	c := s.Client()
	n := s.Env.cfg.iterations(l.iterations)
	suffix := s.Seed % 1_000_000
	nodes := max(l.replicas, 1)
	if l.remoteEngine || l.others > 0 || l.crash {
		nodes = max(nodes, 2)
	}
	s.Step(fmt.Sprintf("wait for %d nodes to be up in the manager", nodes))
	s.RequireNodes(ctx, nodes)
	up := imUpNodes(ctx, s)

	image := ""
	if l.backingImage {
		image = fmt.Sprintf("imbi-%d", suffix)
		s.Step(fmt.Sprintf("upload backing image %s (%d MiB of random data)", image, imLoopSize>>20))
		data := make([]byte, imLoopSize)
		s.Rand.Read(data)
		sum := sha512.Sum512(data)
		_, err := c.UploadBackingImage(ctx, image, bytes.NewReader(data), hex.EncodeToString(sum[:]))
		Expect(err).NotTo(HaveOccurred(), "upload backing image")
		DeferCleanup(func(ctx SpecContext) { c.DeleteBackingImage(ctx, image) }, NodeTimeout(time.Minute))
		seedWaitBackingImage(ctx, s, image, time.Minute)
	}

	main := &imVolume{name: fmt.Sprintf("iml-%d", suffix)}
	s.Step(fmt.Sprintf("create volume %s (%d MiB, %d replicas)", main.name, imLoopSize>>20, l.replicas))
	imCreate(ctx, s, main.name, l.replicas, image)
	reps, err := c.ListReplicas(ctx, main.name)
	Expect(err).NotTo(HaveOccurred())
	Expect(reps).To(HaveLen(l.replicas))
	slices.SortFunc(reps, func(a, b api.Replica) int { return strings.Compare(a.Name, b.Name) })
	node := reps[int(s.Seed%int64(len(reps)))].Spec.Node
	attachOn := node
	if l.remoteEngine || l.crash {
		attachOn = imOtherNode(up, node)
	}
	s.Step(fmt.Sprintf("attach %s to %s (the restarted replica is on %s)", main.name, attachOn, node))
	imAttach(ctx, s, main, attachOn)

	s.Step(fmt.Sprintf("write %d blocks, flush; %d user snapshots with writes between them", imLoopFirstWrites, l.snapshots))
	main.fill = seedWorkload(s, main.name, 0, imLoopSize/2, imLoopFirstWrites, 1)
	main.batch = seedWorkload(s, main.name, imLoopSize/2, imLoopSize/2, imLoopBatch, 2)
	seedWriteFlush(ctx, main.fill, main.dev)
	for i := range l.snapshots {
		seedWriteFlush(ctx, main.batch, main.dev)
		imSnapshot(ctx, s, main.name, fmt.Sprintf("s%d", i+1))
	}
	main.digest = seedWriteFlushDigest(ctx, s, main.batch, main.dev)

	var others []*imVolume
	for i := range l.others {
		o := &imVolume{name: fmt.Sprintf("iml-%d-o%d", suffix, i+1)}
		s.Step(fmt.Sprintf("create %s (a replica on each of %d nodes), attach it to %s and write", o.name, len(up), imOtherNode(up, node)))
		imCreate(ctx, s, o.name, len(up), "")
		imAttach(ctx, s, o, imOtherNode(up, node))
		o.fill = seedWorkload(s, o.name, 0, imLoopSize, imLoopFirstWrites/2, uint32(10+i))
		o.digest = seedWriteFlushDigest(ctx, s, o.fill, o.dev)
		others = append(others, o)
	}
	s.CheckAll(imCheckChains(ctx, s, main.name)...)

	var recoveries []time.Duration
	for i := range n {
		fault, what := l.fault(ctx, s, main.name, node)
		s.Step(fmt.Sprintf("iteration %d/%d: %s", i+1, n, what))
		for _, v := range append([]*imVolume{main}, others...) {
			Expect(v.dev.Close()).To(Succeed())
		}
		Expect(s.Faults.Wait(ctx, 0, 250*time.Millisecond)).To(Succeed())
		since := time.Now()
		Expect(s.Faults.Inject(ctx, fault)).To(Succeed())
		hctx, cancel := context.WithTimeout(ctx, imLoopDeadline)
		err := s.Faults.Heal(hctx, fault)
		cancel()
		Expect(err).NotTo(HaveOccurred(), "%s did not heal", what)

		var extra func(context.Context) (bool, error)
		if l.replicas > 1 {
			extra = func(ctx context.Context) (bool, error) { return imReplicaRWOn(ctx, s, main.name, node) }
		}
		vol := imAwaitVolume(ctx, s, main.name, since, imLoopDeadline-time.Since(since), 0,
			imWant{State: api.VolumeAttached, Robustness: api.RobustnessHealthy, Outage: true, Extra: true}, extra)
		// The other volumes lost their replica on the node too (their
		// engines live elsewhere): healthy again, for imOthersHold on end,
		// with the replica on the node RW again.
		for _, o := range others {
			imAwaitVolume(ctx, s, o.name, since, imLoopDeadline-time.Since(since), imOthersHold,
				imWant{State: api.VolumeAttached, Robustness: api.RobustnessHealthy, Extra: true},
				func(ctx context.Context) (bool, error) { return imReplicaRWOn(ctx, s, o.name, node) })
		}
		took := time.Since(since)
		recoveries = append(recoveries, took)
		s.Env.progressf("     %s: iteration %d/%d recovered in %v", s.Name, i+1, n, took.Round(time.Millisecond))

		seedCheckQuiet(s, imCheckRPC(ctx, s, true))
		for _, v := range imCheckChains(ctx, s, main.name) {
			seedCheckQuiet(s, v)
		}
		main.dev = seedDial(ctx, s, vol.Status.Endpoint, imLoopDeadline)
		seedCheckQuiet(s, history.Checker{}.Check(ctx, main.fill.History(), main.dev))
		seedCheckQuiet(s, history.Checker{}.Check(ctx, main.batch.History(), main.dev))
		seedCheckQuiet(s, checksum.Checker{}.Equal(main.digest, seedDigest(ctx, s, main.dev)))
		for _, o := range others {
			ov, err := c.GetVolume(ctx, o.name)
			Expect(err).NotTo(HaveOccurred())
			o.dev = seedDial(ctx, s, ov.Status.Endpoint, imLoopDeadline)
			seedCheckQuiet(s, history.Checker{}.Check(ctx, o.fill.History(), o.dev))
			seedCheckQuiet(s, checksum.Checker{}.Equal(o.digest, seedDigest(ctx, s, o.dev)))
		}
		if i+1 < n {
			main.digest = seedWriteFlushDigest(ctx, s, main.batch, main.dev)
		}
	}

	s.Step("final checks")
	s.Check(recoverySummary(recoveries, n, imLoopDeadline))
	s.Check(imCheckRPC(ctx, s, true))
	names := []string{main.name}
	for _, o := range others {
		names = append(names, o.name)
	}
	s.CheckAll(imCheckChains(ctx, s, names...)...)
	s.Check(history.Checker{}.Check(ctx, main.fill.History(), main.dev))
	s.Check(history.Checker{}.Check(ctx, main.batch.History(), main.dev))
	s.Check(checksum.Checker{}.Stable(ctx, main.dev, 2))
	for _, v := range append([]*imVolume{main}, others...) {
		Expect(v.dev.Close()).To(Succeed())
	}
	s.Check(s.NoOrphans(ctx))
}

// fault returns this iteration's fault on the node and what it does: its
// instance manager deleted, or the volume's replica there crashed.
func (l imLoop) fault(ctx context.Context, s *Spec, volume, node string) (faults.Fault, string) {
	if !l.crash {
		return faults.InstanceManagerDelete(s.Env.Cluster, node), "delete the instance manager of " + node
	}
	r := imReplicaOn(ctx, s, volume, node)
	return faults.ReplicaCrash(s.Env.Cluster, s.Client(), r.Name), fmt.Sprintf("crash replica %s on %s", r.Name, node)
}

// imReplicaOn returns the volume's replica on node (the scenario keeps
// one there: the manager restarts a failed one in place).
func imReplicaOn(ctx context.Context, s *Spec, volume, node string) api.Replica {
	reps, err := s.Client().ListReplicas(ctx, volume)
	Expect(err).NotTo(HaveOccurred())
	for _, r := range reps {
		if r.Spec.Node == node && !r.Spec.Deleting && r.Status.FailedAt.IsZero() {
			return r
		}
	}
	Fail(fmt.Sprintf("volume %s has no live replica on %s: %+v", volume, node, reps))
	return api.Replica{}
}

// imReplicaRWOn reports whether the volume has an RW replica on node.
func imReplicaRWOn(ctx context.Context, s *Spec, volume, node string) (bool, error) {
	reps, err := s.Client().ListReplicas(ctx, volume)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(reps, func(r api.Replica) bool { return r.Spec.Node == node && r.Status.Mode == api.ModeRW }), nil
}

// imUpNodes lists the up nodes' names, sorted.
func imUpNodes(ctx context.Context, s *Spec) []string {
	ns, err := s.Client().ListNodes(ctx)
	Expect(err).NotTo(HaveOccurred())
	var out []string
	for _, n := range ns {
		if n.Status.State == api.NodeUp {
			out = append(out, n.Name)
		}
	}
	slices.Sort(out)
	return out
}

// imOtherNode is the first up node that is not node.
func imOtherNode(up []string, node string) string {
	for _, n := range up {
		if n != node {
			return n
		}
	}
	Fail("no second up node")
	return ""
}

func imCreate(ctx context.Context, s *Spec, name string, replicas int, image string) {
	_, err := s.Client().CreateVolume(ctx, api.VolumeCreateRequest{Name: name, Size: imLoopSize, NumberOfReplicas: replicas,
		BackingImage: image, Frontend: api.FrontendNBD})
	Expect(err).NotTo(HaveOccurred())
	deleteVolumeOnCleanup(s, name)
	s.WaitVolumeState(ctx, name, api.VolumeDetached, time.Minute)
}

func imAttach(ctx context.Context, s *Spec, v *imVolume, node string) {
	_, err := s.Client().AttachVolume(ctx, v.name, node)
	Expect(err).NotTo(HaveOccurred())
	vol := s.WaitVolumeState(ctx, v.name, api.VolumeAttached, 2*time.Minute)
	v.dev = seedDial(ctx, s, vol.Status.Endpoint, imLoopDeadline)
}

// imSnapshot takes a user snapshot and waits until it is ready.
func imSnapshot(ctx context.Context, s *Spec, volume, snap string) {
	c := s.Client()
	sn, err := c.SnapshotVolume(ctx, volume, snap)
	Expect(err).NotTo(HaveOccurred(), "snapshot %s of %s", snap, volume)
	s.Check(seedAwait(ctx, s, "snapshot "+sn.Name+" ready", time.Now(), time.Minute,
		func(ctx context.Context) (string, error) {
			x, err := c.GetSnapshot(ctx, sn.Name)
			return x.Status.State, err
		}, api.SnapshotReady))
}
