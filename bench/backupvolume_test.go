package bench

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pierrec/lz4/v4"
)

func TestKindOfMix(t *testing.T) {
	count := map[blockKind]int{}
	for i := range 800 {
		count[kindOf(i)]++
	}
	want := map[blockKind]int{kindRandom: 400, kindText: 200, kindZero: 200}
	for k, n := range want {
		if count[k] != n {
			t.Errorf("%s blocks: %d of 800, want %d", k, count[k], n)
		}
	}
}

func TestChangeSets(t *testing.T) {
	tests := []struct {
		blocks, pct, count, wantLen int
	}{
		{512, 5, 2, 26}, // 1 GiB: 25.6 blocks, rounded up
		{32, 5, 2, 2},
		{8, 5, 2, 1}, // never an empty change
		{20, 50, 3, 10},
	}
	for _, tt := range tests {
		sets := changeSets(tt.blocks, tt.pct, tt.count, 7)
		if len(sets) != tt.count {
			t.Fatalf("%+v: %d sets", tt, len(sets))
		}
		seen := map[int]bool{}
		for _, set := range sets[:min(tt.count, tt.blocks/tt.wantLen)] {
			if len(set) != tt.wantLen {
				t.Errorf("%+v: set of %d blocks, want %d", tt, len(set), tt.wantLen)
			}
			if !slices.IsSorted(set) {
				t.Errorf("%+v: set %v not sorted", tt, set)
			}
			for _, b := range set {
				if b < 0 || b >= tt.blocks || seen[b] {
					t.Errorf("%+v: block %d out of range or in two sets", tt, b)
				}
				seen[b] = true
			}
		}
	}
	a, b := changeSets(512, 5, 1, 1)[0], changeSets(512, 5, 1, 1)[0]
	if !slices.Equal(a, b) {
		t.Errorf("same seed, different sets: %v, %v", a, b)
	}
	if slices.Equal(a, changeSets(512, 5, 1, 2)[0]) {
		t.Errorf("another seed gave the same set %v", a)
	}
	// Spread: the changes are not bunched at one end of the volume.
	if a[0] > 128 || a[len(a)-1] < 384 {
		t.Errorf("changes %v do not span the volume", a)
	}
}

// TestBenchVolume writes a small volume and checks its content is what
// the report says: distinct random blocks, compressible text, zeros; that
// verify tells changed content from unchanged, names the block, and that
// rewriting to version 0 puts the initial content back.
func TestBenchVolume(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v.img")
	const size = 16 * blockSize
	v, err := createVolume(path, size, 3)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) != size {
		t.Fatalf("volume of %d bytes, want %d", len(data), size)
	}
	block := func(i int) []byte { return data[i*blockSize : (i+1)*blockSize] }
	zero := make([]byte, blockSize)
	var random [][]byte
	for i := range 16 {
		b := block(i)
		switch kindOf(i) {
		case kindZero:
			if !bytes.Equal(b, zero) {
				t.Errorf("block %d should be zeros", i)
			}
		case kindText:
			if n := compressedSize(t, b); n > blockSize/2 || n == 0 {
				t.Errorf("text block %d compresses to %d bytes, want a fraction of %d", i, n, blockSize)
			}
			if !strings.Contains(string(b[:4096]), "\n") || bytes.IndexByte(b, 0) >= 0 {
				t.Errorf("text block %d does not look like lines of text", i)
			}
		case kindRandom:
			if n := compressedSize(t, b); n != 0 && n < blockSize*99/100 {
				t.Errorf("random block %d compresses to %d bytes", i, n)
			}
			for _, r := range random {
				if bytes.Equal(r, b) {
					t.Errorf("random block %d repeats an earlier one", i)
				}
			}
			random = append(random, b)
		}
	}

	v0 := v.snapshot()
	if err := v.verify(path, v0); err != nil {
		t.Fatalf("fresh volume: %v", err)
	}
	if err := v.rewrite([]int{3, 9}, 1); err != nil { // a zero block and a text block
		t.Fatal(err)
	}
	err = v.verify(path, v0)
	if err == nil || !strings.Contains(err.Error(), "block 3 ") {
		t.Fatalf("verify after a change = %v, want block 3 named", err)
	}
	v1 := v.snapshot()
	if err := v.verify(path, v1); err != nil {
		t.Fatalf("changed volume: %v", err)
	}
	if err := v.rewrite([]int{3, 9}, 0); err != nil {
		t.Fatal(err)
	}
	if err := v.verify(path, v0); err != nil {
		t.Fatalf("volume put back: %v", err)
	}
	if !slices.Equal(v.snapshot(), v0) {
		t.Error("fingerprints differ after the volume was put back")
	}
	if err := os.Truncate(path, size-blockSize); err != nil {
		t.Fatal(err)
	}
	if err := v.verify(path, v0); err == nil || !strings.Contains(err.Error(), "size") {
		t.Errorf("verify of a short file = %v, want a size error", err)
	}
	if _, err := createVolume(filepath.Join(t.TempDir(), "odd"), blockSize+1, 1); err == nil {
		t.Error("createVolume accepted a size that is not a multiple of the block")
	}
}

// compressedSize is b's lz4 block-format size, 0 when it does not shrink.
func compressedSize(t *testing.T, b []byte) int {
	t.Helper()
	dst := make([]byte, lz4.CompressBlockBound(len(b)))
	n, err := lz4.CompressBlock(b, dst, nil)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
