package lvstore

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The SIGKILL crash test: the test binary re-executes itself as a child
// that runs a seeded random mix of writes, FUA writes, write-zeroes,
// flushes, creates, snapshots, clones and deletes on a store in a file,
// announcing each step on fd 3 before it starts (and FUA writes and
// metadata operations again when they return). The parent kills it with
// SIGKILL after a seeded number of events, reopens the store and checks
// that every flushed block, every acknowledged FUA write and every
// returned metadata operation is there. Iterations continue on the same
// file, so recovery is exercised repeatedly.
//
// LVSTORE_CRASH_ITERS sets the iteration count (default 30, 5 with -short);
// LVSTORE_CRASH_SEED fixes the seed.

const (
	crashDevSize  = 16 << 20
	crashLvolSize = 8 * testCS
	crashBlocks   = crashLvolSize / testBS
	crashMaxLvols = 12
	envChild      = "LVSTORE_CRASH_CHILD"
)

func TestMain(m *testing.M) {
	if os.Getenv(envChild) != "" {
		if err := crashChild(); err != nil {
			fmt.Fprintln(os.Stderr, "crash child:", err)
			os.Exit(3)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// blockFor encodes value v as a self-checking block; 0 is all zeros.
func blockFor(v uint64) []byte {
	b := make([]byte, testBS)
	if v == 0 {
		return b
	}
	x := v * 0x9E3779B97F4A7C15
	for i := 0; i < testBS; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], x)
	}
	binary.LittleEndian.PutUint64(b, v)
	return b
}

// valueOf decodes a block written by blockFor.
func valueOf(b []byte) (uint64, error) {
	v := binary.LittleEndian.Uint64(b)
	if !bytes.Equal(b, blockFor(v)) {
		return 0, fmt.Errorf("block is neither zero nor a whole written block (starts %x)", b[:16])
	}
	return v, nil
}

func crashChild() error {
	path := os.Getenv("LVSTORE_CRASH_PATH")
	seed, _ := strconv.ParseUint(os.Getenv("LVSTORE_CRASH_SEED"), 10, 64)
	iter, _ := strconv.ParseUint(os.Getenv("LVSTORE_CRASH_ITER"), 10, 64)
	events := os.NewFile(3, "events")
	emit := func(format string, args ...any) {
		fmt.Fprintf(events, format+"\n", args...)
	}
	dev, err := openFileDev(path, crashDevSize, testBS)
	if err != nil {
		return err
	}
	s, err := Open(dev, nil, quiet)
	if errors.Is(err, ErrNotFound) {
		s, err = Create(dev, "crash", testCS, quiet)
	}
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(seed, iter))
	counter := uint64(0)
	next := func() uint64 { counter++; return (iter+1)<<32 | counter }
	for {
		var writable, snaps []*Lvol
		all := s.Lvols()
		for _, lv := range all {
			if lv.IsReadOnly() {
				snaps = append(snaps, lv)
			} else {
				writable = append(writable, lv)
			}
		}
		r := rng.IntN(100)
		room := len(all) < crashMaxLvols
		switch {
		case r < 55 && len(writable) > 0:
			lv := writable[rng.IntN(len(writable))]
			b := rng.IntN(crashBlocks)
			n := min(1+rng.IntN(3), crashBlocks-b)
			vals := make([]string, n)
			buf := make([]byte, 0, n*testBS)
			for k := range n {
				v := next()
				vals[k] = strconv.FormatUint(v, 10)
				buf = append(buf, blockFor(v)...)
			}
			if r >= 48 {
				// A FUA write: durable once it returns.
				emit("W %s %d %s", lv.Name(), b, strings.Join(vals, ","))
				if _, err := lv.WriteAtFUA(buf, int64(b)*testBS); err != nil {
					return err
				}
				emit("A %s %d %s", lv.Name(), b, strings.Join(vals, ","))
				continue
			}
			emit("W %s %d %s", lv.Name(), b, strings.Join(vals, ","))
			if _, err := lv.WriteAt(buf, int64(b)*testBS); err != nil {
				return err
			}
		case r < 62 && len(writable) > 0:
			lv := writable[rng.IntN(len(writable))]
			b := rng.IntN(crashBlocks)
			n := min(1+rng.IntN(2*testCS/testBS), crashBlocks-b)
			emit("Z %s %d %d", lv.Name(), b, n)
			if err := lv.WriteZeroes(int64(b)*testBS, int64(n)*testBS); err != nil {
				return err
			}
		case r < 72:
			if err := s.Flush(); err != nil {
				return err
			}
			emit("F")
		case r < 80 && room && len(writable) > 0:
			lv := writable[rng.IntN(len(writable))]
			name := fmt.Sprintf("s%d-%d", iter, next()&0xffffffff)
			emit("S %s %s", lv.Name(), name)
			if _, err := s.Snapshot(lv, name, nil); err != nil {
				return err
			}
			emit("done")
		case r < 86 && room && len(snaps) > 0:
			snap := snaps[rng.IntN(len(snaps))]
			name := fmt.Sprintf("k%d-%d", iter, next()&0xffffffff)
			emit("K %s %s", snap.Name(), name)
			if _, err := s.Clone(snap, name); err != nil {
				return err
			}
			emit("done")
		case r < 94 && len(all) > 2:
			lv := all[rng.IntN(len(all))]
			if len(lv.Children()) > 1 {
				continue
			}
			emit("D %s", lv.Name())
			if err := s.Delete(lv); err != nil {
				return err
			}
			emit("done")
		case room:
			name := fmt.Sprintf("c%d-%d", iter, next()&0xffffffff)
			thin := rng.IntN(3) > 0
			emit("C %s %v", name, thin)
			if _, err := s.CreateLvol(name, crashLvolSize, thin); err != nil {
				return err
			}
			emit("done")
		}
	}
}

