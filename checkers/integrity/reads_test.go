package integrity

import (
	"slices"
	"strings"
	"testing"

	"github.com/faultline/faultline/checkers"
	"github.com/faultline/faultline/engine/bdev"
	"github.com/faultline/faultline/engine/raid1"
)

// TestReadsDeterministic reads a real raid1 over two malloc members,
// served by a real NBD server, through a real NBD client. The raid spreads
// reads over its members, so a block that differs between them reads back
// alternating.
func TestReadsDeterministic(t *testing.T) {
	const size = 6<<20 + 64<<10 // a short last chunk too
	const diffAt = 3<<20 + 8<<10
	tests := []struct {
		name    string
		diverge bool
		opts    ReadOptions
		want    checkers.Outcome
		summary string
	}{
		{name: "equal members", opts: ReadOptions{}, want: checkers.Pass, summary: "7 of 7 chunks"},
		{name: "divergent block", diverge: true, opts: ReadOptions{K: 4}, want: checkers.Fail,
			summary: "1 of 7 chunks read differently over 4 reads each; first differing 4 KiB block at byte 3153920"},
		{name: "divergent block, two reads", diverge: true, opts: ReadOptions{K: 2}, want: checkers.Fail, summary: "at byte 3153920"},
		{name: "one read decides nothing", opts: ReadOptions{K: 1}, want: checkers.Unknown, summary: "at least 2 reads"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := newMalloc(t, size, 11), newMalloc(t, size, 11)
			if tt.diverge {
				corrupt(t, b, diffAt+100, 10) // inside the block at diffAt
			}
			r, err := raid1.New("vol", []raid1.Member{{Name: "a", Dev: a}, {Name: "b", Dev: b}}, raid1.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { r.Close() })
			dev := serveNBD(t, map[string]bdev.Device{"vol": r}).dial(t, "vol")
			v := Checker{}.ReadsDeterministic(testCtx(t), dev, tt.opts)
			want(t, v, NameReadsDeterministic, tt.want, tt.summary)
			if tt.want != checkers.Fail {
				return
			}
			if got := offsetOf(v, "read differently"); got != diffAt {
				t.Fatalf("differing block at %d, want %d\n%s", got, diffAt, evidenceText(v))
			}
			// Round-robin reads alternate: the odd reads got one member,
			// the even ones the other.
			if d := v.Evidence[0].Detail; tt.opts.K == 4 && (!strings.Contains(d, "reads 1, 3;") || !strings.HasSuffix(d, "reads 2, 4")) {
				t.Fatalf("want alternating reads in %q", d)
			}
		})
	}
}

// TestReadsDeterministicReadError: a device that stops answering is
// Unknown.
func TestReadsDeterministicReadError(t *testing.T) {
	srv := serveNBD(t, map[string]bdev.Device{"vol": newMalloc(t, devSize, 1)})
	dev := srv.dial(t, "vol")
	srv.srv.Close()
	want(t, Checker{}.ReadsDeterministic(testCtx(t), dev, ReadOptions{}), NameReadsDeterministic, checkers.Unknown, "read 1 of the chunk at byte 0 failed")
}

func TestPickChunks(t *testing.T) {
	tests := []struct {
		n      int64
		sample int
		seed   int64
		count  int
	}{
		{n: 5, sample: 0, count: 5},
		{n: 5, sample: 5, count: 5},
		{n: 5, sample: 9, count: 5},
		{n: 1000, sample: 1, count: 2}, // first and last at least
		{n: 1000, sample: 10, seed: 1, count: 10},
		{n: 1000, sample: 10, seed: 2, count: 10},
		{n: 1, sample: 3, count: 1},
	}
	for _, tt := range tests {
		got := pickChunks(tt.n, tt.sample, tt.seed)
		if len(got) != tt.count || got[0] != 0 || got[len(got)-1] != tt.n-1 || !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
			t.Errorf("pickChunks(%d, %d, %d) = %v: want %d distinct sorted chunks from 0 to %d", tt.n, tt.sample, tt.seed, got, tt.count, tt.n-1)
		}
		if again := pickChunks(tt.n, tt.sample, tt.seed); !slices.Equal(got, again) {
			t.Errorf("pickChunks(%d, %d, %d) not reproducible: %v then %v", tt.n, tt.sample, tt.seed, got, again)
		}
	}
	if slices.Equal(pickChunks(1000, 10, 1), pickChunks(1000, 10, 2)) {
		t.Error("seeds 1 and 2 picked the same chunks")
	}
}
