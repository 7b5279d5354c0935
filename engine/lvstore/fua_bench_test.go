package lvstore

import (
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"

	"github.com/faultline/faultline/engine/bdev/aio"
)

// fuaBench is a store on a 1 GiB file-backed aio disk with a small thick
// lvol for FUA writes (as a write-intent bitmap is) and a large thick one
// that a background writer dirties.
type fuaBench struct {
	small, big *Lvol
}

func newFUABench(b *testing.B) *fuaBench {
	dev, err := aio.Open(filepath.Join(b.TempDir(), "disk.img"), aio.Options{Create: true, Size: 1 << 30, BlockSize: testBS})
	if err != nil {
		b.Fatal(err)
	}
	s := benchStore(b, dev)
	small, err := s.CreateLvol("bitmap", 4<<20, false)
	if err != nil {
		b.Fatal(err)
	}
	big, err := s.CreateLvol("data", 768<<20, false)
	if err != nil {
		b.Fatal(err)
	}
	return &fuaBench{small: small, big: big}
}

// dirty writes 1 MiB pieces at random places of the big lvol, never
// flushing, until stop is closed, so the page cache keeps dirty data.
func (fb *fuaBench) dirty(b *testing.B, stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		rng := rand.New(rand.NewPCG(1, 2))
		p := fill(1<<20, 9)
		for {
			select {
			case <-stop:
				return
			default:
			}
			off := int64(rng.IntN(int(fb.big.Size()>>20))) << 20
			if _, err := fb.big.WriteAt(p, off); err != nil {
				b.Error(err)
				return
			}
		}
	}()
	return &wg
}

// BenchmarkFUAWrite4K measures a durable 4 KiB write to an allocated
// cluster of a thick lvol, on an idle disk and while another writer keeps
// the page cache dirty: WriteAt then Flush (what the NBD server did for
// FUA), and WriteAtFUA (a durable pwrite through aio's O_DSYNC descriptor).
// BenchmarkFUAWrite4K/write+flush/busy is the cost the FUA fast path
// avoids.
func BenchmarkFUAWrite4K(b *testing.B) {
	ways := []struct {
		name  string
		write func(lv *Lvol, p []byte, off int64) error
	}{
		{"write+flush", func(lv *Lvol, p []byte, off int64) error {
			if _, err := lv.WriteAt(p, off); err != nil {
				return err
			}
			return lv.Flush()
		}},
		{"WriteAtFUA", func(lv *Lvol, p []byte, off int64) error {
			_, err := lv.WriteAtFUA(p, off)
			return err
		}},
	}
	for _, busy := range []bool{false, true} {
		for _, w := range ways {
			name := w.name + "/idle"
			if busy {
				name = w.name + "/busy"
			}
			b.Run(name, func(b *testing.B) {
				fb := newFUABench(b)
				if busy {
					stop := make(chan struct{})
					wg := fb.dirty(b, stop)
					defer wg.Wait()
					defer close(stop)
				}
				p := fill(testBS, 3)
				b.SetBytes(testBS)
				i := int64(0)
				for b.Loop() {
					if err := w.write(fb.small, p, (i*testBS)%fb.small.Size()); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
		}
	}
}
