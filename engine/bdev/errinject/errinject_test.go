package errinject

import (
	"bytes"
	"errors"
	"syscall"
	"testing"

	"github.com/faultline/faultline/engine/bdev"
	"github.com/faultline/faultline/engine/bdev/bdevtest"
	"github.com/faultline/faultline/engine/bdev/malloc"
)

const (
	size = 1 << 20
	bs   = 512
)

func open(t *testing.T) *Device {
	t.Helper()
	base, err := malloc.New(size/bs, bs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { base.Close() })
	return New(base)
}

// writeN writes n blocks, one at a time, and returns how many failed with
// EIO; any other error fails the test.
func writeN(t *testing.T, d *Device, n int) int {
	t.Helper()
	failed := 0
	for i := range n {
		_, err := d.WriteAt(bdevtest.Pattern(bs, byte(i)), int64(i*bs))
		switch {
		case errors.Is(err, syscall.EIO):
			failed++
		case err != nil:
			t.Fatalf("write %d: %v", i, err)
		}
	}
	return failed
}

func TestDevice(t *testing.T) {
	data := bdevtest.Pattern(4*bs, 3)
	bdevtest.Run(t, []bdevtest.Case[*Device]{
		{Name: "passes writes and reads through", Run: func(d *Device) error {
			_, err := d.WriteAt(data, bs)
			return err
		}, Check: func(t *testing.T, d *Device) {
			bdevtest.Expect(t, d, bs, data)
			bdevtest.Expect(t, d.Base(), bs, data)
		}},
		{Name: "three writes fail then writes succeed", Run: func(d *Device) error {
			return d.Arm(Rule{Kind: Failure, Num: 3}, Write)
		}, Check: func(t *testing.T, d *Device) {
			if got := writeN(t, d, 10); got != 3 {
				t.Fatalf("%d of 10 writes failed, want 3", got)
			}
			if s := d.Stats(); s.Fired["write"] != 3 || s.Armed["write"] != 0 {
				t.Fatalf("stats %+v", s)
			}
			// The failed writes never reached the base: block 0 reads zeros.
			bdevtest.Expect(t, d.Base(), 0, make([]byte, bs))
			bdevtest.Expect(t, d, 3*bs, bdevtest.Pattern(bs, 3))
		}},
		{Name: "a read rule leaves writes alone", Run: func(d *Device) error {
			return d.Arm(Rule{Kind: Failure, Num: 5}, Read)
		}, Check: func(t *testing.T, d *Device) {
			if got := writeN(t, d, 4); got != 0 {
				t.Fatalf("%d writes failed under a read rule", got)
			}
			if _, err := d.ReadAt(make([]byte, bs), 0); !errors.Is(err, syscall.EIO) {
				t.Fatalf("read under a read rule: %v, want EIO", err)
			}
			if err := d.Flush(); err != nil {
				t.Fatalf("flush under a read rule: %v", err)
			}
		}},
		{Name: "all types fail flush and unmap, not write zeroes", Run: func(d *Device) error {
			return d.Arm(Rule{Kind: Failure, Num: 1}, IOTypes[:]...)
		}, Check: func(t *testing.T, d *Device) {
			if err := d.WriteZeroes(0, bs); err != nil {
				t.Fatalf("write zeroes: %v", err)
			}
			if err := d.Flush(); !errors.Is(err, syscall.EIO) {
				t.Fatalf("flush: %v, want EIO", err)
			}
			if err := d.Unmap(0, bs); !errors.Is(err, syscall.EIO) {
				t.Fatalf("unmap: %v, want EIO", err)
			}
			if err := d.Flush(); err != nil {
				t.Fatalf("second flush: %v", err)
			}
		}},
		{Name: "clear disarms", Run: func(d *Device) error {
			if err := d.Arm(Rule{Kind: Failure, Num: 100}, IOTypes[:]...); err != nil {
				return err
			}
			d.Clear()
			return nil
		}, Check: func(t *testing.T, d *Device) {
			if got := writeN(t, d, 4); got != 0 {
				t.Fatalf("%d writes failed after clear", got)
			}
		}},
		{Name: "corrupt write damages the disk, not the caller's buffer", Run: func(d *Device) error {
			if err := d.Arm(Rule{Kind: CorruptData, Num: 1, CorruptOffset: 10, CorruptValue: 0xff}, Write); err != nil {
				return err
			}
			_, err := d.WriteAt(data, 0)
			return err
		}, Check: func(t *testing.T, d *Device) {
			if !bytes.Equal(data, bdevtest.Pattern(4*bs, 3)) {
				t.Fatal("the caller's buffer changed")
			}
			want := bytes.Clone(data)
			want[10] ^= 0xff
			bdevtest.Expect(t, d.Base(), 0, want)
		}},
		{Name: "corrupt read damages what is returned once", Run: func(d *Device) error {
			if _, err := d.WriteAt(data, 0); err != nil {
				return err
			}
			return d.Arm(Rule{Kind: CorruptData, Num: 1, CorruptOffset: 1, CorruptValue: 1}, Read)
		}, Check: func(t *testing.T, d *Device) {
			got := make([]byte, len(data))
			if _, err := d.ReadAt(got, 0); err != nil {
				t.Fatal(err)
			}
			if got[1] != data[1]^1 || !bytes.Equal(got[2:], data[2:]) {
				t.Fatal("read not corrupted at byte 1 alone")
			}
			bdevtest.Expect(t, d, 0, data)
		}},
		{Name: "corrupt value 0 is refused", Run: func(d *Device) error {
			return d.Arm(Rule{Kind: CorruptData, Num: 1}, Write)
		}, Want: syscall.EINVAL},
		{Name: "nomem passes through", Run: func(d *Device) error {
			if err := d.Arm(Rule{Kind: NoMem, Num: 2}, Write); err != nil {
				return err
			}
			_, err := d.WriteAt(data, 0)
			return err
		}, Check: func(t *testing.T, d *Device) {
			bdevtest.Expect(t, d.Base(), 0, data)
			if s := d.Stats(); s.Fired["write"] != 1 {
				t.Fatalf("stats %+v", s)
			}
		}},
		{Name: "queue depth not reached", Run: func(d *Device) error {
			return d.Arm(Rule{Kind: Failure, Num: 1, QueueDepth: 1}, Write)
		}, Check: func(t *testing.T, d *Device) {
			if got := writeN(t, d, 3); got != 0 {
				t.Fatalf("%d writes failed with nothing in flight", got)
			}
		}},
		{Name: "closed", Run: func(d *Device) error {
			d.Close()
			_, err := d.WriteAt(data, 0)
			return err
		}, Want: bdev.ErrClosed, Check: func(t *testing.T, d *Device) {
			if _, err := d.Base().WriteAt(data, 0); err != nil {
				t.Fatalf("base closed with the error bdev: %v", err)
			}
		}},
	}, size, bs, open)
}