// crashModel is what the parent knows about the store.
type crashModel struct {
	lvols map[string]*crashLvol
}

type crashLvol struct {
	readOnly bool
	cells    []crashCell
}

// crashCell is one block: its durable value and values written since,
// any of which may have survived.
type crashCell struct {
	durable uint64
	pending []uint64
}

func (m *crashModel) promote() {
	for _, lv := range m.lvols {
		for i := range lv.cells {
			c := &lv.cells[i]
			if n := len(c.pending); n > 0 {
				c.durable, c.pending = c.pending[n-1], nil
			}
		}
	}
}

func (m *crashModel) copyOf(name string, readOnly bool) *crashLvol {
	src := m.lvols[name]
	return &crashLvol{readOnly: readOnly, cells: slices.Clone(src.cells)}
}

// apply applies a completed metadata operation.
func (m *crashModel) apply(op []string) error {
	m.promote()
	switch op[0] {
	case "S":
		if m.lvols[op[1]] == nil {
			return fmt.Errorf("snapshot of unknown lvol %s", op[1])
		}
		m.lvols[op[2]] = m.copyOf(op[1], true)
	case "K":
		if m.lvols[op[1]] == nil {
			return fmt.Errorf("clone of unknown lvol %s", op[1])
		}
		m.lvols[op[2]] = m.copyOf(op[1], false)
	case "D":
		delete(m.lvols, op[1])
	case "C":
		m.lvols[op[1]] = &crashLvol{cells: make([]crashCell, crashBlocks)}
	}
	return nil
}

// event applies one line from the child; it returns the operation in
// flight, if the line started a metadata operation.
func (m *crashModel) event(line string) ([]string, error) {
	f := strings.Fields(line)
	if len(f) == 0 {
		return nil, fmt.Errorf("empty event")
	}
	switch f[0] {
	case "W", "Z", "A":
		lv := m.lvols[f[1]]
		b, err := strconv.Atoi(f[2])
		if lv == nil || err != nil {
			return nil, fmt.Errorf("bad event %q", line)
		}
		var vals []uint64
		if f[0] != "Z" {
			for _, s := range strings.Split(f[3], ",") {
				v, err := strconv.ParseUint(s, 10, 64)
				if err != nil {
					return nil, fmt.Errorf("bad event %q", line)
				}
				vals = append(vals, v)
			}
		} else {
			n, _ := strconv.Atoi(f[3])
			vals = make([]uint64, n)
		}
		for k, v := range vals {
			c := &lv.cells[b+k]
			if f[0] == "A" { // FUA write acknowledged: durable now
				c.durable, c.pending = v, nil
				continue
			}
			c.pending = append(c.pending, v)
		}
	case "F":
		m.promote()
	case "S", "K", "D", "C":
		return f, nil
	default:
		return nil, fmt.Errorf("unknown event %q", line)
	}
	return nil, nil
}

