// Package checksum compares whole-device digests: a volume read twice must
// read the same (replicas that diverged show up as unstable reads behind a
// raid1 that spreads reads), a volume must match a digest recorded before a
// fault, and every replica of a volume must hold the same bytes.
package checksum

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/faultline/faultline/checkers"
	"github.com/faultline/faultline/timeline"
)

// ReadSize is the size of each read of a digest pass.
const ReadSize = 1 << 20

// Checker runs digest checks; the zero value is ready to use.
type Checker struct {
	// Recorder, when set, receives each verdict as a KindChecker event.
	Recorder *timeline.Recorder
}

// Digest returns the hex SHA-256 of the whole device, read in ReadSize
// pieces. It stops when ctx ends.
func Digest(ctx context.Context, dev checkers.Device) (string, error) {
	h := sha256.New()
	buf := make([]byte, ReadSize)
	size := dev.Size()
	for off := int64(0); off < size; {
		if err := ctx.Err(); err != nil {
			return "", fmt.Errorf("digest at %d of %d: %w", off, size, err)
		}
		p := buf[:min(int64(len(buf)), size-off)]
		if err := checkers.ReadFull(dev, p, off); err != nil {
			return "", fmt.Errorf("digest: %w", err)
		}
		h.Write(p)
		off += int64(len(p))
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Stable digests dev k times (k ≥ 2) and fails when the digests differ; the
// evidence lists every digest. A read error makes it Unknown.
func (c Checker) Stable(ctx context.Context, dev checkers.Device, k int) checkers.Verdict {
	const name = "checksum-stable"
	if k < 2 {
		return checkers.Record(c.Recorder, checkers.Verdict{Checker: name, Outcome: checkers.Unknown,
			Summary: fmt.Sprintf("stability needs at least 2 reads, asked for %d", k)})
	}
	digests := make([]string, 0, k)
	var ev []checkers.Evidence
	for i := range k {
		d, err := Digest(ctx, dev)
		if err != nil {
			ev = append(ev, checkers.Evidence{What: fmt.Sprintf("read %d", i+1), Detail: err.Error()})
			return checkers.Record(c.Recorder, checkers.Verdict{Checker: name, Outcome: checkers.Unknown,
				Summary: fmt.Sprintf("read %d of %d failed: %v", i+1, k, err), Evidence: ev})
		}
		digests = append(digests, d)
		ev = append(ev, checkers.Evidence{What: fmt.Sprintf("read %d", i+1), Actual: d})
	}
	distinct := len(uniq(digests))
	if distinct == 1 {
		return checkers.Record(c.Recorder, checkers.Verdict{Checker: name, Outcome: checkers.Pass,
			Summary: fmt.Sprintf("%d reads of %d bytes, digest %s", k, dev.Size(), short(digests[0])), Evidence: ev})
	}
	return checkers.Record(c.Recorder, checkers.Verdict{Checker: name, Outcome: checkers.Fail,
		Summary: fmt.Sprintf("%d reads gave %d different digests", k, distinct), Evidence: ev})
}

// Equal compares a digest recorded earlier with one taken now.
func (c Checker) Equal(recorded, actual string) checkers.Verdict {
	v := checkers.Verdict{Checker: "checksum-equal", Outcome: checkers.Pass, Summary: "digest equals the recorded one " + short(recorded)}
	switch {
	case recorded == "" || actual == "":
		v.Outcome, v.Summary = checkers.Unknown, "a digest is missing"
	case !strings.EqualFold(recorded, actual):
		v.Outcome, v.Summary = checkers.Fail, "digest differs from the recorded one"
	}
	v.Evidence = []checkers.Evidence{{What: "digest", Expected: recorded, Actual: actual}}
	return checkers.Record(c.Recorder, v)
}

// ReplicasEqual digests every replica and fails when they differ. On a
// difference a second, block-wise pass finds the first offset at which
// each differing replica departs from the first replica by name.
func (c Checker) ReplicasEqual(ctx context.Context, replicas map[string]checkers.Device) checkers.Verdict {
	const name = "checksum-replicas"
	names := make([]string, 0, len(replicas))
	for n := range replicas {
		names = append(names, n)
	}
	slices.Sort(names)
	if len(names) < 2 {
		return checkers.Record(c.Recorder, checkers.Verdict{Checker: name, Outcome: checkers.Unknown,
			Summary: fmt.Sprintf("need at least 2 replicas to compare, got %d", len(names))})
	}
	digests := make(map[string]string, len(names))
	var ev []checkers.Evidence
	for _, n := range names {
		d, err := Digest(ctx, replicas[n])
		if err != nil {
			ev = append(ev, checkers.Evidence{What: "replica " + n, Detail: err.Error()})
			return checkers.Record(c.Recorder, checkers.Verdict{Checker: name, Outcome: checkers.Unknown,
				Summary: fmt.Sprintf("replica %s: %v", n, err), Evidence: ev})
		}
		digests[n] = d
		ev = append(ev, checkers.Evidence{What: "replica " + n, Actual: d,
			Detail: fmt.Sprintf("%d bytes", replicas[n].Size())})
	}
	ref := names[0]
	var differ []string
	for _, n := range names[1:] {
		if digests[n] != digests[ref] {
			differ = append(differ, n)
		}
	}
	if len(differ) == 0 {
		return checkers.Record(c.Recorder, checkers.Verdict{Checker: name, Outcome: checkers.Pass,
			Summary: fmt.Sprintf("%d replicas, digest %s", len(names), short(digests[ref])), Evidence: ev})
	}
	for _, n := range differ {
		e := checkers.Evidence{What: "first difference", Expected: ref, Actual: n}
		off, err := FirstDifference(ctx, replicas[ref], replicas[n])
		if err != nil {
			e.Detail = err.Error()
		} else {
			e.Offset = checkers.Off(off)
			e.Detail = fmt.Sprintf("replica %s differs from %s from byte %d", n, ref, off)
		}
		ev = append(ev, e)
	}
	return checkers.Record(c.Recorder, checkers.Verdict{Checker: name, Outcome: checkers.Fail,
		Summary:  fmt.Sprintf("%d of %d replicas differ from %s: %s", len(differ), len(names), ref, strings.Join(differ, ", ")),
		Evidence: ev})
}

// FirstDifference returns the first byte offset at which a and b differ; a
// size difference counts as a difference at the end of the shorter one. It
// returns -1 when they are equal.
func FirstDifference(ctx context.Context, a, b checkers.Device) (int64, error) {
	size := min(a.Size(), b.Size())
	bufA, bufB := make([]byte, ReadSize), make([]byte, ReadSize)
	for off := int64(0); off < size; {
		if err := ctx.Err(); err != nil {
			return 0, fmt.Errorf("compare at %d: %w", off, err)
		}
		n := min(int64(ReadSize), size-off)
		pa, pb := bufA[:n], bufB[:n]
		if err := checkers.ReadFull(a, pa, off); err != nil {
			return 0, fmt.Errorf("compare: %w", err)
		}
		if err := checkers.ReadFull(b, pb, off); err != nil {
			return 0, fmt.Errorf("compare: %w", err)
		}
		if !bytes.Equal(pa, pb) {
			for i := range pa {
				if pa[i] != pb[i] {
					return off + int64(i), nil
				}
			}
		}
		off += n
	}
	if a.Size() != b.Size() {
		return size, nil
	}
	return -1, nil
}

func uniq(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}

func short(d string) string {
	if len(d) > 12 {
		return d[:12]
	}
	return d
}
