package scenarios

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/faultline/faultline/checkers"
	"github.com/faultline/faultline/checkers/state"
	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/nbd"
	"github.com/faultline/faultline/workload"
)

// NameAttachment is the checker name of the verdicts that a consumer's
// volume stayed attached for it.
const NameAttachment = "attachment"

// deleteConsumersOnCleanup force-deletes the volume's consumers when the
// spec ends (before the volume's own cleanup, which DeferCleanup runs
// later), and waits until they are gone.
func deleteConsumersOnCleanup(s *Spec, volume string) {
	c := s.Client()
	DeferCleanup(func(ctx SpecContext) {
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			cons, err := c.ListConsumers(ctx, volume)
			if err != nil || len(cons) == 0 {
				return
			}
			for _, x := range cons {
				c.DeleteConsumer(ctx, x.Name, true)
			}
			if !sleepCtx(ctx, 100*time.Millisecond) {
				return
			}
		}
	}, NodeTimeout(time.Minute))
}

// awaitConsumerRunning waits until the named consumer runs and returns it.
func awaitConsumerRunning(ctx context.Context, s *Spec, name string, deadline time.Duration) api.Consumer {
	c := s.Client()
	dctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	var last api.Consumer
	var lastErr error
	for {
		x, err := c.GetConsumer(dctx, name)
		if err == nil && x.Status.State == api.ConsumerRunning {
			return x
		}
		last, lastErr = x, err
		if !sleepCtx(dctx, 50*time.Millisecond) {
			s.Check(checkers.Verdict{Checker: "state-converge", Outcome: checkers.Fail, At: time.Now(),
				Summary:  fmt.Sprintf("consumer %s not running after %v", name, deadline),
				Evidence: []checkers.Evidence{{What: "consumer " + name, Expected: api.ConsumerRunning, Actual: fmt.Sprintf("%s (%s) err=%v", last.Status.State, last.Status.Message, lastErr)}}})
			Fail("consumer " + name + " not running")
		}
	}
}

// awaitRemount waits until the volume asked for a remount after since.
func awaitRemount(ctx context.Context, s *Spec, volume string, since time.Time, deadline time.Duration) bool {
	dctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	for {
		v, err := s.Client().GetVolume(dctx, volume)
		if err == nil && v.Status.RemountRequestedAt.After(since) {
			return true
		}
		if !sleepCtx(dctx, 50*time.Millisecond) {
			return false
		}
	}
}

// awaitConsumerReplacement waits until old is terminating or gone and the consumer
// that replaced it runs, on the same node and for the same volume.
func awaitConsumerReplacement(ctx context.Context, s *Spec, old api.Consumer, deadline time.Duration) api.Consumer {
	c := s.Client()
	dctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	for {
		cons, err := c.ListConsumers(dctx, old.Spec.Volume)
		if err == nil {
			for _, x := range cons {
				if x.Name != old.Name && x.Spec.Workload == old.Spec.Workload && x.Status.CreatedAt.After(old.Status.CreatedAt) && x.Status.State == api.ConsumerRunning {
					Expect(x.Spec.Node).To(Equal(old.Spec.Node), "replacement %s of %s runs on another node", x.Name, old.Name)
					return x
				}
			}
		}
		if !sleepCtx(dctx, 50*time.Millisecond) {
			s.Check(checkers.Verdict{Checker: "state-converge", Outcome: checkers.Fail, At: time.Now(),
				Summary: fmt.Sprintf("no running replacement of consumer %s within %v of the remount", old.Name, deadline),
				Evidence: []checkers.Evidence{{What: "consumers of " + old.Spec.Volume, Expected: "a running replacement of " + old.Name,
					Actual: fmt.Sprintf("%+v (err %v)", cons, err)}}})
			Fail("no replacement consumer")
		}
	}
}

// attachmentBroken says why v no longer holds the consumer's attachment:
// its ticket is gone, or the volume left (or is leaving) the node. "" when
// it holds. Attaching is fine: the engine is coming back.
func attachmentBroken(v api.Volume, consumer api.Consumer) string {
	t, ok := v.Spec.AttachmentTickets[api.ConsumerTicketID(consumer.Name)]
	switch {
	case !ok:
		return fmt.Sprintf("ticket %s gone (tickets %v)", api.ConsumerTicketID(consumer.Name), ticketIDs(v))
	case t.Node != consumer.Spec.Node:
		return fmt.Sprintf("ticket %s on node %s", t.ID, t.Node)
	case v.Spec.NodeID != consumer.Spec.Node:
		return fmt.Sprintf("volume to be attached to %q, not %s", v.Spec.NodeID, consumer.Spec.Node)
	case v.Status.State == api.VolumeDetaching || v.Status.State == api.VolumeDetached:
		return "volume " + v.Status.State
	}
	return ""
}

func ticketIDs(v api.Volume) []string {
	var ids []string
	for id := range v.Spec.AttachmentTickets {
		ids = append(ids, id)
	}
	return ids
}

