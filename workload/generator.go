// Package workload writes self-describing blocks to a block device and
// records every operation in a History, so that the history checker can
// later tell which block content is allowed after faults.
//
// The device is anything with WriteAt, Flush and Size (an NBD client, a
// file, a bdev): the workload does not import the engine.
package workload

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/faultline/faultline/timeline"
)

// Device is the block device a workload writes to.
type Device interface {
	io.WriterAt
	// Flush returns once every write that completed before the call is
	// stable.
	Flush() error
	Size() int64
}

// FUAWriter is a device that can write with Forced Unit Access: the write
// returns once it is durable (NBD's FUA flag).
type FUAWriter interface {
	WriteAtFUA(p []byte, off int64) (int, error)
}

// Pattern chooses the offset of each write.
type Pattern string

const (
	// Sequential walks the region block by block and wraps around.
	Sequential Pattern = "sequential"
	// Random picks blocks uniformly.
	Random Pattern = "random"
	// Hotspot sends 80% of writes to the first 20% of the region (at least
	// one block), so blocks are overwritten often.
	Hotspot Pattern = "hotspot"
)

// Config describes a workload.
type Config struct {
	Volume    string // volume id written into every block (≤ 32 bytes)
	BlockSize int    // bytes per write; default 4096

	// Region is where writes go: Offset and Length in bytes, block
	// aligned. Length 0 means up to the end of the device.
	Offset, Length int64

	Pattern     Pattern       // default Sequential
	Rate        float64       // writes per second over all workers; 0 = as fast as possible
	Concurrency int           // parallel writers; default 1
	Count       int           // stop after this many writes (0 = no limit)
	Duration    time.Duration // stop after this long (0 = no limit)
	FlushEvery  int           // flush after every N writes (0 = never)
	Seed        uint64        // seeds the offset choice of Random and Hotspot
	Generation  uint64        // written into every block
	Writer      uint32        // written into every block
	// FUA writes every block with Forced Unit Access; the device must be a
	// FUAWriter. Such writes are durable once acknowledged.
	FUA bool

	// Classify maps errors to outcomes; default Classify.
	Classify Classifier
	// ErrorBackoff is how long a writer pauses after an error so a dead
	// device does not fill the history; default 10ms.
	ErrorBackoff time.Duration

	// Recorder, when set, receives one KindWorkload event per ReportEvery
	// with the counts of that window.
	Recorder *timeline.Recorder
	// Progress, when set, is called every ReportEvery with running totals.
	Progress    func(Counts)
	ReportEvery time.Duration // default 1s
	Logger      *slog.Logger  // default slog.Default()
}

// Generator runs a configured workload. Several Run calls (and Flush calls
// between or during them) share one History and never reuse a write id.
type Generator struct {
	cfg     Config
	hist    *History
	writeID atomic.Uint64
}

