package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/client"
)

// Progress. The admin verbs that wait (volume wait, backup create --wait,
// system backup and restore waits, backing-image upload) print progress to
// their flag set's output, which runAdmin makes a progressGate: open while
// the flags are parsed, so that flag errors show, and then open only when
// a person watches, that is when stdout and stderr are terminals and the
// output is not JSON. Scripts get the result alone.

// progressGate passes writes on to w unless it is quiet.
type progressGate struct {
	w     io.Writer
	mu    sync.Mutex
	quiet bool
}

func (g *progressGate) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.quiet {
		return len(p), nil
	}
	return g.w.Write(p)
}

// settle decides, once the flags are known, whether progress shows.
func (g *progressGate) settle(stdout io.Writer, jsonOutput bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.quiet = jsonOutput || !isTerminal(stdout) || !isTerminal(g.w)
}

// open lets writes through again (for usage text after a failed run).
func (g *progressGate) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.quiet = false
}

// progressShown reports whether writes to w reach anybody: false for a
// quiet gate. Verbs use it to skip the requests only progress needs.
func progressShown(w io.Writer) bool {
	g, ok := w.(*progressGate)
	if !ok {
		return true
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return !g.quiet
}

// isTerminal reports whether w is a terminal. A writer may say so itself
// (IsTerminal), which is how tests stand in for one.
func isTerminal(w io.Writer) bool {
	switch t := w.(type) {
	case interface{ IsTerminal() bool }:
		return t.IsTerminal()
	case *os.File:
		return term.IsTerminal(int(t.Fd()))
	}
	return false
}

// progressReader counts the bytes read through it and reports them to w
// as a percentage of size, at most once a second and at the end.
type progressReader struct {
	r     io.Reader
	w     io.Writer
	what  string
	size  int64
	done  int64
	ended bool
	last  time.Time
	start time.Time
}

func newProgressReader(r io.Reader, w io.Writer, what string, size int64) *progressReader {
	now := time.Now()
	return &progressReader{r: r, w: w, what: what, size: size, start: now, last: now}
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.done += int64(n)
	end := err == io.EOF && !p.ended
	p.ended = p.ended || end
	if now := time.Now(); now.Sub(p.last) >= time.Second || end {
		p.last = now
		p.report()
	}
	return n, err
}

func (p *progressReader) report() {
	const mib = 1 << 20
	if p.size > 0 {
		fmt.Fprintf(p.w, "%s: %d%% (%.1f of %.1f MiB, %s)\n", p.what, p.done*100/p.size, float64(p.done)/mib, float64(p.size)/mib, time.Since(p.start).Round(time.Second))
		return
	}
	fmt.Fprintf(p.w, "%s: %.1f MiB (%s)\n", p.what, float64(p.done)/mib, time.Since(p.start).Round(time.Second))
}

// progressLines writes each line it is given once, the first time it sees
// it: a waiter hands it every line that describes the object as it stands
// (its state, then one line per part of it), and only what changed since
// the last look reaches the user.
type progressLines struct {
	w    io.Writer
	seen map[string]bool
}

func newProgressLines(w io.Writer) *progressLines {
	return &progressLines{w: w, seen: map[string]bool{}}
}

func (p *progressLines) show(lines ...string) {
	for _, l := range lines {
		if !p.seen[l] {
			p.seen[l] = true
			fmt.Fprintln(p.w, l)
		}
	}
}

// volumeProgress describes a volume as it stands for volume wait: its
// state and robustness, then each replica's mode (WO while it rebuilds).
func volumeProgress(ctx context.Context, c *client.Client, name string, v api.Volume) []string {
	if v.Name == "" {
		return []string{"volume " + name + ": gone"}
	}
	lines := []string{fmt.Sprintf("volume %s: %s, %s", name, v.Status.State, v.Status.Robustness)}
	reps, err := c.ListReplicas(ctx, name)
	if err != nil {
		return lines
	}
	for _, r := range reps {
		mode := r.Status.Mode
		if mode == "" {
			mode = r.Status.State
		}
		if mode == api.ModeWO {
			mode += " (rebuilding)"
		}
		lines = append(lines, fmt.Sprintf("  replica %s on %s: %s", r.Name, r.Spec.Node, mode))
	}
	return lines
}