// verify opens the store after the crash, resolves the in-flight operation
// by what is visible, and checks every block against the model. The model
// then takes the values found, so the next iteration continues from them.
func (m *crashModel) verify(path string, inflight []string) error {
	dev, err := openFileDev(path, crashDevSize, testBS)
	if err != nil {
		return err
	}
	defer dev.Close()
	s, err := Open(dev, nil, quiet)
	if err != nil {
		return fmt.Errorf("store does not load after SIGKILL: %w", err)
	}
	if inflight != nil {
		name := inflight[len(inflight)-1] // S and K: the new lvol
		if inflight[0] == "C" || inflight[0] == "D" {
			name = inflight[1]
		}
		_, err := s.Lvol(name)
		switch visible := err == nil; {
		case inflight[0] == "D" && !visible, inflight[0] != "D" && visible:
			if err := m.apply(inflight); err != nil {
				return err
			}
		}
	}
	var names []string
	for _, lv := range s.Lvols() {
		names = append(names, lv.Name())
	}
	var want []string
	for n := range m.lvols {
		want = append(want, n)
	}
	// The set matters here; Lvols lists in creation order.
	slices.Sort(names)
	slices.Sort(want)
	if !slices.Equal(names, want) {
		return fmt.Errorf("lvols after crash %v, want %v", names, want)
	}
	buf := make([]byte, crashLvolSize)
	for name, ml := range m.lvols {
		lv, err := s.Lvol(name)
		if err != nil {
			return err
		}
		if lv.IsReadOnly() != ml.readOnly {
			return fmt.Errorf("lvol %s read-only %v, want %v", name, lv.IsReadOnly(), ml.readOnly)
		}
		if _, err := lv.ReadAt(buf, 0); err != nil {
			return fmt.Errorf("read lvol %s: %w", name, err)
		}
		for b := range ml.cells {
			c := &ml.cells[b]
			v, err := valueOf(buf[b*testBS : (b+1)*testBS])
			if err != nil {
				return fmt.Errorf("lvol %s block %d: %w", name, b, err)
			}
			if v != c.durable && !slices.Contains(c.pending, v) {
				return fmt.Errorf("lvol %s block %d holds %#x; durable %#x, in flight %x", name, b, v, c.durable, c.pending)
			}
			c.durable, c.pending = v, nil
		}
	}
	return s.Close()
}

func TestCrashSIGKILL(t *testing.T) {
	iters := 30
	if testing.Short() {
		iters = 5
	}
	if v := os.Getenv("LVSTORE_CRASH_ITERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("LVSTORE_CRASH_ITERS=%q", v)
		}
		iters = n
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("LVSTORE_CRASH_SEED"); v != "" {
		var err error
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("LVSTORE_CRASH_SEED=%q", v)
		}
	}
	t.Logf("crash test: %d iterations, seed %d (LVSTORE_CRASH_SEED=%d reproduces)", iters, seed, seed)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "crash.img")
	rng := rand.New(rand.NewPCG(seed, 0))
	m := &crashModel{lvols: map[string]*crashLvol{}}
	start := time.Now()
	totalEvents := 0
	for iter := range iters {
		killAfter := 20 + rng.IntN(800)
		n, inflight, err := crashIteration(exe, path, seed, iter, killAfter, m)
		if err != nil {
			t.Fatalf("seed %d iteration %d (killed after %d events): %v", seed, iter, killAfter, err)
		}
		totalEvents += n
		if err := m.verify(path, inflight); err != nil {
			t.Fatalf("seed %d iteration %d (killed after %d events, in flight %v): %v", seed, iter, n, inflight, err)
		}
	}
	t.Logf("crash test: %d iterations, %d events, %v", iters, totalEvents, time.Since(start).Round(time.Millisecond))
}

