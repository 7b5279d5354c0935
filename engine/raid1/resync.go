package raid1

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ActivateMode says what a raid that activates its write-intent log may
// find on its members.
type ActivateMode int

const (
	// AfterCrash: a previous raid over these members may have stopped
	// with writes in flight, reaching some members and not others. Every
	// region dirty in any member's bitmap is compared on every member.
	AfterCrash ActivateMode = iota
	// Handover: the previous raid was flushed and stopped writing before
	// this one starts (a live upgrade). Members that agree need nothing;
	// only a member that missed writes (a lower event count, or no valid
	// bitmap) is brought up to date.
	Handover
)

// ActivateOptions configure Activate.
type ActivateOptions struct {
	Mode ActivateMode
	// SkipResync leaves the members as they are and only resets the
	// bitmaps: the defect switch no-resync-after-crash. Never set it
	// otherwise.
	SkipResync bool
	// Progress, when set, is called after each region with the regions
	// done and the regions to do.
	Progress func(done, total int64)
}

// ResyncStats describe what an activation found and did.
type ResyncStats struct {
	// Source is the member the others were brought in line with.
	Source string `json:"source,omitempty"`
	// Stale members carried a lower event count (they missed writes);
	// Unknown members had no valid bitmap (every region compared).
	Stale   []string `json:"stale,omitempty"`
	Unknown []string `json:"unknown,omitempty"`
	// Regions is how many regions were compared; Divergent how many of
	// them differed on some member.
	Regions   int64 `json:"regions"`
	Divergent int64 `json:"divergent"`
	// BytesRead and BytesWritten count member I/O.
	BytesRead    int64         `json:"bytesRead"`
	BytesWritten int64         `json:"bytesWritten"`
	Skipped      bool          `json:"skipped,omitempty"`
	Took         time.Duration `json:"took"`
}

// target is a member to bring in line and the regions to compare on it.
type target struct {
	m   *member
	all bool // every region (no usable bitmap)
}

// Activate turns the write-intent log on. It reads every member's bitmap,
// brings the members in line over the regions in doubt (see
// ActivateMode), flushes them, writes a clean bitmap to each and starts
// taking writes. New and waiting I/O is held meanwhile. A member that
// fails is marked ERR; Activate fails when no member with current data
// can be read.
func (r *Raid) Activate(ctx context.Context, opts ActivateOptions) (ResyncStats, error) {
	il := r.intent
	if il == nil {
		return ResyncStats{}, fmt.Errorf("raid1 %s: no write-intent log (members have no bitmaps)", r.name)
	}
	start := time.Now()
	release, err := r.hold(ctx)
	if err != nil {
		return ResyncStats{}, err
	}
	defer release()

	members := r.intentTargets()
	images := make([]intentImage, len(members))
	valid := make([]bool, len(members))
	var maxEvents uint64
	for i, m := range members {
		im, err := readIntent(m.bitmap)
		if err != nil {
			r.log.Warn("raid1 member bitmap unusable: every region will be compared on it", "member", m.name, "err", err)
			continue
		}
		// A member whose bitmap is of unknown history, or that was
		// still being rebuilt, is compared over every region.
		images[i], valid[i] = im, im.hdr.inSync()
		if valid[i] {
			maxEvents = max(maxEvents, im.hdr.events)
		}
	}
	var st ResyncStats
	var sources, targets []*member
	var scope []target
	for i, m := range members {
		switch {
		case !valid[i]:
			st.Unknown = append(st.Unknown, m.name)
			scope = append(scope, target{m: m, all: true})
		case images[i].hdr.events < maxEvents:
			st.Stale = append(st.Stale, m.name)
			scope = append(scope, target{m: m})
		default:
			sources = append(sources, m)
			if opts.Mode == AfterCrash {
				scope = append(scope, target{m: m})
			}
		}
		targets = append(targets, m)
	}
	if len(sources) == 0 && len(members) > 0 {
		// Nothing is known anywhere: take the first member as it is.
		sources = members[:1]
	}
	union := il.unionOf(images, valid)
	if opts.SkipResync {
		st.Skipped = true
		r.log.Error("DEFECT no-resync-after-crash: members are not compared after a crash; they may differ where writes were in flight", "raid", r.name, "dirty_regions", countBits(union))
	} else if err := r.resync(ctx, sources, scope, union, &st, opts.Progress); err != nil {
		return st, err
	}
	for _, m := range targets {
		if err := m.dev.Flush(); err != nil {
			r.markFailed(m, fmt.Errorf("flush after resync: %w", err))
		}
	}
	il.mu.Lock()
	il.reset(maxEvents + 1)
	il.active = true
	il.mu.Unlock()
	if err := r.persist(0); err != nil {
		il.mu.Lock()
		il.active = false
		il.mu.Unlock()
		return st, fmt.Errorf("raid1 %s activate: %w", r.name, err)
	}
	st.Took = time.Since(start)
	r.log.Info("raid1 write-intent log active", "source", st.Source, "regions", st.Regions, "divergent", st.Divergent,
		"stale", st.Stale, "unknown", st.Unknown, "bytes_written", st.BytesWritten, "took", st.Took)
	return st, nil
}