// New validates cfg and returns a generator with an empty history.
func New(cfg Config) (*Generator, error) {
	if cfg.BlockSize == 0 {
		cfg.BlockSize = DefaultBlock
	}
	if err := CheckBlockSize(cfg.BlockSize); err != nil {
		return nil, fmt.Errorf("workload config: %w", err)
	}
	if len(cfg.Volume) > MaxVolumeLen {
		return nil, fmt.Errorf("workload config: volume id %q longer than %d bytes", cfg.Volume, MaxVolumeLen)
	}
	bs := int64(cfg.BlockSize)
	if cfg.Offset < 0 || cfg.Offset%bs != 0 || cfg.Length < 0 || cfg.Length%bs != 0 {
		return nil, fmt.Errorf("workload config: region offset %d length %d not aligned to %d-byte blocks", cfg.Offset, cfg.Length, bs)
	}
	switch cfg.Pattern {
	case "":
		cfg.Pattern = Sequential
	case Sequential, Random, Hotspot:
	default:
		return nil, fmt.Errorf("workload config: unknown pattern %q (want sequential, random or hotspot)", cfg.Pattern)
	}
	if !(cfg.Rate == 0 || cfg.Rate >= 0.001) {
		return nil, fmt.Errorf("workload config: rate %v writes/s (want 0 for unlimited, or at least 0.001)", cfg.Rate)
	}
	if cfg.Count < 0 || cfg.Duration < 0 || cfg.FlushEvery < 0 || cfg.Concurrency < 0 {
		return nil, fmt.Errorf("workload config: negative count, duration, flush interval or concurrency")
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = 1
	}
	if cfg.Classify == nil {
		cfg.Classify = Classify
	}
	if cfg.ErrorBackoff == 0 {
		cfg.ErrorBackoff = 10 * time.Millisecond
	}
	if cfg.ReportEvery <= 0 {
		cfg.ReportEvery = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Generator{cfg: cfg, hist: NewHistory(cfg.Volume, cfg.BlockSize)}, nil
}

// History returns the generator's history.
func (g *Generator) History() *History { return g.hist }

// Run writes until Count writes were issued, Duration passed or ctx is
// done, whichever comes first, then waits for writes in flight and
// returns the history. A cancelled ctx is a normal way to stop a
// background workload. Write and flush errors never end the run: they are
// outcomes in the history. Run fails only when it cannot start (the region
// does not fit the device).
func (g *Generator) Run(ctx context.Context, dev Device) (*History, error) {
	cfg := g.cfg
	bs := int64(cfg.BlockSize)
	size := dev.Size()
	length := cfg.Length
	if length == 0 {
		length = (size - cfg.Offset) / bs * bs
	}
	if length <= 0 || cfg.Offset+length > size {
		return g.hist, fmt.Errorf("workload %s: region [%d, +%d) does not fit a %d-byte device", cfg.Volume, cfg.Offset, length, size)
	}
	blocks := length / bs
	var fua FUAWriter
	if cfg.FUA {
		var ok bool
		if fua, ok = dev.(FUAWriter); !ok {
			return g.hist, fmt.Errorf("workload %s: FUA requested but the device (%T) has no WriteAtFUA", cfg.Volume, dev)
		}
	}

	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	r := &run{g: g, dev: dev, fua: fua, blocks: blocks, start: time.Now()}
	if cfg.Duration > 0 {
		// The writers check this as well as ctx: a context's deadline is
		// delivered by a timer that can lag behind the writers' own timers.
		r.stopAt = r.start.Add(cfg.Duration)
	}
	if cfg.Rate > 0 {
		r.interval = time.Duration(float64(time.Second) / cfg.Rate)
	}

	stopReports := g.report()
	var wg sync.WaitGroup
	for w := range cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.writer(ctx, w)
		}()
	}
	wg.Wait()
	stopReports()
	c := g.hist.Counts()
	cfg.Logger.Info("workload finished", "volume", cfg.Volume, "writes", c.Writes, "flushes", c.Flushes,
		"ok", c.OK, "failed", c.Failed, "unknown", c.Unknown)
	return g.hist, nil
}

// Flush flushes dev and records the flush in the history. It may be called
// while Run is writing; it covers writes that returned before it started.
func (g *Generator) Flush(ctx context.Context, dev Device) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("flush %s: %w", g.cfg.Volume, err)
	}
	i := g.hist.Invoke(Op{Kind: OpFlush})
	err := dev.Flush()
	g.hist.Complete(i, g.cfg.Classify(err), err)
	if err != nil {
		return fmt.Errorf("flush %s: %w", g.cfg.Volume, err)
	}
	return nil
}

// run is the state one Run call shares between its writers.
type run struct {
	g        *Generator
	dev      Device
	fua      FUAWriter // set when every write uses FUA
	blocks   int64
	start    time.Time
	interval time.Duration
	stopAt   time.Time    // zero: no Duration
	claimed  atomic.Int64 // ops handed out
	written  atomic.Int64 // writes returned, for FlushEvery
}

