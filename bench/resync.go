package bench

import (
	"context"
	"fmt"
	"io"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/faultline/faultline/engine/nbd"
)

// ResyncSize is the volume the resync benchmark crashes engines over.
const ResyncSize = 1 << 30

// ResyncDirty are the numbers of 1 MiB regions the benchmark dirties
// before each crash.
func ResyncDirty() []int { return []int{0, 16, 64, 256, 1024} }

// ResyncResult is one crash: how many regions the next engine found
// dirty, how long it took to compare them (and rewrite the one block that
// differs in each) before it served, and how long the whole start took.
type ResyncResult struct {
	Dirtied      int     `json:"dirtied_regions"`
	Compared     int64   `json:"compared_regions"`
	Divergent    int64   `json:"divergent_regions"`
	BytesRead    int64   `json:"bytes_read"`
	BytesWritten int64   `json:"bytes_written"`
	ResyncMs     float64 `json:"resync_ms"`
	StartMs      float64 `json:"engine_start_ms"`
	Error        string  `json:"error,omitempty"`
}

// runResync measures resync after an engine crash: a 1 GiB volume on three
// thick replicas (one per node, each with its bitmap, so that writes do not
// allocate and the dirtying is quick) takes one 4 KiB write in each of n
// distinct regions; the engine is SIGKILLed, one replica is made to differ
// in each of those regions (a write that reached it alone), and a new
// engine starts over the same replicas.
func (e *env) runResync(ctx context.Context) []ResyncResult {
	var reps []engineReplica
	fail := func(err error) []ResyncResult {
		return []ResyncResult{{Error: err.Error()}}
	}
	for i := range 3 {
		n, err := e.node(ctx, nodeName(i))
		if err != nil {
			return fail(err)
		}
		r, err := e.makeReplica(ctx, n, fmt.Sprintf("resync-r%d", i), ResyncSize, true, true)
		if err != nil {
			return fail(err)
		}
		reps = append(reps, r)
	}
	var out []ResyncResult
	for _, dirty := range ResyncDirty() {
		e.log.Info("resync benchmark", "dirty_regions", dirty)
		res, err := e.crashAndResync(ctx, reps, dirty)
		if err != nil {
			res.Error = err.Error()
		}
		out = append(out, res)
	}
	return out
}

func (e *env) crashAndResync(ctx context.Context, reps []engineReplica, dirty int) (ResyncResult, error) {
	res := ResyncResult{Dirtied: dirty}
	ep, err := e.startEngine(ctx, "resync", ResyncSize, reps)
	if err != nil {
		return res, err
	}
	dev, err := nbd.Dial(ctx, "unix", ep.sock, "engine")
	if err != nil {
		return res, err
	}
	stride := int64(ResyncSize>>20) / int64(max(dirty, 1))
	regions := make([]int64, dirty)
	for i := range regions {
		regions[i] = int64(i) * stride << 20
	}
	t0 := time.Now()
	err = writeEach(dev, regions, 0xa5)
	dev.Close()
	if err != nil {
		return res, err
	}
	before, _ := ep.info(ctx)
	e.log.Info("regions dirtied", "regions", dirty, "took", time.Since(t0), "dirty_in_engine", before.Intent.DirtyRegions)
	ep.kill()
	// A write the dead engine had sent to one replica only.
	last := reps[len(reps)-1]
	rdev, err := nbd.Dial(ctx, "tcp", last.addr, last.export)
	if err != nil {
		return res, err
	}
	err = writeEach(rdev, regions, 0x5a)
	rdev.Close()
	if err != nil {
		return res, err
	}
	start := time.Now()
	ep, err = e.startEngine(ctx, "resync", ResyncSize, reps)
	if err != nil {
		return res, err
	}
	res.StartMs = float64(time.Since(start).Microseconds()) / 1000
	info, err := ep.info(ctx)
	if err != nil {
		return res, err
	}
	if st := info.Resync; st != nil {
		res.Compared, res.Divergent, res.BytesRead, res.BytesWritten = st.Regions, st.Divergent, st.BytesRead, st.BytesWritten
		res.ResyncMs = float64(st.Took.Microseconds()) / 1000
	}
	ep.stop()
	return res, nil
}

// writeEach writes one 4 KiB block of fill at each offset, 16 at a time.
func writeEach(dev *nbd.Client, offs []int64, fill byte) error {
	buf := make([]byte, 4096)
	for i := range buf {
		buf[i] = fill
	}
	sem := make(chan struct{}, 16)
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for _, off := range offs {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if _, err := dev.WriteAt(buf, off); err != nil {
				mu.Lock()
				if first == nil {
					first = fmt.Errorf("write at %d: %w", off, err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}

// WriteResyncTable prints the resync results.
func WriteResyncTable(w io.Writer, results []ResyncResult) error {
	fmt.Fprintf(w, "resync after an engine crash: %d MiB volume, 3 replicas, 1 MiB regions, one replica differing in every dirty region\n", ResyncSize>>20)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "dirtied\tcompared\tdivergent\tMB read\tKB written\tresync ms\tengine start ms\t")
	for _, r := range results {
		if r.Error != "" {
			fmt.Fprintf(tw, "%d\t-\t-\t-\t-\t-\t-\t  error: %s\n", r.Dirtied, oneLine(r.Error, 100))
			continue
		}
		fmt.Fprintf(tw, "%d\t%d\t%d\t%.1f\t%.0f\t%.1f\t%.1f\t\n", r.Dirtied, r.Compared, r.Divergent,
			float64(r.BytesRead)/1e6, float64(r.BytesWritten)/1e3, r.ResyncMs, r.StartMs)
	}
	return tw.Flush()
}