// Deactivate turns the write-intent log off before another raid takes the
// members over (a live upgrade): the bitmaps are left as they are and
// writes are refused from now on. The caller stops I/O and flushes first.
func (r *Raid) Deactivate() {
	if r.intent == nil {
		return
	}
	r.intent.mu.Lock()
	r.intent.active = false
	r.intent.mu.Unlock()
}

// hold admits no new request and waits for the ones in flight, unless the
// raid is suspended already; release undoes it.
func (r *Raid) hold(ctx context.Context) (release func(), err error) {
	if r.Suspended() {
		return func() {}, nil
	}
	if err := r.Suspend(ctx); err != nil {
		return nil, err
	}
	return r.Resume, nil
}

// unionOf marks, in the raid's own regions, every byte range that any
// valid image has dirty.
func (il *intentLog) unionOf(images []intentImage, valid []bool) []uint64 {
	u := make([]uint64, len(il.dirty))
	for i, im := range images {
		if !valid[i] {
			continue
		}
		im.dirtyBytes(func(off, end int64) {
			if off >= il.volumeSize {
				return
			}
			first, last := il.span(off, min(end, il.volumeSize)-off)
			for g := first; g <= last; g++ {
				u[g/64] |= 1 << (g % 64)
			}
		})
	}
	return u
}

func countBits(b []uint64) int64 {
	var n int64
	for _, w := range b {
		for ; w != 0; w &= w - 1 {
			n++
		}
	}
	return n
}

// resyncWorkers is how many regions a resync compares at once: reads from
// different members overlap instead of waiting for each other.
const resyncWorkers = 4

// resyncRun is the shared state of one resync's workers.
type resyncRun struct {
	r        *Raid
	sources  []*member
	scope    []target
	union    []uint64
	progress func(done, total int64)
	total    int64

	mu   sync.Mutex
	src  int
	done int64
	st   *ResyncStats
}

// resync compares each region in doubt on the targets with the first
// readable source and rewrites the blocks that differ.
func (r *Raid) resync(ctx context.Context, sources []*member, scope []target, union []uint64, st *ResyncStats, progress func(done, total int64)) error {
	if len(scope) == 0 {
		return nil
	}
	all := false
	for _, t := range scope {
		all = all || t.all
	}
	var todo []int64
	for g := range r.intent.regions {
		if all || union[g/64]&(1<<(g%64)) != 0 {
			todo = append(todo, g)
		}
	}
	run := &resyncRun{r: r, sources: sources, scope: scope, union: union, progress: progress, total: int64(len(todo)), st: st}
	st.Source = sources[0].name
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	regions := make(chan int64)
	errc := make(chan error, resyncWorkers)
	var wg sync.WaitGroup
	for range resyncWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf, cmp := make([]byte, r.intent.regionSize), make([]byte, r.intent.regionSize)
			for g := range regions {
				if err := run.region(g, buf, cmp); err != nil {
					errc <- err
					cancel()
					return
				}
			}
		}()
	}
