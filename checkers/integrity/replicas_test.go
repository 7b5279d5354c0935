package integrity

import (
	"strings"
	"testing"

	"github.com/faultline/faultline/checkers"
	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/bdev"
	"github.com/faultline/faultline/engine/credential"
	"github.com/faultline/faultline/timeline"
)

const devSize = 4 << 20

// TestCompareReplicas compares malloc devices served by a real NBD server
// and read through real NBD clients.
func TestCompareReplicas(t *testing.T) {
	const diffAt = 2<<20 + 12345
	tests := []struct {
		name    string
		devs    int
		corrupt string // device to damage at diffAt, "" for none
		want    checkers.Outcome
		summary string
	}{
		{name: "equal", devs: 3, want: checkers.Pass, summary: "3 replicas"},
		{name: "last differs", devs: 3, corrupt: "r2", want: checkers.Fail, summary: "1 of 3 replicas differ from r0: r2"},
		{name: "reference differs", devs: 2, corrupt: "r0", want: checkers.Fail, summary: "differ from r0: r1"},
		{name: "one device", devs: 1, want: checkers.Unknown, summary: "nothing to compare"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t)
			served := map[string]bdev.Device{}
			for i := range tt.devs {
				served["r"+string(rune('0'+i))] = newMalloc(t, devSize, 7)
			}
			if tt.corrupt != "" {
				corrupt(t, served[tt.corrupt], diffAt, 1)
			}
			srv := serveNBD(t, served)
			devs := map[string]checkers.Device{}
			for name := range served {
				devs[name] = srv.dial(t, name)
			}
			rec := timeline.NewRecorder()
			v := Checker{Recorder: rec}.CompareReplicas(ctx, devs)
			want(t, v, NameReplicasEqual, tt.want, tt.summary)
			if tt.want == checkers.Fail {
				if got := offsetOf(v, "first difference"); got != diffAt {
					t.Fatalf("first difference at %d, want %d\n%s", got, diffAt, evidenceText(v))
				}
			}
			if ev := rec.Events(); len(ev) != 1 || ev[0].Lane != "checker/"+NameReplicasEqual || ev[0].Name != string(tt.want) {
				t.Fatalf("timeline %+v", ev)
			}
		})
	}
}

// TestCompareReplicasReadError: a replica whose server went away is
// Unknown, never Pass.
func TestCompareReplicasReadError(t *testing.T) {
	ctx := testCtx(t)
	srv := serveNBD(t, map[string]bdev.Device{"a": newMalloc(t, devSize, 1), "b": newMalloc(t, devSize, 1)})
	devs := map[string]checkers.Device{"a": srv.dial(t, "a"), "b": srv.dial(t, "b")}
	srv.srv.Close()
	want(t, Checker{}.CompareReplicas(ctx, devs), NameReplicasEqual, checkers.Unknown, "replica a")
}

// TestReplicaExports runs the part of ReplicasEqual after the API call on
// replica records that point at a real NBD server: which replicas are
// read, which are skipped, and that an export that cannot be opened is
// Unknown.
func TestReplicaExports(t *testing.T) {
	const diffAt = 3<<20 + 8<<10
	bad := newMalloc(t, devSize, 3)
	corrupt(t, bad, diffAt, 4096)
	srv := serveNBD(t, map[string]bdev.Device{
		"v-r-aaaaaaaa": newMalloc(t, devSize, 3),
		"v-r-bbbbbbbb": newMalloc(t, devSize, 3),
		"v-r-cccccccc": bad,
	})
	rep := func(name, mode, state string) api.Replica {
		r := api.Replica{Name: name, Spec: api.ReplicaSpec{Volume: "v", Node: "n1"}}
		r.Status = api.ReplicaStatus{State: state, Mode: mode, Address: srv.addr, Export: name}
		return r
	}
	deleting := rep("v-r-dddddddd", api.ModeRW, api.InstanceRunning)
	deleting.Spec.Deleting = true
	noAddr := rep("v-r-eeeeeeee", api.ModeRW, api.InstanceRunning)
	noAddr.Status.Address = ""
	missing := rep("v-r-ffffffff", api.ModeRW, api.InstanceRunning)
	tests := []struct {
		name    string
		reps    []api.Replica
		want    checkers.Outcome
		summary string
		skipped []string
		offset  int64
	}{
		{name: "divergent replica rebuilding is skipped",
			reps: []api.Replica{rep("v-r-cccccccc", api.ModeWO, api.InstanceRunning), rep("v-r-bbbbbbbb", api.ModeRW, api.InstanceRunning),
				rep("v-r-aaaaaaaa", api.ModeRW, api.InstanceRunning), deleting, noAddr},
			want: checkers.Pass, summary: "2 replicas", skipped: []string{"v-r-cccccccc", "v-r-dddddddd", "v-r-eeeeeeee"}},
		{name: "divergent RW replica",
			reps: []api.Replica{rep("v-r-cccccccc", api.ModeRW, api.InstanceRunning), rep("v-r-aaaaaaaa", api.ModeRW, api.InstanceRunning),
				rep("v-r-bbbbbbbb", api.ModeERR, api.InstanceRunning)},
			want: checkers.Fail, summary: "differ from v-r-aaaaaaaa: v-r-cccccccc", skipped: []string{"v-r-bbbbbbbb"}, offset: diffAt},
		{name: "stopped replica is skipped",
			reps: []api.Replica{rep("v-r-aaaaaaaa", api.ModeRW, api.InstanceStopped), rep("v-r-bbbbbbbb", api.ModeRW, api.InstanceRunning)},
			want: checkers.Unknown, summary: "nothing to compare", skipped: []string{"v-r-aaaaaaaa"}},
		{name: "export cannot be opened",
			reps: []api.Replica{rep("v-r-aaaaaaaa", api.ModeRW, api.InstanceRunning), missing},
			want: checkers.Unknown, summary: "cannot open replica v-r-ffffffff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := checkers.Record(nil, compareReplicaExports(testCtx(t), "v", tt.reps, credential.Token{}))
			want(t, v, NameReplicasEqual, tt.want, tt.summary)
			var skipped []string
			for _, e := range v.Evidence {
				if name, ok := strings.CutPrefix(e.What, "skipped replica "); ok {
					skipped = append(skipped, name)
				}
			}
			if strings.Join(skipped, ",") != strings.Join(tt.skipped, ",") {
				t.Fatalf("skipped %v, want %v\n%s", skipped, tt.skipped, evidenceText(v))
			}
			if tt.offset != 0 && offsetOf(v, "first difference") != tt.offset {
				t.Fatalf("want first difference at %d\n%s", tt.offset, evidenceText(v))
			}
		})
	}
}
