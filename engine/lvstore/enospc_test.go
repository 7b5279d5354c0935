package lvstore

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"syscall"
	"testing"
)

// fillTo allocates clusters in a thin lvol of its own until exactly keep
// clusters are free, and returns that lvol.
func (fx *fixture) fillTo(keep uint64) *Lvol {
	fx.t.Helper()
	free := fx.s.FreeClusters()
	if free < keep {
		fx.t.Fatalf("store has %d free clusters, want to keep %d", free, keep)
	}
	n := free - keep
	filler := fx.lvol("filler", max(n, 1)*testCS, true)
	for c := range n {
		write(fx.t, filler, int64(c)*testCS, fill(testBS, byte(c)))
	}
	if got := fx.s.FreeClusters(); got != keep {
		fx.t.Fatalf("after filling: %d free clusters, want %d", got, keep)
	}
	return filler
}

// allocatedTotal sums the clusters every lvol of the store owns.
func allocatedTotal(s *Store) uint64 {
	var n uint64
	for _, lv := range s.Lvols() {
		n += lv.NumAllocatedClusters()
	}
	return n
}

// TestWriteAllOrNothing: a request that needs more clusters than are free
// fails with ENOSPC and leaves the lvol, the free count and (after a
// reopen) the disk exactly as they were; one that fits lands whole.
//
// The lvol "v" is a clone whose parent holds data in clusters 0-3; v owns
// cluster 0 only, so clusters 1-3 read the parent's data and a partial
// write there must copy it.
func TestWriteAllOrNothing(t *testing.T) {
	const cs = testCS
	tests := []struct {
		name    string
		free    uint64 // free clusters left before the request
		pending bool   // one more cluster freed but not yet committed
		op      func(lv *Lvol) error
		apply   func(model []byte) // what a successful op does to the data
		wantErr bool
	}{
		{
			name: "write over owned and two unowned, one free",
			free: 1,
			op:   func(lv *Lvol) error { _, err := lv.WriteAt(fill(2*cs, 0x77), cs/2); return err },
			apply: func(m []byte) {
				copy(m[cs/2:], fill(2*cs, 0x77))
			},
			wantErr: true,
		},
		{
			name:    "write over owned and one unowned, one free",
			free:    1,
			op:      func(lv *Lvol) error { _, err := lv.WriteAt(fill(cs, 0x66), cs/2); return err },
			apply:   func(m []byte) { copy(m[cs/2:], fill(cs, 0x66)) },
			wantErr: false,
		},
		{
			name:    "write over owned and two unowned, one free and one pending",
			free:    1,
			pending: true,
			op:      func(lv *Lvol) error { _, err := lv.WriteAt(fill(2*cs, 0x55), cs/2); return err },
			apply:   func(m []byte) { copy(m[cs/2:], fill(2*cs, 0x55)) },
			wantErr: false,
		},
		{
			name:    "write over three unowned, one free and one pending",
			free:    1,
			pending: true,
			op:      func(lv *Lvol) error { _, err := lv.WriteAt(fill(2*cs, 0x44), cs+cs/2); return err },
			apply:   func(m []byte) { copy(m[cs+cs/2:], fill(2*cs, 0x44)) },
			wantErr: true,
		},
		{
			name:    "write zeroes over two unowned with data, one free",
			free:    1,
			op:      func(lv *Lvol) error { return lv.WriteZeroes(cs/2, 2*cs) },
			apply:   func(m []byte) { clear(m[cs/2 : cs/2+2*cs]) },
			wantErr: true,
		},
		{
			name:    "unmap over two unowned with data, one free",
			free:    1,
			op:      func(lv *Lvol) error { return lv.Unmap(cs+testBS, cs) },
			apply:   func(m []byte) { clear(m[cs+testBS : 2*cs+testBS]) },
			wantErr: true,
		},
		{
			name:    "write zeroes over one unowned with data, one free",
			free:    1,
			op:      func(lv *Lvol) error { return lv.WriteZeroes(cs+testBS, testBS) },
			apply:   func(m []byte) { clear(m[cs+testBS : cs+2*testBS]) },
			wantErr: false,
		},
		{
			name:    "write with no free cluster",
			free:    0,
			op:      func(lv *Lvol) error { _, err := lv.WriteAt(fill(testBS, 0x33), 3*cs); return err },
			apply:   func(m []byte) { copy(m[3*cs:], fill(testBS, 0x33)) },
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t)
			lv := fx.lvol("v", 4*cs, true)
			write(t, lv, 0, fill(4*cs, 0x10))
			if _, err := fx.s.Snapshot(lv, "snap", nil); err != nil {
				t.Fatal(err)
			}
			write(t, lv, testBS, fill(testBS, 0x20))
			filler := fx.fillTo(tt.free)
			if tt.pending {
				if err := filler.Unmap(0, testCS); err != nil {
					t.Fatal(err)
				}
			}
			before := read(t, lv, 0, 4*cs)
			freeBefore, ownedBefore := fx.s.FreeClusters(), lv.NumAllocatedClusters()

			err := tt.op(lv)

			want := bytes.Clone(before)
			if tt.wantErr {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("got %v, want ENOSPC", err)
				}
				if free, owned := fx.s.FreeClusters(), lv.NumAllocatedClusters(); free != freeBefore || owned != ownedBefore {
					t.Fatalf("failed request changed allocation: free %d->%d, owned %d->%d", freeBefore, free, ownedBefore, owned)
				}
			} else {
				if err != nil {
					t.Fatalf("request that fits failed: %v", err)
				}
				tt.apply(want)
			}
			check := func(stage string) {
				got := read(t, fx.get("v"), 0, 4*cs)
				for off := 0; off < len(got); off += testBS {
					if !bytes.Equal(got[off:off+testBS], want[off:off+testBS]) {
						t.Fatalf("%s: block at %d differs from what the request should leave", stage, off)
					}
				}
			}
			check("after the request")
			if total := fx.s.TotalClusters(); total-fx.s.FreeClusters() != allocatedTotal(fx.s) {
				t.Fatalf("total %d - free %d != allocated %d", total, fx.s.FreeClusters(), allocatedTotal(fx.s))
			}
			fx.reopen(nil)
			check("after reopen")
		})
	}
}