// awaitUpgraded waits until the volume is attached and healthy on image
// to, held for upgradeHold, and image from is no longer referenced: the
// upgrade completed (an abandoned upgrade fails here, as in Longhorn's
// test). It fails at once when the volume lets go of consumer's
// attachment.
func awaitUpgraded(ctx context.Context, s *Spec, volume, consumer, from, to string, since time.Time) checkers.Verdict {
	c := s.Client()
	x, err := c.GetConsumer(ctx, consumer)
	Expect(err).NotTo(HaveOccurred())
	dctx, cancel := context.WithTimeout(ctx, upgradeDeadline)
	defer cancel()
	var heldSince time.Time
	var last api.Volume
	for {
		v, err := c.GetVolume(dctx, volume)
		if err == nil {
			last = v
			if why := attachmentBroken(v, x); why != "" {
				return attachmentVerdict(volume, x, why)
			}
			done := v.Status.State == api.VolumeAttached && v.Status.Robustness == api.RobustnessHealthy && v.Spec.EngineImage == to && v.Status.CurrentImage == to
			switch {
			case !done:
				heldSince = time.Time{}
			case heldSince.IsZero():
				heldSince = time.Now()
			case time.Since(heldSince) >= upgradeHold:
				if ei, err := c.GetEngineImage(dctx, from); err == nil && ei.Status.RefCount == 0 {
					return checkers.Verdict{Checker: "state-converge", Outcome: checkers.Pass, At: time.Now(),
						Summary: fmt.Sprintf("volume %s attached/healthy on %s, %s unreferenced, %v after the crash", volume, to, from, time.Since(since).Round(time.Millisecond))}
				}
			}
		}
		if !sleepCtx(dctx, 100*time.Millisecond) {
			return checkers.Verdict{Checker: "state-converge", Outcome: checkers.Fail, At: time.Now(),
				Summary: fmt.Sprintf("upgrade of %s to %s did not complete within %v of the crash", volume, to, upgradeDeadline),
				Evidence: []checkers.Evidence{{What: "volume " + volume, Expected: "attached, healthy, spec and current image " + to + ", image " + from + " refCount 0",
					Actual: fmt.Sprintf("%s, %s, spec %s, current %s (%v)", last.Status.State, last.Status.Robustness, last.Spec.EngineImage, last.Status.CurrentImage, err)}}}
		}
	}
}

// attachmentVerdict fails because the volume let go of a consumer that
// still exists.
func attachmentVerdict(volume string, x api.Consumer, why string) checkers.Verdict {
	return checkers.Verdict{Checker: NameAttachment, Outcome: checkers.Fail, At: time.Now(),
		Summary: fmt.Sprintf("volume %s let go of consumer %s while it runs: %s", volume, x.Name, why),
		Evidence: []checkers.Evidence{{What: "attachment of " + x.Name, Expected: "volume attached to " + x.Spec.Node + " with ticket " + api.ConsumerTicketID(x.Name) + " while the consumer exists",
			Actual: why}}}
}

// holdConsumer has consumer x do flushed writes (gen) and reads on dev for
// hold, and waits (within the hold, or up to one grace period more) until
// the consumer it replaced is gone. It fails when, while x exists, the
// volume detaches from it or drops its ticket (polled, and in the state
// samples), or when a read fails.
func holdConsumer(ctx context.Context, s *Spec, volume, old string, x api.Consumer, dev *nbd.Client, gen *workload.Generator, hold time.Duration) checkers.Verdict {
	c := s.Client()
	start := time.Now()
	stop := seedBackground(ctx, gen, dev)
	reads := startReader(ctx, dev, s.Rand.Uint64())
	var why string
	oldGone := false
	for why == "" && (time.Since(start) < hold || (!oldGone && time.Since(start) < hold+upgradeGrace+10*time.Second)) {
		v, err := c.GetVolume(ctx, volume)
		if err == nil {
			why = attachmentBroken(v, x)
		}
		if !oldGone {
			if _, err := c.GetConsumer(ctx, old); api.IsNotFound(err) {
				oldGone = true
			}
		}
		if !sleepCtx(ctx, 100*time.Millisecond) {
			break
		}
	}
	stop()
	n, readErr := reads()
	if why == "" {
		samples := samplesSince(s.States.Samples(), start)
		var mine []state.Sample
		for _, x := range samples {
			if x.Kind == state.KindVolume && x.Name == volume {
				mine = append(mine, x)
			}
		}
		detached := state.Condition{What: "volume detaching or detached", Holds: func(x state.Sample) bool {
			return x.State == api.VolumeDetaching || x.State == api.VolumeDetached
		}}
		if v := state.Never(mine, detached, 0, time.Now()); !v.Passed() {
			why = v.Summary
		}
	}
	if why == "" && readErr != nil {
		why = fmt.Sprintf("read failed after %d reads: %v", n, readErr)
	}
	if why != "" {
		return attachmentVerdict(volume, x, why)
	}
	if !oldGone {
		return checkers.Verdict{Checker: NameAttachment, Outcome: checkers.Fail, At: time.Now(),
			Summary: fmt.Sprintf("consumer %s, replaced by %s, still exists %v after the hold began", old, x.Name, time.Since(start).Round(time.Millisecond))}
	}
	counts := gen.History().Counts()
	return checkers.Verdict{Checker: NameAttachment, Outcome: checkers.Pass, At: time.Now(),
		Summary: fmt.Sprintf("volume %s stayed attached for %s for %v (%d writes acknowledged, %d reads); %s gone", volume, x.Name, time.Since(start).Round(time.Millisecond), counts.OK, n, old)}
}

// startReader reads random 4 KiB blocks from dev every 10 ms until the
// returned function is called, which returns how many reads it made and
// the first error.
func startReader(ctx context.Context, dev *nbd.Client, seed uint64) func() (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var n int
	var first error
	wg.Add(1)
	go func() {
		defer wg.Done()
		r := rand.New(rand.NewPCG(seed, 7))
		buf := make([]byte, 4096)
		blocks := dev.Size() / 4096
		for sleepCtx(ctx, 10*time.Millisecond) {
			if _, err := dev.ReadAt(buf, r.Int64N(blocks)*4096); err != nil {
				first = err
				return
			}
			n++
		}
	}()
	return func() (int, error) {
		cancel()
		wg.Wait()
		return n, first
	}
}
