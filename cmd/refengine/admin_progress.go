package main

import (
	"fmt"
	"io"
)

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
