package faults

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/timeline"
)

// TestPauseStallsNode pauses a real node, through the driver and through
// the control socket: while paused its RPC does not answer and its process
// is stopped; Heal waits out the duration and the same process answers
// again.
func TestPauseStallsNode(t *testing.T) {
	d, _ := upLocal(t, 1)
	for _, tc := range []struct {
		name   string
		driver cluster.Driver
	}{
		{"driver", d},
		{"remote", remoteOf(t, d)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			node := tc.driver.Nodes()[0]
			before := nodeProcess(ctx, t, tc.driver, node.Name)
			if err := rpcAnswers(ctx, tc.driver, node, time.Second); err != nil {
				t.Fatalf("node does not answer before the pause: %v", err)
			}
			const duration = 1500 * time.Millisecond
			rec := timeline.NewRecorder()
			in := NewInjector(rec, 1, nil)
			f := Pause(tc.driver, node.Name, duration)
			start := time.Now()
			if err := in.Inject(ctx, f); err != nil {
				t.Fatal(err)
			}
			if state := procState(before.PID); state != "T" {
				t.Errorf("node process %d in state %q after Inject, want T (stopped)", before.PID, state)
			}
			if err := rpcAnswers(ctx, tc.driver, node, 300*time.Millisecond); err == nil {
				t.Error("a paused node answered JSON-RPC")
			}
			if err := in.Heal(ctx, f); err != nil {
				t.Fatal(err)
			}
			if took := time.Since(start); took < duration {
				t.Errorf("Heal resumed after %v, before the pause's %v were up", took, duration)
			}
			if err := rpcAnswers(ctx, tc.driver, node, 5*time.Second); err != nil {
				t.Fatalf("node does not answer after Heal: %v", err)
			}
			if after := nodeProcess(ctx, t, tc.driver, node.Name); after.PID != before.PID || after.Restarts != before.Restarts {
				t.Errorf("node process changed: before %+v, after %+v", before, after)
			}
			// Heal again: nothing to wait for, nothing to undo.
			again := time.Now()
			if err := f.Heal(ctx); err != nil || time.Since(again) > time.Second {
				t.Errorf("second Heal: %v after %v", err, time.Since(again))
			}
			if ev := faultWindow(rec, "pause"); ev.End.Sub(ev.Time) < duration || ev.Detail["duration"] != duration.String() {
				t.Errorf("pause window %v..%v %v, want at least %v", ev.Time, ev.End, ev.Detail, duration)
			}
		})
	}
	t.Run("failed inject", func(t *testing.T) {
		ctx := t.Context()
		for _, tc := range []struct {
			name string
			f    Fault
			want error
		}{
			{"unknown node", Pause(d, "node-9", time.Minute), cluster.ErrUnknownNode},
			{"unsupported driver", Pause(struct{}{}, "node-1", time.Minute), ErrPauseUnsupported},
		} {
			if err := tc.f.Inject(ctx); !errors.Is(err, tc.want) {
				t.Errorf("%s: Inject = %v, want %v", tc.name, err, tc.want)
			}
			start := time.Now()
			if err := tc.f.Heal(ctx); err != nil || time.Since(start) > time.Second {
				t.Errorf("%s: Heal after a failed Inject = %v after %v", tc.name, err, time.Since(start))
			}
		}
	})
}

// nodeProcess returns the driver's status of a node.
func nodeProcess(ctx context.Context, t *testing.T, d cluster.Driver, name string) cluster.ProcessStatus {
	t.Helper()
	st, err := d.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n, ok := st.Node(name)
	if !ok {
		t.Fatalf("no node %s in %+v", name, st)
	}
	return n
}

// rpcAnswers calls spdk_get_version on a node's JSON-RPC and fails unless
// the node answers within deadline.
func rpcAnswers(ctx context.Context, d cluster.Driver, node cluster.Node, deadline time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	c, err := cluster.DialNode(ctx, d, node)
	if err != nil {
		return err
	}
	defer c.Close()
	var v json.RawMessage
	return c.Call(ctx, "spdk_get_version", nil, &v)
}

// procState is the state letter of a process (R, S, T, Z...).
func procState(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return ""
	}
	return s[i+2 : i+3]
}
