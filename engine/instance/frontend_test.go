package instance

import (
	"bytes"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/faultline/faultline/engine/bdev"
	"github.com/faultline/faultline/engine/bdev/malloc"
)

func newMalloc(t *testing.T, blocks uint64, bs int) *malloc.Device {
	t.Helper()
	d, err := malloc.New(blocks, bs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// TestFrontendSwitch switches the backend under concurrent writers: every
// write lands on exactly one backend, none fails, and reads after the
// switch come from the new backend.
func TestFrontendSwitch(t *testing.T) {
	a, b := newMalloc(t, 256, 512), newMalloc(t, 256, 512)
	f := newFrontend(a)
	var wg sync.WaitGroup
	var failures atomic.Int64
	stop := make(chan struct{})
	var started sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		started.Add(1)
		go func() {
			defer wg.Done()
			buf := bytes.Repeat([]byte{byte(w + 1)}, 512)
			for i := 0; ; i++ {
				if i == 1 {
					started.Done()
				}
				select {
				case <-stop:
					return
				default:
				}
				if _, err := f.WriteAt(buf, int64(w*512)); err != nil {
					failures.Add(1)
				}
			}
		}()
	}
	started.Wait()
	f.Suspend()
	// With the gate held no request is in flight: copy a to b, as an
	// upgrade hands over the same replicas.
	buf := make([]byte, 4*512)
	if _, err := a.ReadAt(buf, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := b.WriteAt(buf, 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Switch(b); err != nil {
		t.Fatal(err)
	}
	f.Resume()
	close(stop)
	wg.Wait()
	if n := failures.Load(); n != 0 {
		t.Fatalf("%d writes failed across the switch", n)
	}
	got := make([]byte, 512)
	for w := range 4 {
		if _, err := f.ReadAt(got, int64(w*512)); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, bytes.Repeat([]byte{byte(w + 1)}, 512)) {
			t.Errorf("block %d after switch holds %v..., want writer %d's data", w, got[:4], w+1)
		}
	}
}

func TestFrontendRefusesMismatchedBackend(t *testing.T) {
	f := newFrontend(newMalloc(t, 256, 512))
	for _, d := range []bdev.Device{newMalloc(t, 128, 512), newMalloc(t, 64, 4096)} {
		if err := f.Switch(d); err == nil {
			t.Errorf("switch to %d bytes in %d-byte blocks succeeded", d.Size(), d.BlockSize())
		}
	}
}

func TestFrontendClosedFailsIO(t *testing.T) {
	f := newFrontend(newMalloc(t, 16, 512))
	f.Close()
	if _, err := f.ReadAt(make([]byte, 512), 0); !errors.Is(err, errNoEngine) {
		t.Fatalf("read after close: %v, want errNoEngine", err)
	}
	if err := f.Flush(); !errors.Is(err, errNoEngine) {
		t.Fatalf("flush after close: %v, want errNoEngine", err)
	}
}

func TestNames(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"vol1-r-abcd1234", true}, {"", false}, {"a/b", false}, {"a,b", false}, {"a b", false},
		{string(bytes.Repeat([]byte("x"), 64)), false},
	} {
		if err := checkName("replica", tc.name); (err == nil) != tc.ok {
			t.Errorf("checkName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
	for _, tc := range []struct{ lvol, image string }{
		{"bi-img-disk-1234-5678", "img"},
		{"bi-my-disk-img-disk-abcd", "my-disk-img"},
		{"bi--disk-x", ""},
		{"vol-r-12345678", ""},
	} {
		if got := imageOfLvol(tc.lvol); got != tc.image {
			t.Errorf("imageOfLvol(%q) = %q, want %q", tc.lvol, got, tc.image)
		}
	}
	if got := backingImageLvol("img", "u-1"); imageOfLvol(got) != "img" {
		t.Errorf("round trip of %q lost the image name", got)
	}
	for name, want := range map[string]bool{"vol-r-abcdEF12": true, "vol-r-abc": false, "vol-r-abcd1234-snap-x": false, "r-abcd1234": false} {
		if got := headPattern.MatchString(name); got != want {
			t.Errorf("headPattern(%q) = %v, want %v", name, got, want)
		}
	}
}
