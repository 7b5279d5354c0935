package scenarios

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/faultline/faultline/checkers/checksum"
	"github.com/faultline/faultline/checkers/history"
	"github.com/faultline/faultline/checkers/integrity"
	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/nbd"
	"github.com/faultline/faultline/workload"
)

// smoke walks a volume through its whole life once, without faults: the
// baseline every other scenario builds on.
func smoke() scenario {
	return scenario{
		Name:        "smoke",
		Labels:      []string{"smoke"},
		Description: "create, attach, write, read back, checksum, replicas equal, reads deterministic, space bounded, no orphans, detach, delete a volume (and no orphans after)",
		Timeout:     4 * time.Minute,
		Body:        runSmoke,
	}
}

const (
	smokeSize   = 64 << 20
	smokeWrites = 2048
	// smokeReadSample is how many 1 MiB chunks reads-deterministic reads
	// (the first, the last and seeded others), to keep smoke quick.
	smokeReadSample = 16
)

func runSmoke(ctx context.Context, s *Spec) {
	c := s.Client()
	name := fmt.Sprintf("smoke-%d", s.Seed%1_000_000)
	replicas := min(3, len(s.Env.Cluster.Nodes()))

	s.Step(fmt.Sprintf("wait for %d nodes to be up in the manager", replicas))
	s.RequireNodes(ctx, replicas)

	s.Step(fmt.Sprintf("create volume %s (%d MiB, %d replicas)", name, smokeSize>>20, replicas))
	_, err := c.CreateVolume(ctx, api.VolumeCreateRequest{Name: name, Size: smokeSize, NumberOfReplicas: replicas, Frontend: api.FrontendNBD})
	Expect(err).NotTo(HaveOccurred())
	deleteVolumeOnCleanup(s, name)
	s.WaitVolumeState(ctx, name, api.VolumeDetached, time.Minute)

	node := s.Env.Cluster.Nodes()[s.Rand.Intn(len(s.Env.Cluster.Nodes()))].Name
	s.Step("attach to " + node)
	_, err = c.AttachVolume(ctx, name, node)
	Expect(err).NotTo(HaveOccurred())
	vol := s.WaitVolumeState(ctx, name, api.VolumeAttached, 2*time.Minute)
	Expect(vol.Status.Endpoint).NotTo(BeEmpty(), "attached volume has no endpoint")

	s.Step("connect to " + vol.Status.Endpoint)
	dev, err := dialEndpoint(ctx, vol.Status.Endpoint)
	Expect(err).NotTo(HaveOccurred())
	defer dev.Close()
	Expect(dev.Size()).To(BeNumerically("==", smokeSize), "frontend size")

	s.Step(fmt.Sprintf("write %d self-describing blocks", smokeWrites))
	gen, err := workload.New(workload.Config{
		Volume: name, BlockSize: 4096, Pattern: workload.Random, Concurrency: 4,
		Count: smokeWrites, FlushEvery: 256, Seed: uint64(s.Seed), Recorder: s.Timeline,
	})
	Expect(err).NotTo(HaveOccurred())
	hist, err := gen.Run(ctx, dev)
	Expect(err).NotTo(HaveOccurred())
	counts := hist.Counts()
	GinkgoWriter.Printf("workload: %+v\n", counts)

	s.Step("flush")
	Expect(gen.Flush(ctx, dev)).To(Succeed())

	s.Step("read back every block against the history")
	s.Check(history.Checker{}.Check(ctx, hist, dev))

	s.Step("whole-volume checksum stable over 3 reads")
	s.Check(checksum.Checker{}.Stable(ctx, dev, 3))

	s.Step("replicas equal, reads deterministic, space bounded, no orphans")
	integ := s.Integrity()
	if replicas > 1 {
		s.Check(integ.ReplicasEqual(ctx, name))
	}
	s.Check(integ.ReadsDeterministic(ctx, dev, integrity.ReadOptions{K: 2 * replicas, Sample: smokeReadSample, Seed: s.Seed}))
	s.Check(s.SpaceBounded(ctx, name))
	s.Check(s.NoOrphans(ctx))

	s.Step("disconnect and detach")
	Expect(dev.Close()).To(Succeed())
	_, err = c.DetachVolume(ctx, name)
	Expect(err).NotTo(HaveOccurred())
	s.WaitVolumeState(ctx, name, api.VolumeDetached, time.Minute)

	s.Step("delete")
	_, err = c.DeleteVolume(ctx, name)
	Expect(err).NotTo(HaveOccurred())
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	_, err = c.WaitVolume(wctx, name, func(v api.Volume) bool { return v.Name == "" })
	Expect(err).NotTo(HaveOccurred(), "volume %s still exists", name)
	// No orphans after the delete: the harness checks that after every
	// scenario.
}

// dialEndpoint connects to a frontend given as nbd://host:port/export.
func dialEndpoint(ctx context.Context, endpoint string) (*nbd.Client, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, fmt.Errorf("endpoint %q: %w", endpoint, err)
	}
	if u.Scheme != "nbd" || u.Host == "" {
		return nil, fmt.Errorf("endpoint %q: want nbd://host:port/export", endpoint)
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, err := nbd.Dial(dctx, "tcp", u.Host, strings.TrimPrefix(u.Path, "/"))
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", endpoint, err)
	}
	return c, nil
}
