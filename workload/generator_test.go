package workload

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/faultline/faultline/timeline"
)

func TestRunWritesDecodableBlocks(t *testing.T) {
	const bs = 512
	dev := newFileDevice(t, 64*bs)
	rec := timeline.NewRecorder()
	var mu sync.Mutex
	progress := 0
	g, err := New(Config{
		Volume: "vol-run", BlockSize: bs, Offset: 8 * bs, Length: 16 * bs,
		Concurrency: 4, Count: 100, FlushEvery: 10, Generation: 3, Writer: 9,
		Recorder: rec, Progress: func(Counts) { mu.Lock(); progress++; mu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	h, err := g.Run(context.Background(), dev)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := Counts{Writes: 100, Flushes: 10, OK: 110}
	if c := h.Counts(); c != want {
		t.Fatalf("counts %+v, want %+v", c, want)
	}

	// Every written block decodes to one of the writes recorded for it,
	// and the region's outside stays zero.
	ids := map[int64]map[uint64]bool{}
	for _, op := range h.Ops() {
		if op.Kind != OpWrite {
			continue
		}
		if op.Offset < 8*bs || op.Offset >= 24*bs {
			t.Fatalf("write at %d outside the region", op.Offset)
		}
		if ids[op.Offset] == nil {
			ids[op.Offset] = map[uint64]bool{}
		}
		ids[op.Offset][op.WriteID] = true
	}
	if len(ids) != 16 {
		t.Fatalf("sequential pattern touched %d blocks, want 16", len(ids))
	}
	buf := make([]byte, bs)
	for off := int64(0); off < 64*bs; off += bs {
		if _, err := dev.ReadAt(buf, off); err != nil {
			t.Fatal(err)
		}
		hd, err := DecodeAt(buf, "vol-run", off)
		if ids[off] == nil {
			if !errors.Is(err, ErrZero) {
				t.Fatalf("block %d outside the region: %v", off, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("block %d: %v", off, err)
		}
		if !ids[off][hd.WriteID] || hd.Generation != 3 || hd.Writer != 9 {
			t.Fatalf("block %d holds %+v, not a recorded write", off, hd)
		}
	}

	// The timeline's workload windows add up to the history.
	writes := 0
	for _, e := range rec.Events() {
		if e.Kind == timeline.KindWorkload {
			n, err := strconv.Atoi(e.Detail["writes"])
			if err != nil {
				t.Fatalf("event detail %v", e.Detail)
			}
			writes += n
		}
	}
	if writes != 100 {
		t.Fatalf("timeline counts %d writes, want 100", writes)
	}
	mu.Lock()
	defer mu.Unlock()
	if progress == 0 {
		t.Fatal("progress callback never called")
	}
}

func TestRunPatternsStayInRegion(t *testing.T) {
	const bs = 512
	for _, p := range []Pattern{Sequential, Random, Hotspot} {
		t.Run(string(p), func(t *testing.T) {
			dev := newFileDevice(t, 200*bs)
			g, err := New(Config{Volume: "v", BlockSize: bs, Offset: 50 * bs, Length: 100 * bs, Pattern: p, Count: 400, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			h, err := g.Run(context.Background(), dev)
			if err != nil {
				t.Fatal(err)
			}
			hot := 0
			for _, op := range h.Ops() {
				if op.Offset < 50*bs || op.Offset >= 150*bs {
					t.Fatalf("write at %d outside the region", op.Offset)
				}
				if op.Offset < 70*bs {
					hot++
				}
			}
			// The first 20% of the region gets 20% of uniform writes and
			// 80% of hotspot writes; 50% separates the two with a wide margin.
			if gotHot := hot > 200; gotHot != (p == Hotspot) {
				t.Fatalf("%d of 400 writes in the first 20%% of the region", hot)
			}
		})
	}
}

func TestRunRateLimited(t *testing.T) {
	dev := newFileDevice(t, 64*512)
	g, err := New(Config{Volume: "v", BlockSize: 512, Rate: 100, Duration: 500 * time.Millisecond, Concurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	h, err := g.Run(context.Background(), dev)
	if err != nil {
		t.Fatal(err)
	}
	// Slot n starts at n/rate and only slots before the end run, so at
	// most rate*duration writes happen. The lower bound only proves writes
	// happened at all.
	if n := h.Counts().Writes; n > 50 || n < 5 {
		t.Fatalf("%d writes at 100/s for 0.5s", n)
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	dev := newFileDevice(t, 64*512)
	g, err := New(Config{Volume: "v", BlockSize: 512, Rate: 1000})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := g.Run(ctx, dev)
		done <- err
	}()
	ticker := time.NewTicker(time.Millisecond)
	defer ticker.Stop()
	deadline := time.After(10 * time.Second)
	for g.History().Counts().OK < 5 {
		select {
		case <-deadline:
			t.Fatal("no writes within 10s")
		case <-ticker.C:
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after cancel: %v", err)
	}
	if c := g.History().Counts(); c.Pending != 0 {
		t.Fatalf("%d ops still pending after Run returned", c.Pending)
	}
}

func TestRunClassifiesErrors(t *testing.T) {
	errGone := errors.New("nbd: disconnected")
	dev := &faultyDevice{
		Device:   newFileDevice(t, 16*512),
		okWrites: 4,
		errs:     []error{fmt.Errorf("server: %w", syscall.EIO), fmt.Errorf("conn: %w", errGone), io.ErrUnexpectedEOF, nil},
		flushErr: fmt.Errorf("flush: %w", errGone),
	}
	g, err := New(Config{Volume: "v", BlockSize: 512, Count: 12, ErrorBackoff: time.Microsecond, Classify: UnknownOn(errGone)})
	if err != nil {
		t.Fatal(err)
	}
	h, err := g.Run(context.Background(), dev)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Flush(context.Background(), dev); !errors.Is(err, errGone) {
		t.Fatalf("Flush error %v", err)
	}
	// Writes 0-3 succeed, then EIO, gone, EOF, ok repeats twice.
	want := Counts{Writes: 12, Flushes: 1, OK: 6, Failed: 2, Unknown: 5}
	if c := h.Counts(); c != want {
		t.Fatalf("counts %+v, want %+v", c, want)
	}
	for _, op := range h.Ops() {
		if (op.Outcome == OK) != (op.Error == "") {
			t.Fatalf("op %+v: error text does not match outcome", op)
		}
	}
}

func TestFlushCancelled(t *testing.T) {
	g, err := New(Config{Volume: "v"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := g.Flush(ctx, newFileDevice(t, 4096)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Flush on a cancelled context: %v", err)
	}
	if n := len(g.History().Ops()); n != 0 {
		t.Fatalf("a flush that never ran was recorded (%d ops)", n)
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"block size", Config{BlockSize: 1000}},
		{"volume", Config{Volume: "0123456789012345678901234567890123"}},
		{"misaligned region", Config{Offset: 100}},
		{"pattern", Config{Pattern: "zigzag"}},
		{"negative rate", Config{Rate: -1}},
		{"rate too small", Config{Rate: 1e-9}},
		{"rate NaN", Config{Rate: math.NaN()}},
		{"negative count", Config{Count: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.cfg); err == nil {
				t.Fatal("New accepted a bad config")
			}
		})
	}
	g, err := New(Config{Volume: "v", Offset: 8192, Length: 8192, Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Run(context.Background(), newFileDevice(t, 8192)); err == nil {
		t.Fatal("Run accepted a region outside the device")
	}
}

// fuaDevice counts FUA writes.
type fuaDevice struct {
	*fileDevice
	mu   sync.Mutex
	fuas int
}

func (d *fuaDevice) WriteAtFUA(p []byte, off int64) (int, error) {
	d.mu.Lock()
	d.fuas++
	d.mu.Unlock()
	n, err := d.WriteAt(p, off)
	if err == nil {
		err = d.Flush()
	}
	return n, err
}

func TestRunFUA(t *testing.T) {
	g, err := New(Config{Volume: "v", BlockSize: 512, Count: 5, FUA: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Run(context.Background(), newFileDevice(t, 8*512)); err == nil {
		t.Fatal("FUA run accepted a device without WriteAtFUA")
	}
	dev := &fuaDevice{fileDevice: newFileDevice(t, 8*512)}
	h, err := g.Run(context.Background(), dev)
	if err != nil {
		t.Fatal(err)
	}
	if dev.fuas != 5 {
		t.Fatalf("%d FUA writes, want 5", dev.fuas)
	}
	for _, op := range h.Ops() {
		if !op.FUA {
			t.Fatalf("op %+v not marked FUA", op)
		}
	}
}