// crashIteration runs one child until killAfter events, SIGKILLs it and
// feeds every event it managed to announce into m.
func crashIteration(exe, path string, seed uint64, iter, killAfter int, m *crashModel) (int, []string, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return 0, nil, err
	}
	defer r.Close()
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), envChild+"=1", "LVSTORE_CRASH_PATH="+path,
		fmt.Sprintf("LVSTORE_CRASH_SEED=%d", seed), fmt.Sprintf("LVSTORE_CRASH_ITER=%d", iter))
	cmd.ExtraFiles = []*os.File{w}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		w.Close()
		return 0, nil, err
	}
	w.Close()
	killed := false
	defer func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	sc := bufio.NewScanner(r)
	n := 0
	var inflight []string
	for sc.Scan() {
		n++
		line := sc.Text()
		if line == "done" {
			if inflight == nil {
				return n, nil, fmt.Errorf("event %d: done without an operation", n)
			}
			if err := m.apply(inflight); err != nil {
				return n, nil, err
			}
			inflight = nil
		} else {
			op, err := m.event(line)
			if err != nil {
				return n, nil, err
			}
			inflight = op
		}
		if n == killAfter && !killed {
			cmd.Process.Kill() // SIGKILL
			killed = true
		}
	}
	err = cmd.Wait()
	if !killed {
		killed = true
		return n, nil, fmt.Errorf("child exited before the kill: %v: %s", err, stderr.String())
	}
	return n, inflight, nil
}

// abandon simulates a crash in process: the store is dropped without
// Close, and the file is examined through a new handle.
func (fx *fixture) abandon() *Store {
	fx.t.Helper()
	dev, err := openFileDev(fx.path, testSize, testBS)
	if err != nil {
		fx.t.Fatal(err)
	}
	fx.t.Cleanup(func() { dev.Close() })
	s, err := Open(dev, nil, quiet)
	if err != nil {
		fx.t.Fatalf("open after crash: %v", err)
	}
	return s
}

// TestClusterReuseHazard: a cluster freed by an uncommitted deallocation
// must not be reused before the commit, or a crash would leave the old
// owner (per durable metadata) reading someone else's data.
func TestClusterReuseHazard(t *testing.T) {
	fx := newFixture(t)
	a := fx.lvol("a", testCS, true)
	b := fx.lvol("b", testCS, true)
	write(t, a, 0, fill(testCS, 1))
	if err := a.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := a.WriteZeroes(0, testCS); err != nil {
		t.Fatal(err)
	}
	if a.NumAllocatedClusters() != 0 {
		t.Fatal("whole-cluster write zeroes did not deallocate")
	}
	write(t, b, 0, fill(testCS, 9)) // allocates; must not take a's old cluster
	s := fx.abandon()
	got := read(t, fx.get2(s, "a"), 0, testCS)
	if !bytes.Equal(got, fill(testCS, 1)) && !bytes.Equal(got, make([]byte, testCS)) {
		t.Fatalf("after crash lvol a reads %x..., neither its flushed data nor zeros", got[:8])
	}
}

// TestCrashKeepsFlushedAllocations: data flushed into new clusters and
// metadata operations that returned survive a crash; unflushed
// allocations may vanish but never corrupt.
func TestCrashKeepsFlushedAllocations(t *testing.T) {
	fx := newFixture(t)
	a := fx.lvol("a", 4*testCS, true)
	write(t, a, testCS, fill(testBS, 3))
	if err := a.Flush(); err != nil {
		t.Fatal(err)
	}
	write(t, a, 2*testCS, fill(testBS, 4)) // not flushed
	if _, err := fx.s.Snapshot(a, "snap", nil); err != nil {
		t.Fatal(err)
	}
	write(t, a, 3*testCS, fill(testBS, 5)) // not flushed, new cluster
	s := fx.abandon()
	a2 := fx.get2(s, "a")
	if a2.Parent() == nil || a2.Parent().Name() != "snap" {
		t.Fatal("snapshot lost in crash")
	}
	if !bytes.Equal(read(t, a2, testCS, testBS), fill(testBS, 3)) || !bytes.Equal(read(t, a2, 2*testCS, testBS), fill(testBS, 4)) {
		t.Fatal("data written before flush or snapshot lost in crash")
	}
	if got := read(t, a2, 3*testCS, testBS); !bytes.Equal(got, fill(testBS, 5)) && !bytes.Equal(got, make([]byte, testBS)) {
		t.Fatal("unflushed write came back as garbage")
	}
}

func (fx *fixture) get2(s *Store, name string) *Lvol {
	fx.t.Helper()
	lv, err := s.Lvol(name)
	if err != nil {
		fx.t.Fatal(err)
	}
	return lv
}