// TestWriteRaceForLastClusters: writers on several lvols race for the last
// free clusters, each write needing three, while another goroutine frees
// filler clusters that become usable only after a commit. Every write
// must either land whole or fail with ENOSPC having written nothing, and
// the allocator must account for every cluster afterwards.
func TestWriteRaceForLastClusters(t *testing.T) {
	fx := newFixture(t)
	const (
		nLvols    = 4
		perLvol   = 5 // writes per lvol, each over its own three clusters
		lvolCl    = 3 * perLvol
		freeLeft  = 19 // not a multiple of three: some write finds one or two left
		nUnmapped = 10
	)
	lvols := make([]*Lvol, nLvols)
	old := make([][]byte, nLvols)
	for i := range lvols {
		lv := fx.lvol(fmt.Sprintf("v%d", i), lvolCl*testCS, true)
		old[i] = fill(lvolCl*testCS, byte(0x10*(i+1)))
		write(t, lv, 0, old[i])
		if _, err := fx.s.Snapshot(lv, fmt.Sprintf("s%d", i), nil); err != nil {
			t.Fatal(err)
		}
		lvols[i] = lv
	}
	filler := fx.fillTo(freeLeft)

	// Each write starts a block into its first cluster and ends a block
	// before the end of its third: three clusters to allocate, two of
	// them filled partly from the parent.
	span := func(j int) (off int64, n int) { return int64(3*j)*testCS + testBS, 3*testCS - 2*testBS }
	landed := make([][]bool, nLvols)
	var wg sync.WaitGroup
	errs := make(chan error, nLvols+1)
	for i, lv := range lvols {
		landed[i] = make([]bool, perLvol)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range perLvol {
				off, n := span(j)
				_, err := lv.WriteAt(fill(n, byte(0x80+i*8+j)), off)
				switch {
				case err == nil:
					landed[i][j] = true
				case !errors.Is(err, syscall.ENOSPC):
					errs <- fmt.Errorf("lvol %d write %d: %w", i, j, err)
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		rng := rand.New(rand.NewPCG(7, 7))
		for _, c := range rng.Perm(int(filler.NumClusters()))[:nUnmapped] {
			if err := filler.Unmap(int64(c)*testCS, testCS); err != nil {
				errs <- fmt.Errorf("unmap filler cluster %d: %w", c, err)
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var ok, failed int
	check := func(stage string) {
		ok, failed = 0, 0
		for i := range lvols {
			got := read(t, fx.get(fmt.Sprintf("v%d", i)), 0, lvolCl*testCS)
			for j := range perLvol {
				off, n := span(j)
				want := old[i][off : off+int64(n)]
				if landed[i][j] {
					want = fill(n, byte(0x80+i*8+j))
					ok++
				} else {
					failed++
				}
				if !bytes.Equal(got[off:off+int64(n)], want) {
					t.Fatalf("%s: lvol %d write %d (landed %v): data is neither all new nor all old", stage, i, j, landed[i][j])
				}
			}
		}
		if err := fx.s.Flush(); err != nil {
			t.Fatal(err)
		}
		if total, free := fx.s.TotalClusters(), fx.s.FreeClusters(); total-free != allocatedTotal(fx.s) {
			t.Fatalf("%s: total %d - free %d != allocated %d", stage, total, free, allocatedTotal(fx.s))
		}
	}
	check("after the race")
	if ok == 0 || failed == 0 {
		t.Fatalf("%d writes landed and %d failed: the race did not run out of space", ok, failed)
	}
	fx.reopen(nil)
	check("after reopen")
}
