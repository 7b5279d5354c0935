package scenarios

import (
	"context"
	"fmt"
	"slices"
	"time"

	. "github.com/onsi/gomega"

	"github.com/faultline/faultline/checkers"
	"github.com/faultline/faultline/checkers/history"
	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/faults"
	"github.com/faultline/faultline/workload"
)

// imDeleteDuringRebuild checks that an instance manager that dies while
// one of its replicas is being rebuilt leaves nothing behind: the
// half-built head, the -rebuilding lvol and the snapshots copied so far
// belong to no replica the manager knows once the rebuild is abandoned,
// and must be removed when the node comes back.
func imDeleteDuringRebuild() scenario {
	return scenario{
		Name:   "instance-manager-delete-during-rebuild",
		Labels: []string{"integrity", "v2"},
		Description: "3-replica 128 MiB volume, 112 MiB written and a light writer; N rounds (default 3): delete a replica, and while its replacement " +
			"rebuilds delete that node's instance manager; the volume recovers with equal replicas and no orphaned lvols",
		Timeout: 12 * time.Minute,
		Body:    runIMDeleteDuringRebuild,
	}
}

const (
	imRebuildDefaultRounds = 3
	imRebuildSize          = 128 << 20
	// imRebuildFill is written before the rounds (in imRebuildBlock
	// blocks); the background writer works on the rest.
	imRebuildFill  = 112 << 20
	imRebuildBlock = 256 << 10
	// imRebuildPoll is how often the replacement's mode is polled: a
	// rebuild of the volume takes seconds, so this catches it WO.
	imRebuildPoll = 50 * time.Millisecond
	// imRebuildJitter bounds the seeded delay between seeing the
	// replacement WO and deleting its instance manager.
	imRebuildJitter = 200 * time.Millisecond
	// imRebuildStart bounds the wait for a replacement to appear.
	imRebuildStart = 2 * time.Minute
	// imRebuildDeadline bounds the recovery after the deletion.
	imRebuildDeadline = 3 * time.Minute
)

