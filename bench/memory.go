package bench

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"text/tabwriter"
	"time"
)

// The memory benchmark's defaults: a 10-minute run, sampled every 10 s.
const (
	MemoryDuration = 10 * time.Minute
	MemoryInterval = 10 * time.Second
	// memoryVolumes is how many volumes the serving node exports: one per
	// default workload, all under load at once.
	memoryVolumes = 3
	// minRSSSamples is the fewest samples a trend is read from: four
	// quarters of at least two.
	minRSSSamples = 8
	// rssSlack is the growth below which a node counts as steady
	// whatever its size: the garbage collector's heap target and the
	// payload pools move a steady process by a few MiB.
	rssSlack = 8 << 20
)

// MemoryReport is the memory benchmark: the resident set size of a node
// serving three volumes under load, and of the node holding their remote
// replicas, sampled over the whole run.
type MemoryReport struct {
	Duration string         `json:"duration"`
	Interval string         `json:"interval"`
	Volumes  []MemoryVolume `json:"volumes"`
	Nodes    []NodeRSS      `json:"nodes"`
	// Error says why the benchmark could not run.
	Error string `json:"error,omitempty"`
}

// MemoryVolume is one volume of the memory benchmark and the load fio put
// on it.
type MemoryVolume struct {
	Name     string    `json:"name"`
	Workload string    `json:"workload"`
	Fio      FioResult `json:"fio"`
	Error    string    `json:"error,omitempty"`
}

// NodeRSS is one node's samples and what they say.
type NodeRSS struct {
	Node    string      `json:"node"`
	Role    string      `json:"role"`
	Samples []RSSSample `json:"samples"`
	RSSTrend
	// Error says why the samples stopped or the trend is missing.
	Error string `json:"error,omitempty"`
}

// RSSSample is one reading of a process's resident set size.
type RSSSample struct {
	At    time.Duration `json:"at_ns"` // since the load started
	Bytes int64         `json:"rss_bytes"`
}

// RSSTrend summarises a series of samples taken at a steady interval.
type RSSTrend struct {
	// Start is the median of the second quarter of the samples: the
	// first quarter is left for buffer pools and the garbage
	// collector's heap target to settle under the load.
	Start int64 `json:"rss_start_bytes"`
	// End is the median of the last quarter.
	End int64 `json:"rss_end_bytes"`
	// Max is the largest sample.
	Max int64 `json:"rss_max_bytes"`
	// Grew is true when End exceeds Start by more than the allowance:
	// 5 % of Start or 8 MiB, whichever is more.
	Grew bool `json:"grew"`
}

// Growth is End minus Start, in bytes.
func (t RSSTrend) Growth() int64 { return t.End - t.Start }

// TrendOf reads the trend of samples taken at a steady interval; it needs
// at least eight.
func TrendOf(samples []RSSSample) (RSSTrend, error) {
	n := len(samples)
	if n < minRSSSamples {
		return RSSTrend{}, fmt.Errorf("%d samples: a trend needs at least %d", n, minRSSSamples)
	}
	q := n / 4
	t := RSSTrend{
		Start: medianRSS(samples[q : 2*q]),
		End:   medianRSS(samples[n-q:]),
	}
	for _, s := range samples {
		t.Max = max(t.Max, s.Bytes)
	}
	t.Grew = t.Growth() > max(t.Start/20, rssSlack)
	return t, nil
}

func medianRSS(samples []RSSSample) int64 {
	b := make([]int64, len(samples))
	for i, s := range samples {
		b[i] = s.Bytes
	}
	slices.Sort(b)
	if len(b)%2 == 1 {
		return b[len(b)/2]
	}
	return (b[len(b)/2-1] + b[len(b)/2]) / 2
}

// Failed reports whether the memory benchmark found a problem: it could not
// run, a volume's load failed, or a node's memory grew.
func (r *MemoryReport) Failed() bool {
	if r.Error != "" {
		return true
	}
	for _, v := range r.Volumes {
		if v.Error != "" {
			return true
		}
	}
	for _, n := range r.Nodes {
		if n.Error != "" || n.Grew {
			return true
		}
	}
	return false
}

