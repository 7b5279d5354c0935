package bench

import (
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
)

// Load is the machine's load average as /proc/loadavg gives it. The
// figures of one run are only comparable when the machine was equally
// busy, so every report says how busy it was.
type Load struct {
	// One, Five and Fifteen are the load averages over 1, 5 and 15
	// minutes: runnable plus uninterruptible tasks.
	One     float64 `json:"load1"`
	Five    float64 `json:"load5"`
	Fifteen float64 `json:"load15"`
	// Running and Tasks are the scheduling entities runnable now and in
	// all.
	Running int `json:"running"`
	Tasks   int `json:"tasks"`
}

// ReadLoad reads /proc/loadavg.
func ReadLoad() (Load, error) {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return Load{}, fmt.Errorf("load average: %w", err)
	}
	return ParseLoadavg(string(b))
}

// ParseLoadavg parses the contents of /proc/loadavg: "0.52 0.58 0.59
// 2/1066 12345", three averages, runnable/total tasks and the last PID.
func ParseLoadavg(s string) (Load, error) {
	f := strings.Fields(s)
	if len(f) != 5 {
		return Load{}, fmt.Errorf("parse loadavg %q: want 5 fields, have %d", s, len(f))
	}
	var l Load
	for i, p := range []*float64{&l.One, &l.Five, &l.Fifteen} {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
			return Load{}, fmt.Errorf("parse loadavg %q: average %q is not a load", s, f[i])
		}
		*p = v
	}
	run, total, ok := strings.Cut(f[3], "/")
	var err1, err2 error
	l.Running, err1 = strconv.Atoi(run)
	l.Tasks, err2 = strconv.Atoi(total)
	if !ok || err1 != nil || err2 != nil || l.Running < 0 || l.Tasks < l.Running {
		return Load{}, fmt.Errorf("parse loadavg %q: tasks %q are not running/total", s, f[3])
	}
	return l, nil
}

// WriteLoad prints the load line: the load averages against the CPU
// count, which is what says whether the run had the machine to itself. A
// nil l is a load that could not be read.
func WriteLoad(w io.Writer, when string, l *Load, cpus int) {
	if l == nil {
		fmt.Fprintf(w, "load %s: unknown, %d CPUs\n", when, cpus)
		return
	}
	fmt.Fprintf(w, "load %s: %.2f %.2f %.2f (1, 5, 15 min), %d of %d tasks runnable, %d CPUs\n",
		when, l.One, l.Five, l.Fifteen, l.Running, l.Tasks, cpus)
}