func runIMDeleteDuringRebuild(ctx context.Context, s *Spec) {
	c := s.Client()
	n := s.Env.cfg.iterations(imRebuildDefaultRounds)
	name := fmt.Sprintf("imrebuild-%d", s.Seed%1_000_000)
	s.Step("wait for 3 nodes to be up in the manager")
	s.RequireNodes(ctx, 3)

	nodes := s.Env.Cluster.Nodes()
	node := nodes[s.Rand.Intn(len(nodes))].Name
	s.Step(fmt.Sprintf("create volume %s (%d MiB, 3 replicas) and attach it to %s", name, imRebuildSize>>20, node))
	_, dev := createAttached(ctx, s, api.VolumeCreateRequest{Name: name, Size: imRebuildSize, NumberOfReplicas: 3}, node)
	defer func() { dev.Close() }()

	s.Step(fmt.Sprintf("write the first %d MiB and flush, so that a rebuild takes a while", imRebuildFill>>20))
	fill, err := workload.New(workload.Config{
		Volume: name, BlockSize: imRebuildBlock, Pattern: workload.Sequential, Concurrency: 4, Length: imRebuildFill,
		Count: imRebuildFill / imRebuildBlock, Seed: uint64(s.Seed), Writer: 1, Recorder: s.Timeline, Logger: seedLogger(),
	})
	Expect(err).NotTo(HaveOccurred())
	seedWriteFlush(ctx, fill, dev)
	// A light writer keeps the rest of the volume busy through every
	// round (its own region: blocks of two sizes must not overlap).
	bg, err := workload.New(workload.Config{
		Volume: name, BlockSize: 4096, Offset: imRebuildFill, Length: imRebuildSize - imRebuildFill, Pattern: workload.Random,
		Concurrency: 2, Rate: 200, FlushEvery: 16, Seed: uint64(s.Seed) + 2, Writer: 2, ErrorBackoff: 20 * time.Millisecond,
		Recorder: s.Timeline, Logger: seedLogger(),
	})
	Expect(err).NotTo(HaveOccurred())
	hist := history.Checker{Recorder: s.Timeline}
	integ := s.Integrity()
	hits := make([]string, n)

	for i := range n {
		engineNode := engineOf(ctx, s, name).Spec.Node
		reps := replicasOffNode(ctx, s, name, engineNode)
		victim := reps[s.Faults.Intn(len(reps))]
		s.Step(fmt.Sprintf("round %d/%d: delete replica %s on %s to start a rebuild", i+1, n, victim.Name, victim.Spec.Node))
		stop := seedBackground(ctx, bg, dev)
		since := time.Now()
		known, err := c.ListReplicas(ctx, name)
		Expect(err).NotTo(HaveOccurred())
		del := faults.ReplicaDelete(c, victim.Name)
		Expect(s.Faults.Inject(ctx, del)).To(Succeed())
		Expect(s.Faults.Heal(ctx, del)).To(Succeed())

		repl := awaitReplacement(ctx, s, name, known)
		Expect(s.Faults.Wait(ctx, 0, imRebuildJitter)).To(Succeed())
		// The last look before the deletion says whether it hits the
		// rebuild; the deletion follows within a poll's time.
		now, err := c.GetReplica(ctx, repl.Name)
		hit := err == nil && now.Status.Mode == api.ModeWO
		imDel := faults.InstanceManagerDelete(s.Env.Cluster, repl.Spec.Node)
		deleted := time.Now()
		Expect(s.Faults.Inject(ctx, imDel)).To(Succeed())
		hits[i] = fmt.Sprintf("replacement %s on %s was %s: ", repl.Name, repl.Spec.Node, now.Status.Mode)
		if hit {
			hits[i] += "deleted during the rebuild"
		} else {
			hits[i] += "the rebuild had ended before the deletion"
		}
		hctx, cancel := context.WithTimeout(ctx, time.Minute)
		err = s.Faults.Heal(hctx, imDel)
		cancel()
		Expect(err).NotTo(HaveOccurred(), "instance manager of %s did not come back", repl.Spec.Node)

		s.Step(fmt.Sprintf("round %d/%d: wait for attached/healthy, all replicas RW", i+1, n))
		took := awaitRecovery(ctx, s, fmt.Sprintf("volume %s recovered", name), map[string]int{name: 3},
			recovery{Since: since, Deadline: imRebuildDeadline, Outage: true})
		if !hit {
			// The replacement was RW already: the deletion took an RW
			// replica away, which the volume must show and recover from
			// before the checks. A status from before the deletion (the
			// engine notices within its flush interval) does not count.
			awaitRecovery(ctx, s, fmt.Sprintf("volume %s recovered from the deletion of an RW replica's instance manager", name), map[string]int{name: 3},
				recovery{Since: deleted, Deadline: imRebuildDeadline, Outage: true})
		}
		stop()
		Expect(bg.Flush(ctx, dev)).To(Succeed(), "flush of the background writer")
		s.Env.progressf("     %s: round %d/%d: %s; healthy %v after the instance-manager deletion", s.Name, i+1, n, hits[i], since.Add(took).Sub(deleted).Round(time.Millisecond))

		s.Step(fmt.Sprintf("round %d/%d: replicas equal, history, no orphans, space bounded", i+1, n))
		s.CheckAll(
			integ.ReplicasEqual(ctx, name),
			hist.Check(ctx, fill.History(), dev),
			hist.Check(ctx, bg.History(), dev),
			s.NoOrphans(ctx),
			s.SpaceBounded(ctx, name),
		)
	}
	v := checkers.Verdict{Checker: "state-converge", Outcome: checkers.Pass,
		Summary: fmt.Sprintf("%d instance-manager deletions during rebuilds recovered", n)}
	for i, h := range hits {
		v.Evidence = append(v.Evidence, checkers.Evidence{What: fmt.Sprintf("round %d", i+1), Actual: h})
	}
	s.Check(v)
}

// awaitReplacement polls every imRebuildPoll until a replica of volume that
// is not in known exists and is rebuilding (WO) or already RW, and returns
// it. A replacement that never shows fails state-converge.
func awaitReplacement(ctx context.Context, s *Spec, volume string, known []api.Replica) api.Replica {
	c := s.Client()
	var found api.Replica
	dctx, cancel := context.WithTimeout(ctx, imRebuildStart)
	defer cancel()
	tick := time.NewTicker(imRebuildPoll)
	defer tick.Stop()
	for {
		reps, err := c.ListReplicas(dctx, volume)
		if err == nil {
			for _, r := range reps {
				isNew := !slices.ContainsFunc(known, func(k api.Replica) bool { return k.Name == r.Name })
				if isNew && !r.Spec.Deleting && (r.Status.Mode == api.ModeWO || r.Status.Mode == api.ModeRW) {
					return r
				}
				if isNew {
					found = r
				}
			}
		}
		select {
		case <-tick.C:
			continue
		case <-dctx.Done():
		}
		Expect(ctx.Err()).NotTo(HaveOccurred(), "waiting for a replacement replica of %s", volume)
		s.Check(checkers.Verdict{Checker: "state-converge", Outcome: checkers.Fail, At: time.Now(),
			Summary:  fmt.Sprintf("no replacement replica of %s started rebuilding within %v", volume, imRebuildStart),
			Evidence: []checkers.Evidence{{What: "newest replica seen", Actual: fmt.Sprintf("%s %s/%s", found.Name, found.Status.State, found.Status.Mode)}}})
		return found
	}
}
