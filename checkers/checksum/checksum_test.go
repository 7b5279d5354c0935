package checksum

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/faultline/faultline/checkers"
	"github.com/faultline/faultline/internal/testtool"
	"github.com/faultline/faultline/timeline"
)

// memDevice is an in-memory device; reads fail when failAt is inside them.
type memDevice struct {
	data   []byte
	failAt int64
}

func newMem(size int, seed uint64) *memDevice {
	d := &memDevice{data: make([]byte, size), failAt: -1}
	r := rand.New(rand.NewPCG(seed, 0))
	for i := range d.data {
		d.data[i] = byte(r.Uint32())
	}
	return d
}

func (d *memDevice) clone() *memDevice {
	return &memDevice{data: append([]byte(nil), d.data...), failAt: -1}
}

func (d *memDevice) Size() int64 { return int64(len(d.data)) }

func (d *memDevice) ReadAt(p []byte, off int64) (int, error) {
	if d.failAt >= off && d.failAt < off+int64(len(p)) {
		return 0, errors.New("EIO")
	}
	return copy(p, d.data[off:]), nil
}

// flappingDevice returns different data on alternate reads of offset at,
// as a raid1 spreading reads over two divergent replicas does.
type flappingDevice struct {
	checkers.Device
	at int64

	mu    sync.Mutex
	reads int
}

func (d *flappingDevice) ReadAt(p []byte, off int64) (int, error) {
	n, err := d.Device.ReadAt(p, off)
	if d.at >= off && d.at < off+int64(n) {
		d.mu.Lock()
		d.reads++
		flip := d.reads%2 == 0
		d.mu.Unlock()
		if flip {
			p[d.at-off] ^= 0xff
		}
	}
	return n, err
}

func TestDigestMatchesSha256sum(t *testing.T) {
	sum := testtool.Require(t, "sha256sum", "coreutils")
	dev := newMem(ReadSize+4096+512, 1) // crosses a read boundary, odd tail
	path := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(path, dev.data, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sum, path).Output()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Digest(context.Background(), dev)
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Fields(string(out))[0]; got != want {
		t.Fatalf("digest %s, sha256sum says %s", got, want)
	}
}

func TestStable(t *testing.T) {
	steady := newMem(3*ReadSize/2, 2)
	broken := newMem(4096, 3)
	broken.failAt = 100
	tests := []struct {
		name     string
		dev      checkers.Device
		k        int
		want     checkers.Outcome
		distinct int
	}{
		{"steady", steady, 3, checkers.Pass, 1},
		{"unstable reads", &flappingDevice{Device: steady, at: ReadSize + 17}, 3, checkers.Fail, 2},
		{"read error", broken, 3, checkers.Unknown, 0},
		{"one read cannot decide", steady, 1, checkers.Unknown, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := Checker{}.Stable(context.Background(), tt.dev, tt.k)
			if v.Outcome != tt.want {
				t.Fatalf("outcome %s, want %s: %s", v.Outcome, tt.want, v.Summary)
			}
			if tt.distinct == 0 {
				return
			}
			if len(v.Evidence) != tt.k {
				t.Fatalf("%d evidence entries, want one digest per read", len(v.Evidence))
			}
			seen := map[string]bool{}
			for _, e := range v.Evidence {
				if len(e.Actual) != 64 {
					t.Fatalf("evidence %+v has no digest", e)
				}
				seen[e.Actual] = true
			}
			if len(seen) != tt.distinct {
				t.Fatalf("%d distinct digests in evidence, want %d", len(seen), tt.distinct)
			}
		})
	}
}

func TestEqual(t *testing.T) {
	tests := []struct {
		recorded, actual string
		want             checkers.Outcome
	}{
		{"abc123", "abc123", checkers.Pass},
		{"ABC123", "abc123", checkers.Pass},
		{"abc123", "abc124", checkers.Fail},
		{"", "abc123", checkers.Unknown},
	}
	for _, tt := range tests {
		v := Checker{}.Equal(tt.recorded, tt.actual)
		if v.Outcome != tt.want {
			t.Errorf("Equal(%q, %q) = %s, want %s", tt.recorded, tt.actual, v.Outcome, tt.want)
		}
		if e := v.Evidence; len(e) != 1 || e[0].Expected != tt.recorded || e[0].Actual != tt.actual {
			t.Errorf("Equal(%q, %q) evidence %+v", tt.recorded, tt.actual, e)
		}
	}
}

func TestReplicasEqual(t *testing.T) {
	base := newMem(2*ReadSize+8192, 4)
	divergent := base.clone()
	const diffAt = ReadSize + 777
	divergent.data[diffAt] ^= 1
	divergent.data[diffAt+5000] ^= 1
	short := &memDevice{data: base.data[:ReadSize], failAt: -1}
	broken := base.clone()
	broken.failAt = 10

	tests := []struct {
		name     string
		replicas map[string]checkers.Device
		want     checkers.Outcome
		differ   string
		offset   int64
	}{
		{"equal", map[string]checkers.Device{"r-a": base, "r-b": base.clone(), "r-c": base.clone()}, checkers.Pass, "", 0},
		{"divergent", map[string]checkers.Device{"r-a": base, "r-b": base.clone(), "r-c": divergent}, checkers.Fail, "r-c", diffAt},
		{"divergent first by name", map[string]checkers.Device{"r-a": divergent, "r-b": base}, checkers.Fail, "r-b", diffAt},
		{"shorter replica", map[string]checkers.Device{"r-a": base, "r-b": short}, checkers.Fail, "r-b", ReadSize},
		{"unreadable replica", map[string]checkers.Device{"r-a": base, "r-b": broken}, checkers.Unknown, "", 0},
		{"one replica", map[string]checkers.Device{"r-a": base}, checkers.Unknown, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := Checker{}.ReplicasEqual(context.Background(), tt.replicas)
			if v.Outcome != tt.want {
				t.Fatalf("outcome %s, want %s: %s", v.Outcome, tt.want, v.Summary)
			}
			if tt.want != checkers.Fail {
				return
			}
			var found bool
			for _, e := range v.Evidence {
				if e.What == "first difference" {
					found = true
					if e.Actual != tt.differ || e.Offset == nil || *e.Offset != tt.offset {
						t.Fatalf("first difference %+v, want %s at %d", e, tt.differ, tt.offset)
					}
				}
			}
			if !found {
				t.Fatalf("no first difference in %+v", v.Evidence)
			}
			digests := 0
			for _, e := range v.Evidence {
				if strings.HasPrefix(e.What, "replica ") && len(e.Actual) == 64 {
					digests++
				}
			}
			if digests != len(tt.replicas) {
				t.Fatalf("%d replica digests in evidence, want %d", digests, len(tt.replicas))
			}
		})
	}
}

func TestFirstDifferenceEqual(t *testing.T) {
	a := newMem(5000, 5)
	off, err := FirstDifference(context.Background(), a, a.clone())
	if err != nil || off != -1 {
		t.Fatalf("equal devices: %d, %v", off, err)
	}
}

func TestVerdictRecorded(t *testing.T) {
	rec := timeline.NewRecorder()
	Checker{Recorder: rec}.Equal("a", "b")
	if ev := rec.Events(); len(ev) != 1 || ev[0].Kind != timeline.KindChecker || ev[0].Name != "fail" {
		t.Fatalf("events %+v", ev)
	}
}

func TestDigestCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Digest(ctx, newMem(4096, 6)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Digest on a cancelled context: %v", err)
	}
}
