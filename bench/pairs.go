package bench

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// startFunc brings target t's export up and returns its URI.
type startFunc func(ctx context.Context, t target) (string, error)

// measureFunc runs workload w once on the export at uri of the named
// target and returns the measured figures.
type measureFunc func(ctx context.Context, target, uri string, w Workload) (FioResult, error)

// series is the measured runs of one target under one workload, and the
// first error that ended it: once a run fails the series takes no more, so
// a dead target costs one timeout rather than one per repeat.
type series struct {
	runs []FioResult
	err  error
}

func (s *series) add(r FioResult, err error) {
	if err != nil {
		s.err = err
		return
	}
	s.runs = append(s.runs, r)
}

// measurePairs measures every target under every workload repeat times.
// Each run of a target follows a run of the baseline under the same
// workload, back to back, so that both sides of a ratio see the machine in
// the same state: on a shared machine the load drifts within minutes, and a
// baseline measured once at the start would compare the targets with
// another machine. The baseline is started first; each other target when
// its turn comes, and every workload runs on it before the next target
// starts. When no target could be paired with it (it was selected alone,
// or the others failed) the baseline runs repeat times per workload by
// itself; without the baseline the targets run unpaired and get no ratios.
//
// The result has the baseline's rows first (all its runs, pairs of every
// target pooled), then each target's in order; see summarize for the
// figures.
func measurePairs(ctx context.Context, ts []target, ws []Workload, repeat int, start startFunc, measure measureFunc) []Result {
	type started struct {
		uri string
		err error
	}
	run := func(name string, at started, w Workload, s *series) {
		if s.err != nil {
			return
		}
		if at.err != nil {
			s.err = fmt.Errorf("start: %w", at.err)
			return
		}
		s.add(measure(ctx, name, at.uri, w))
	}
	var base *started
	others := slices.DeleteFunc(slices.Clone(ts), func(t target) bool { return t.name == Baseline })
	if len(others) < len(ts) {
		i := slices.IndexFunc(ts, func(t target) bool { return t.name == Baseline })
		uri, err := start(ctx, ts[i])
		base = &started{uri, err}
	}
	// paired[t][w] are the baseline runs paired with target t's runs of w;
	// the baseline's own entry holds its runs when it runs alone.
	paired := map[string]map[string]*series{}
	own := map[string]map[string]*series{}
	for _, t := range ts {
		paired[t.name], own[t.name] = map[string]*series{}, map[string]*series{}
		for _, w := range ws {
			paired[t.name][w.Name], own[t.name][w.Name] = &series{}, &series{}
		}
	}
	for _, t := range others {
		if ctx.Err() != nil {
			break
		}
		uri, err := start(ctx, t)
		at := started{uri, err}
		for _, w := range ws {
			for range repeat {
				s := own[t.name][w.Name]
				// A baseline run is only worth making when there is a
				// target run to pair it with.
				if base != nil && at.err == nil && s.err == nil {
					run(Baseline, *base, w, paired[t.name][w.Name])
				}
				run(t.name, at, w, s)
			}
		}
	}
	if base != nil && ctx.Err() == nil {
		// The baseline alone, or every other target failed: measure the
		// baseline by itself rather than report nothing for it.
		for _, w := range ws {
			if !slices.ContainsFunc(ts, func(t target) bool {
				p := paired[t.name][w.Name]
				return len(p.runs) > 0 || p.err != nil
			}) {
				for range repeat {
					run(Baseline, *base, w, paired[Baseline][w.Name])
				}
			}
		}
	}
	var out []Result
	if base != nil {
		for _, w := range ws {
			// The baseline's row pools its runs from every pair; its first
			// failure, if any, is the row's error.
			var all series
			for _, t := range ts {
				p := paired[t.name][w.Name]
				all.runs = append(all.runs, p.runs...)
				if all.err == nil {
					all.err = p.err
				}
			}
			r := summarize(Baseline, w.Name, &all)
			if r.Error == "" {
				r.BaselineMBps, r.Ratio = r.MBps, 1
			}
			out = append(out, r)
		}
	}
	for _, t := range others {
		for _, w := range ws {
			r := summarize(t.name, w.Name, own[t.name][w.Name])
			if p := paired[t.name][w.Name]; base != nil && p.err == nil && len(p.runs) > 0 && r.Error == "" {
				r.BaselineMBps = median(collect(p.runs, FioResult.MBps))
				if r.BaselineMBps > 0 {
					r.Ratio = r.MBps / r.BaselineMBps
				}
			}
			out = append(out, r)
		}
	}
	return out
}

// summarize gives a series' figures: the median and the spread (minimum and
// maximum) of MB/s, and the medians of IOPS and of the write p99 latency.
// The median, not the mean: one run disturbed by another process on the
// machine moves a mean of three runs by a third of the disturbance and the
// median not at all. A series that failed has no figures, only its error
// and the runs it measured before failing.
func summarize(target, workload string, s *series) Result {
	r := Result{Target: target, Workload: workload, Runs: s.runs}
	if s.err != nil {
		r.Error = s.err.Error()
		return r
	}
	if len(s.runs) == 0 {
		r.Error = "not measured (run cancelled)"
		return r
	}
	mbps := collect(s.runs, FioResult.MBps)
	r.MBps, r.MBpsMin, r.MBpsMax = median(mbps), slices.Min(mbps), slices.Max(mbps)
	r.IOPS = median(collect(s.runs, FioResult.IOPS))
	r.WriteP99 = time.Duration(median(collect(s.runs, func(f FioResult) float64 { return float64(f.WriteP99) })))
	return r
}

// collect applies f to every run.
func collect(runs []FioResult, f func(FioResult) float64) []float64 {
	out := make([]float64, len(runs))
	for i, r := range runs {
		out[i] = f(r)
	}
	return out
}

// median is the middle of xs, or the mean of the two middle values when
// there is an even number of them; 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}