// writer issues writes until the run stops. Worker w draws offsets from its
// own generator seeded with (Seed, w).
func (r *run) writer(ctx context.Context, w int) {
	cfg := r.g.cfg
	rng := rand.New(rand.NewPCG(cfg.Seed, uint64(w)))
	buf := make([]byte, cfg.BlockSize)
	for {
		n := r.claimed.Add(1) - 1
		if cfg.Count > 0 && n >= int64(cfg.Count) {
			return
		}
		slot := r.start.Add(time.Duration(n) * r.interval)
		if !r.stopAt.IsZero() && !slot.Before(r.stopAt) {
			return // the slot is past the end: a rate-limited run stops on time
		}
		if r.interval > 0 && !waitUntil(ctx, slot) {
			return
		}
		if ctx.Err() != nil || (!r.stopAt.IsZero() && !time.Now().Before(r.stopAt)) {
			return
		}
		off := cfg.Offset + r.block(n, rng)*int64(cfg.BlockSize)
		outcome := r.write(buf, off)
		if outcome != OK && !waitUntil(ctx, time.Now().Add(cfg.ErrorBackoff)) {
			return
		}
		if cfg.FlushEvery > 0 && r.written.Add(1)%int64(cfg.FlushEvery) == 0 {
			if err := r.g.Flush(ctx, r.dev); err != nil {
				cfg.Logger.Debug("workload flush failed", "volume", cfg.Volume, "err", err)
			}
		}
	}
}

// block picks the block index of op n.
func (r *run) block(n int64, rng *rand.Rand) int64 {
	switch r.g.cfg.Pattern {
	case Random:
		return rng.Int64N(r.blocks)
	case Hotspot:
		hot := max(r.blocks/5, 1)
		if rng.IntN(10) < 8 || hot == r.blocks {
			return rng.Int64N(hot)
		}
		return hot + rng.Int64N(r.blocks-hot)
	default:
		return n % r.blocks
	}
}

// write encodes and writes one block, recording it.
func (r *run) write(buf []byte, off int64) Outcome {
	g := r.g
	id := g.writeID.Add(1)
	h := Header{Volume: g.cfg.Volume, Offset: off, WriteID: id, Generation: g.cfg.Generation, Writer: g.cfg.Writer}
	if err := Encode(buf, h); err != nil {
		// New validated everything Encode checks, so this is a bug; it is
		// logged and the block is not written rather than crashing the run.
		g.cfg.Logger.Error("workload encode", "volume", g.cfg.Volume, "offset", off, "err", err)
		return Failed
	}
	i := g.hist.Invoke(Op{Kind: OpWrite, Offset: off, Length: len(buf), WriteID: id, Generation: h.Generation, Writer: h.Writer, FUA: r.fua != nil})
	var err error
	if r.fua != nil {
		_, err = r.fua.WriteAtFUA(buf, off)
	} else {
		_, err = r.dev.WriteAt(buf, off)
	}
	outcome := g.cfg.Classify(err)
	g.hist.Complete(i, outcome, err)
	if err != nil {
		g.cfg.Logger.Debug("workload write failed", "volume", g.cfg.Volume, "offset", off, "outcome", outcome, "err", err)
	}
	return outcome
}

// waitUntil sleeps until t, returning false if ctx ends first.
func waitUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// report emits window counts to the recorder and the progress callback
// until the returned stop function is called, which emits the last window.
func (g *Generator) report() (stop func()) {
	cfg := g.cfg
	if cfg.Recorder == nil && cfg.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	// Taken before Run starts its writers, so no write escapes the first
	// window.
	last, since := g.hist.Counts(), time.Now()
	go func() {
		defer close(finished)
		ticker := time.NewTicker(cfg.ReportEvery)
		defer ticker.Stop()
		emit := func() {
			now, c := time.Now(), g.hist.Counts()
			if cfg.Recorder != nil && c != last {
				cfg.Recorder.Add(timeline.Event{
					Time: since, End: now, Kind: timeline.KindWorkload,
					Lane: "workload/" + cfg.Volume, Name: "writes",
					Detail: map[string]string{
						"writes":  strconv.Itoa(c.Writes - last.Writes),
						"flushes": strconv.Itoa(c.Flushes - last.Flushes),
						"ok":      strconv.Itoa(c.OK - last.OK),
						"failed":  strconv.Itoa(c.Failed - last.Failed),
						"unknown": strconv.Itoa(c.Unknown - last.Unknown),
					},
				})
			}
			if cfg.Progress != nil {
				cfg.Progress(c)
			}
			last, since = c, now
		}
		for {
			select {
			case <-done:
				emit()
				return
			case <-ticker.C:
				emit()
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}
