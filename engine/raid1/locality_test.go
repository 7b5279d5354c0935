package raid1

import (
	"fmt"
	"testing"

	"github.com/faultline/faultline/engine/nbd/nbdtest"
)

// TestReadLocality checks md's write-mostly rule for remote members:
// reads go to the local members, spread over them, and reach a remote
// member only when no local one is RW.
func TestReadLocality(t *testing.T) {
	tests := []struct {
		name   string
		remote []bool // by member
		// failLocal fails the reads of every local member.
		failLocal bool
		// want says which members serve reads: at least a quarter each.
		want []bool
	}{
		{"local and remote", []bool{true, false}, false, []bool{false, true}},
		{"two local, one remote", []bool{false, true, false}, false, []bool{true, false, true}},
		{"only remote", []bool{true, true}, false, []bool{true, true}},
		{"local fails", []bool{false, true}, true, []bool{false, true}},
		{"two remote, local fails", []bool{true, false, true}, true, []bool{true, false, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var members []Member
			var devs []*faulty
			for i, remote := range tt.remote {
				f := newFaulty(t, testSize)
				f.remote = remote
				f.failReads.Store(tt.failLocal && !remote)
				devs = append(devs, f)
				members = append(members, Member{Name: fmt.Sprintf("m%d", i), Dev: f})
			}
			r, err := New("vol", members, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			const reads = 40
			buf := make([]byte, 4096)
			for range reads {
				if _, err := r.ReadAt(buf, 0); err != nil {
					t.Fatal(err)
				}
			}
			var served []uint64
			for i := range devs {
				served = append(served, info(t, r, fmt.Sprintf("m%d", i)).Reads)
			}
			readers := 0
			for _, w := range tt.want {
				if w {
					readers++
				}
			}
			for i, n := range served {
				if !tt.want[i] && n != 0 {
					t.Errorf("m%d (remote %v) served %d reads, want none (all: %v)", i, tt.remote[i], n, served)
				}
				if tt.want[i] && n < reads/uint64(readers)/4 {
					t.Errorf("m%d (remote %v) served %d reads, want a share of %d (all: %v)", i, tt.remote[i], n, reads, served)
				}
			}
		})
	}
}

// TestReadLocalityOverNBD builds the raid as a node does, over a local
// device and NBD clients: the one over TCP is remote and serves no reads,
// the one over a Unix socket is on this machine and shares them.
func TestReadLocalityOverNBD(t *testing.T) {
	dev := func() *faulty { return newFaulty(t, testSize) }
	local, tcp, unix := dev(), dev(), dev()
	members := []Member{
		{Name: "tcp", Dev: nbdtest.Serve(t, "tcp", tcp)},
		{Name: "local", Dev: local},
		{Name: "unix", Dev: nbdtest.Serve(t, "unix", unix)},
	}
	r, err := New("vol", members, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	want := pattern(4096, 7)
	if _, err := r.WriteAt(want, 8192); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(want))
	for range 20 {
		if _, err := r.ReadAt(got, 8192); err != nil {
			t.Fatal(err)
		}
	}
	if n := tcp.reads.Load(); n != 0 {
		t.Errorf("the replica over TCP served %d reads, want none", n)
	}
	if local.reads.Load() == 0 || unix.reads.Load() == 0 {
		t.Errorf("local and Unix-socket members served %d and %d reads, want both some", local.reads.Load(), unix.reads.Load())
	}
	// With no local member RW, the remote one serves.
	local.failReads.Store(true)
	unix.failReads.Store(true)
	if _, err := r.ReadAt(got, 8192); err != nil {
		t.Fatalf("read with only the remote member readable: %v", err)
	}
	if tcp.reads.Load() != 1 || string(got) != string(want) {
		t.Errorf("remote member served %d reads after the local ones failed, want 1 with the data", tcp.reads.Load())
	}
}
