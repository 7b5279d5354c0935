package lvstore

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
)

// TestConcurrentIOAndMetadata runs writers and readers on several lvols
// while another goroutine snapshots them, deletes snapshots (merging) and
// flushes. Each writer checks its own reads; at the end every lvol must
// hold exactly what was written, also after reopening.
func TestConcurrentIOAndMetadata(t *testing.T) {
	fx := newFixture(t)
	const (
		nLvols   = 4
		nBlocks  = 4 * testCS / testBS
		nWrites  = 300
		lvolSize = 4 * testCS
	)
	lvols := make([]*Lvol, nLvols)
	for i := range lvols {
		lvols[i] = fx.lvol(fmt.Sprintf("v%d", i), lvolSize, i%2 == 0)
	}
	models := make([][][]byte, nLvols)
	var wg sync.WaitGroup
	errs := make(chan error, nLvols+1)
	for i, lv := range lvols {
		models[i] = make([][]byte, nBlocks)
		wg.Add(1)
		go func(i int, lv *Lvol) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 1))
			for w := range nWrites {
				b := rng.IntN(nBlocks - 1)
				n := 1 + rng.IntN(2)
				p := bytes.Repeat([]byte(fmt.Sprintf("%d/%d/%d|", i, b, w)), 2*testBS)[:n*testBS]
				if _, err := lv.WriteAt(p, int64(b)*testBS); err != nil {
					errs <- fmt.Errorf("lvol %d write: %w", i, err)
					return
				}
				for k := range n {
					models[i][b+k] = p[k*testBS : (k+1)*testBS]
				}
				c := rng.IntN(nBlocks)
				got := make([]byte, testBS)
				if _, err := lv.ReadAt(got, int64(c)*testBS); err != nil {
					errs <- fmt.Errorf("lvol %d read: %w", i, err)
					return
				}
				want := models[i][c]
				if want == nil {
					want = make([]byte, testBS)
				}
				if !bytes.Equal(got, want) {
					errs <- fmt.Errorf("lvol %d block %d: read %q, want %q", i, c, got[:16], want[:16])
					return
				}
			}
		}(i, lv)
	}
	done := make(chan struct{})
	var mdWG sync.WaitGroup
	mdWG.Add(1)
	go func() {
		defer mdWG.Done()
		rng := rand.New(rand.NewPCG(99, 1))
		for n := 0; ; n++ {
			select {
			case <-done:
				return
			default:
			}
			lv := lvols[rng.IntN(nLvols)]
			switch rng.IntN(3) {
			case 0:
				if _, err := fx.s.Snapshot(lv, fmt.Sprintf("s%d", n), nil); err != nil {
					errs <- err
					return
				}
			case 1:
				if p := lv.Parent(); p != nil {
					if err := fx.s.Delete(p); err != nil {
						errs <- err
						return
					}
				}
			case 2:
				if err := lv.Flush(); err != nil {
					errs <- err
					return
				}
			}
		}
	}()
	wg.Wait()
	close(done)
	mdWG.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	check := func(stage string) {
		for i := range lvols {
			lv := fx.get(fmt.Sprintf("v%d", i))
			got := read(t, lv, 0, lvolSize)
			for b, want := range models[i] {
				if want == nil {
					want = make([]byte, testBS)
				}
				if !bytes.Equal(got[b*testBS:(b+1)*testBS], want) {
					t.Fatalf("%s: lvol %d block %d differs", stage, i, b)
				}
			}
		}
	}
	check("before reopen")
	fx.reopen(nil)
	check("after reopen")
}