// runMemory starts two nodes of their own: mem-a serves three volumes,
// each a raid1 of a local lvol and an lvol on mem-b attached over NBD, and
// exports them; fio runs one default workload on each at once for
// Config.MemoryDuration, while the resident set size of both nodes is
// sampled every Config.MemoryInterval.
func (e *env) runMemory(ctx context.Context) *MemoryReport {
	cfg := e.cfg
	rep := &MemoryReport{Duration: cfg.MemoryDuration.String(), Interval: cfg.MemoryInterval.String()}
	disk := memoryVolumes*cfg.Size + 256<<20
	a, err := e.startNodeDisk(ctx, "mem-a", disk)
	if err != nil {
		rep.Error = err.Error()
		return rep
	}
	b, err := e.startNodeDisk(ctx, "mem-b", disk)
	if err != nil {
		rep.Error = err.Error()
		return rep
	}
	var uris []string
	for i, w := range DefaultWorkloads()[:memoryVolumes] {
		name := fmt.Sprintf("mem%d", i)
		uri, err := exportRaid(ctx, a, []*node{b}, name, cfg.Size)
		if err != nil {
			rep.Error = fmt.Sprintf("volume %s: %v", name, err)
			return rep
		}
		uris = append(uris, uri)
		rep.Volumes = append(rep.Volumes, MemoryVolume{Name: name, Workload: w.Name})
	}
	rep.Nodes = []NodeRSS{
		{Node: a.name, Role: fmt.Sprintf("serves the %d volumes: raid1, NBD server and client", memoryVolumes)},
		{Node: b.name, Role: "holds their remote replicas: NBD server"},
	}
	procs := []*node{a, b}

	e.log.Info("memory benchmark", "volumes", memoryVolumes, "duration", cfg.MemoryDuration, "interval", cfg.MemoryInterval)
	start := time.Now()
	sctx, stopSampling := context.WithCancel(ctx)
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		e.sampleRSS(sctx, start, procs, rep.Nodes)
	}()
	var wg sync.WaitGroup
	for i, w := range DefaultWorkloads()[:memoryVolumes] {
		wg.Go(func() {
			fctx, cancel := context.WithTimeout(ctx, cfg.MemoryDuration+2*time.Minute)
			defer cancel()
			res, err := RunFio(fctx, cfg.Fio, FioArgs(w, uris[i], cfg.Size, cfg.MemoryDuration))
			rep.Volumes[i].Fio = res
			if err != nil {
				rep.Volumes[i].Error = err.Error()
			}
		})
	}
	wg.Wait()
	stopSampling()
	<-sampled
	for i := range rep.Nodes {
		n := &rep.Nodes[i]
		t, err := TrendOf(n.Samples)
		if err != nil && n.Error == "" {
			n.Error = err.Error()
		}
		n.RSSTrend = t
	}
	return rep
}

// sampleRSS reads the resident set size of every node at once and then
// every Config.MemoryInterval until ctx ends, appending to out (one entry
// per node). A node whose size cannot be read is no longer sampled.
func (e *env) sampleRSS(ctx context.Context, start time.Time, nodes []*node, out []NodeRSS) {
	tick := time.NewTicker(e.cfg.MemoryInterval)
	defer tick.Stop()
	for {
		at := time.Since(start)
		attrs := []any{"elapsed", at.Round(time.Second)}
		for i, n := range nodes {
			if out[i].Error != "" {
				continue
			}
			rss, err := ReadRSS(n.proc.cmd.Process.Pid)
			if err != nil {
				out[i].Error = fmt.Sprintf("sampling stopped after %s: %v", at.Round(time.Second), err)
				continue
			}
			out[i].Samples = append(out[i].Samples, RSSSample{At: at, Bytes: rss})
			attrs = append(attrs, n.name+"_rss_mib", fmt.Sprintf("%.1f", float64(rss)/(1<<20)))
		}
		e.log.Info("memory benchmark", attrs...)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// checkMemory validates the memory benchmark's duration and interval.
func (c *Config) checkMemory() error {
	if c.MemoryDuration == 0 {
		c.MemoryDuration = MemoryDuration
	}
	if c.MemoryInterval == 0 {
		c.MemoryInterval = MemoryInterval
	}
	if c.MemoryDuration < time.Second || c.MemoryInterval <= 0 {
		return fmt.Errorf("memory benchmark: duration %s and interval %s must be positive, the duration at least 1s", c.MemoryDuration, c.MemoryInterval)
	}
	if c.MemoryDuration/c.MemoryInterval < minRSSSamples {
		return fmt.Errorf("memory benchmark: duration %s at interval %s gives fewer than %d samples", c.MemoryDuration, c.MemoryInterval, minRSSSamples)
	}
	return nil
}

// WriteMemoryTable prints the memory benchmark: the load on each volume,
// then each node's resident set size and whether it grew.
func WriteMemoryTable(w io.Writer, r *MemoryReport) error {
	fmt.Fprintf(w, "memory: %d volumes under load at once for %s, each a raid1 of a local lvol and a remote one; RSS every %s\n",
		len(r.Volumes), r.Duration, r.Interval)
	if r.Error != "" {
		fmt.Fprintf(w, "  error: %s\n", oneLine(r.Error, 200))
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "volume\tworkload\tMB/s\tIOPS\t")
	for _, v := range r.Volumes {
		if v.Error != "" {
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t  error: %s\n", v.Name, v.Workload, oneLine(v.Error, 100))
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%.1f\t%.0f\t\n", v.Name, v.Workload, v.Fio.MBps(), v.Fio.IOPS())
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "node\tsamples\tstart MiB\tend MiB\tmax MiB\tgrowth MiB\tverdict\t")
	for _, n := range r.Nodes {
		verdict := "steady"
		switch {
		case n.Error != "":
			verdict = "error: " + oneLine(n.Error, 100)
		case n.Grew:
			verdict = "GREW"
		}
		if n.Start == 0 {
			fmt.Fprintf(tw, "%s\t%d\t-\t-\t-\t-\t%s\t\n", n.Node, len(n.Samples), verdict)
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f\t%.1f\t%+.1f (%+.1f %%)\t%s\t\n", n.Node, len(n.Samples),
			mib(n.Start), mib(n.End), mib(n.Max), mib(n.Growth()), 100*float64(n.Growth())/float64(n.Start), verdict)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "start: median of the second quarter of the samples; end: of the last quarter; grew: end above start by more than 5 % or 8 MiB")
	return nil
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