feed:
	for _, g := range todo {
		select {
		case regions <- g:
		case <-ctx.Done():
			break feed
		}
	}
	close(regions)
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("raid1 %s resync: %w", r.name, err)
	}
	return nil
}

// source returns the member regions are copied from now.
func (run *resyncRun) source() (*member, error) {
	run.mu.Lock()
	defer run.mu.Unlock()
	if run.src >= len(run.sources) {
		return nil, fmt.Errorf("raid1 %s resync: no member with current data can be read", run.r.name)
	}
	return run.sources[run.src], nil
}

// sourceFailed moves on from a source that could not be read.
func (run *resyncRun) sourceFailed(m *member, err error) {
	run.r.markFailed(m, fmt.Errorf("resync read: %w", err))
	run.mu.Lock()
	defer run.mu.Unlock()
	if run.src < len(run.sources) && run.sources[run.src] == m {
		run.src++
		if run.src < len(run.sources) {
			run.st.Source = run.sources[run.src].name
		}
	}
}

// region brings region g in line on every target.
func (run *resyncRun) region(g int64, buf, cmp []byte) error {
	r := run.r
	off := g * r.intent.regionSize
	n := min(r.intent.regionSize, r.size-off)
	data := buf[:n]
	var src *member
	for {
		var err error
		if src, err = run.source(); err != nil {
			return fmt.Errorf("%w at %d", err, off)
		}
		if err := readFull(src, data, off); err != nil {
			run.sourceFailed(src, err)
			continue
		}
		break
	}
	inUnion := run.union[g/64]&(1<<(g%64)) != 0
	read, written, divergent := n, int64(0), false
	for _, t := range run.scope {
		if t.m == src || (!inUnion && !t.all) || r.state(t.m) == StateERR {
			continue
		}
		got := cmp[:n]
		if err := readFull(t.m, got, off); err != nil {
			r.markFailed(t.m, fmt.Errorf("resync read: %w", err))
			continue
		}
		read += n
		w, err := rewriteDiff(t.m, data, got, off, r.blockSize)
		written += w
		if err != nil {
			r.markFailed(t.m, fmt.Errorf("resync write: %w", err))
			continue
		}
		divergent = divergent || w > 0
	}
	run.mu.Lock()
	defer run.mu.Unlock()
	run.st.Regions++
	run.st.BytesRead += read
	run.st.BytesWritten += written
	if divergent {
		run.st.Divergent++
	}
	run.done++
	if run.progress != nil {
		run.progress(run.done, run.total)
	}
	return nil
}

func (r *Raid) state(m *member) State {
	r.mu.Lock()
	defer r.mu.Unlock()
	return m.state
}

func readFull(m *member, p []byte, off int64) error {
	n, err := m.dev.ReadAt(p, off)
	if err == nil && n < len(p) {
		err = errors.New("short read")
	}
	return err
}

// rewriteDiff writes, block-run by block-run, the parts of want that
// differ from got, and returns the bytes written.
func rewriteDiff(m *member, want, got []byte, off int64, blockSize int) (int64, error) {
	var written int64
	bs := blockSize
	for i := 0; i < len(want); {
		if bytes.Equal(want[i:i+bs], got[i:i+bs]) {
			i += bs
			continue
		}
		j := i + bs
		for j < len(want) && !bytes.Equal(want[j:j+bs], got[j:j+bs]) {
			j += bs
		}
		if _, err := m.dev.WriteAt(want[i:j], off+int64(i)); err != nil {
			return written, err
		}
		written += int64(j - i)
		i = j
	}
	return written, nil
}
