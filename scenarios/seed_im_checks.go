package scenarios

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/faultline/faultline/checkers"
	"github.com/faultline/faultline/checkers/integrity"
	"github.com/faultline/faultline/checkers/rpcerrors"
	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/engine/api"
)

// imRPCTimeout bounds one read of a node's error answers: a node being
// restarted does not answer, and the loop must not stall on it.
const imRPCTimeout = 2 * time.Second

// imCheckRPC is seed 003's direct invariant: no node answered a head
// create or clone with "File exists". The nodes count since they started,
// so the loops check after every recovery, before the next fault restarts
// a node. With all set, a node that does not answer makes the verdict
// unknown; otherwise it is left out (it is restarting).
func imCheckRPC(ctx context.Context, s *Spec, all bool) checkers.Verdict {
	nodes, err := integrity.NodesFromManager(ctx, s.Client())
	if err != nil {
		return checkers.Verdict{Checker: rpcerrors.Name, Outcome: checkers.Unknown, At: time.Now(), Summary: err.Error()}
	}
	byNode := map[string][]rpcerrors.Answer{}
	var missing []string
	for _, n := range nodes {
		rctx, cancel := context.WithTimeout(ctx, imRPCTimeout)
		answers, err := readRPCErrors(rctx, s, n.Name)
		cancel()
		if err != nil {
			missing = append(missing, fmt.Sprintf("%s: %v", n.Name, err))
			continue
		}
		byNode[n.Name] = answers
	}
	v := rpcerrors.Check(byNode)
	if v.Passed() && all && len(missing) > 0 {
		v.Outcome, v.Summary = checkers.Unknown, "nodes did not answer: "+strings.Join(missing, "; ")
	}
	return v
}

// readRPCErrors reads one node's error answers (rpcerrors.Read).
func readRPCErrors(ctx context.Context, s *Spec, node string) ([]rpcerrors.Answer, error) {
	n, err := cluster.NodeNamed(s.Env.Cluster, node)
	if err != nil {
		return nil, err
	}
	c, err := cluster.DialNode(ctx, s.Env.Cluster, n)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return rpcerrors.Read(ctx, c)
}

// imAwaitVolume is seedAwaitVolume with the RPC check between polls: a
// replica start refused with File exists fails the spec at once, before
// the volume has time to flap (or to recover through a new replica).
// extra, when set, adds a condition to the wanted state; hold is how long
// the state must last (a status not yet revised after the fault does not
// count).
func imAwaitVolume(ctx context.Context, s *Spec, name string, since time.Time, deadline, hold time.Duration, want imWant, extra func(context.Context) (bool, error)) api.Volume {
	c := s.Client()
	var last api.Volume
	v := seedAwaitHeld(ctx, s, fmt.Sprintf("volume %s %s/%s", name, want.State, want.Robustness), since, deadline, hold,
		func(ctx context.Context) (imWant, error) {
			if v := imCheckRPC(ctx, s, false); v.Outcome == checkers.Fail {
				s.Check(v)
			}
			vol, err := c.GetVolume(ctx, name)
			if err != nil {
				return imWant{}, err
			}
			last = vol
			got := imWant{State: vol.Status.State, Robustness: vol.Status.Robustness,
				Outage: want.Outage && sawOutage(s.States.Samples(), name, since), Extra: true}
			if extra != nil {
				ok, err := extra(ctx)
				if err != nil {
					return imWant{}, err
				}
				got.Extra = ok
			}
			return got, nil
		}, want)
	seedCheckQuiet(s, v)
	return last
}

// imWant is what a recovering volume must show; Extra is the scenario's
// own condition (the crashed replica RW again), true when there is none.
type imWant struct {
	State      string
	Robustness string
	Outage     bool
	Extra      bool
}

// imCheckChains runs chain-matches on the volumes: each RW replica's chain
// on its node must be the volume's backing image, ready snapshots and head.
func imCheckChains(ctx context.Context, s *Spec, volumes ...string) []checkers.Verdict {
	inv, err := integrity.Checker{API: s.Client(), Credential: cluster.CredentialOf(s.Env.Cluster)}.ReadInventory(ctx)
	if err != nil {
		return []checkers.Verdict{{Checker: integrity.NameChainMatches, Outcome: checkers.Unknown, At: time.Now(), Summary: "cannot read the lvol inventory: " + err.Error()}}
	}
	out := make([]checkers.Verdict, 0, len(volumes))
	for _, v := range volumes {
		out = append(out, integrity.ChainsMatch(inv, v))
	}
	return out
}
