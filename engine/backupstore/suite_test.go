package backupstore

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestTargetObjects covers the Target contract itself.
func TestTargetObjects(t *testing.T) {
	forEachTarget(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		tgt := e.target
		if _, err := tgt.Get(ctx, "a/missing"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get missing: %v, want ErrNotFound", err)
		}
		if _, err := tgt.Stat(ctx, "a/missing"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Stat missing: %v, want ErrNotFound", err)
		}
		for _, k := range []string{"a/b/1", "a/b/2", "a/c", "b"} {
			if err := tgt.Put(ctx, k, []byte("data "+k)); err != nil {
				t.Fatal(err)
			}
		}
		if err := tgt.Put(ctx, "a/c", []byte("replaced")); err != nil {
			t.Fatal(err)
		}
		got, err := tgt.Get(ctx, "a/c")
		if err != nil || string(got) != "replaced" {
			t.Fatalf("Get a/c = %q, %v", got, err)
		}
		info, err := tgt.Stat(ctx, "a/b/1")
		if err != nil || info.Size != int64(len("data a/b/1")) {
			t.Fatalf("Stat = %+v, %v", info, err)
		}
		for _, tc := range []struct {
			prefix string
			want   []string
		}{
			{"a/", []string{"a/b/1", "a/b/2", "a/c"}},
			{"a/b/", []string{"a/b/1", "a/b/2"}},
			{"", []string{"a/b/1", "a/b/2", "a/c", "b"}},
			{"z/", nil},
		} {
			keys, err := tgt.List(ctx, tc.prefix)
			if err != nil || !slices.Equal(keys, tc.want) {
				t.Errorf("List(%q) = %q, %v; want %q", tc.prefix, keys, err, tc.want)
			}
		}
		if err := tgt.Delete(ctx, "a/b/1"); err != nil {
			t.Fatal(err)
		}
		if err := tgt.Delete(ctx, "a/b/1"); err != nil {
			t.Fatalf("Delete of a missing object: %v, want nil", err)
		}
		if _, err := tgt.Get(ctx, "a/b/1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get deleted: %v", err)
		}
	})
}

// TestBackupRestoreFull: a full backup restores to the same bytes, with
// every compression, including a volume whose last block is short.
func TestBackupRestoreFull(t *testing.T) {
	forEachTarget(t, func(t *testing.T, e *env) {
		for _, tc := range []struct {
			name string
			c    Compression
			size int64
		}{
			{"none", CompressionNone, 16 << 20},
			{"lz4", CompressionLZ4, 16 << 20},
			{"gzip", CompressionGzip, 16 << 20},
			{"default", "", 4 << 20},
			{"short last block", CompressionLZ4, 9<<20 + 4096},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ctx := context.Background()
				s := e.store()
				vol := "vol-" + strings.ReplaceAll(tc.name, " ", "-")
				src := testVolume(tc.size, 7)
				var progress []Progress
				m, st, err := s.Backup(ctx, BackupRequest{
					Volume: vol, Name: "b0", Snapshot: "snap0", Size: tc.size, Compression: tc.c,
					Labels: map[string]string{"k": "v"}, Source: src,
					Progress: func(p Progress) { progress = append(progress, p) },
				})
				if err != nil {
					t.Fatal(err)
				}
				n := int((tc.size + BlockSize - 1) / BlockSize)
				sparse := 0
				for i := range n {
					if i%7 == 3 {
						sparse++
					}
				}
				if st.Blocks != n || st.BlocksRead != n || st.ZeroBlocks != sparse || st.BlocksUploaded != n-sparse {
					t.Errorf("stats %+v, want %d blocks read, %d zero, %d uploaded", st, n, sparse, n-sparse)
				}
				if len(m.BlockMap) != n-sparse {
					t.Errorf("block map has %d entries, want %d (sparse blocks stay out)", len(m.BlockMap), n-sparse)
				}
				if len(progress) != n || progress[n-1] != (Progress{Done: n, Total: n}) {
					t.Errorf("progress: %d calls, last %+v", len(progress), progress[len(progress)-1])
				}
				if tc.c == CompressionLZ4 || tc.c == CompressionGzip {
					if st.BytesUploaded >= int64(st.BlocksUploaded)*BlockSize {
						t.Errorf("compressed upload %d bytes for %d half-compressible blocks", st.BytesUploaded, st.BlocksUploaded)
					}
				}
				dst := newVolume(tc.size)
				rst, err := s.Restore(ctx, RestoreRequest{Volume: vol, Backup: "b0", Dest: dst})
				if err != nil {
					t.Fatal(err)
				}
				if dst.digest() != src.digest() {
					t.Fatal("restored volume differs from the source")
				}
				if rst.Blocks != n-sparse || rst.BytesPulled != st.BytesUploaded {
					t.Errorf("restore stats %+v, backup uploaded %d", rst, st.BytesUploaded)
				}
				got, err := s.Get(ctx, vol, "b0")
				if err != nil || got.Snapshot != "snap0" || got.Labels["k"] != "v" || got.Size != tc.size {
					t.Errorf("Get = %+v, %v", got, err)
				}
				if _, _, err := s.Backup(ctx, BackupRequest{Volume: vol, Name: "b0", Size: tc.size, Source: src}); !errors.Is(err, ErrExists) {
					t.Errorf("second backup with the same name: %v, want ErrExists", err)
				}
			})
		}
	})
}

// incremental sets up the 64 MiB scenario: b0, then 5% of the blocks
// changed (some of them to zeros, some sparse blocks filled) and b1.
type incremental struct {
	s          *Store
	v0, v1     *volume
	changed    map[int64]bool
	zeroed     int
	st0, st1   BackupStats
	m0, m1     *Manifest
	changedFor func(int64) bool
}

const incSize = 64 << 20

func setupIncremental(t *testing.T, e *env, vol string) *incremental {
	t.Helper()
	ctx := context.Background()
	in := &incremental{s: e.store(), v0: testVolume(incSize, 1), changed: map[int64]bool{}}
	var err error
	in.m0, in.st0, err = in.s.Backup(ctx, BackupRequest{Volume: vol, Name: "b0", Size: incSize,
		Compression: CompressionLZ4, Source: in.v0})
	if err != nil {
		t.Fatal(err)
	}
	in.v1 = in.v0.clone()
	rng := rand.New(rand.NewPCG(99, 2))
	// 32 blocks; 5% is 1.6: change 2 to new data (one of them a sparse
	// block), zero 1 that had data.
	for _, blk := range []int64{3, 10} {
		in.v1.fillBlock(rng, blk*BlockSize)
		in.changed[blk*BlockSize] = true
	}
	in.v1.zeroBlock(20 * BlockSize)
	in.changed[20*BlockSize] = true
	in.zeroed = 1
	in.changedFor = func(off int64) bool { return in.changed[off] }
	in.m1, in.st1, err = in.s.Backup(ctx, BackupRequest{Volume: vol, Name: "b1", Size: incSize,
		Compression: CompressionLZ4, Source: in.v1, Previous: "b0", Changed: in.changedFor})
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// TestIncremental: the second backup reads and uploads only the changed
// blocks, records the zeroed one explicitly, and an incremental restore
// from b0 writes exactly the delta and yields b1's bytes.
func TestIncremental(t *testing.T) {
	forEachTarget(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		in := setupIncremental(t, e, "vol-inc")
		st := in.st1
		n := incSize / BlockSize
		if st.BlocksRead != len(in.changed) || st.BlocksReused != int(n)-len(in.changed) ||
			st.BlocksUploaded != len(in.changed)-in.zeroed || st.ZeroBlocks != in.zeroed {
			t.Errorf("incremental stats %+v; want %d read, %d uploaded, %d zero", st, len(in.changed), len(in.changed)-in.zeroed, in.zeroed)
		}
		perBlock := in.st0.BytesUploaded / int64(in.st0.BlocksUploaded)
		if st.BytesUploaded > 2*perBlock*int64(st.BlocksUploaded) || st.BytesUploaded > in.st0.BytesUploaded/8 {
			t.Errorf("incremental uploaded %d bytes, full uploaded %d", st.BytesUploaded, in.st0.BytesUploaded)
		}
		h1 := in.m1.hashes()
		if h1[20*BlockSize] != ZeroHash {
			t.Errorf("zeroed block recorded as %q, want ZeroHash", h1[20*BlockSize])
		}
		if _, ok := h1[3*BlockSize]; !ok {
			t.Error("a sparse block that got data is not in b1's map")
		}

		dst := newVolume(incSize)
		if _, err := in.s.Restore(ctx, RestoreRequest{Volume: "vol-inc", Backup: "b0", Dest: dst}); err != nil {
			t.Fatal(err)
		}
		if dst.digest() != in.v0.digest() {
			t.Fatal("b0 restore differs")
		}
		dst.writtenOffsets()
		rst, err := in.s.Restore(ctx, RestoreRequest{Volume: "vol-inc", Backup: "b1", From: "b0", Dest: dst})
		if err != nil {
			t.Fatal(err)
		}
		var want []int64
		for off := range in.changed {
			want = append(want, off)
		}
		slices.Sort(want)
		if got := dst.writtenOffsets(); !slices.Equal(got, want) {
			t.Errorf("incremental restore wrote blocks %v, want only %v", got, want)
		}
		if rst.Blocks != len(want) || rst.BlocksZeroed != in.zeroed || rst.BytesPulled > st.BytesUploaded {
			t.Errorf("incremental restore stats %+v", rst)
		}
		if dst.digest() != in.v1.digest() {
			t.Fatal("b0 + incremental b1 differs from the b1 source")
		}

		// b1 restores alone too, and a Zero callback takes the zeros.
		alone := newVolume(incSize)
		var zeroed []int64
		var mu sync.Mutex
		if _, err := in.s.Restore(ctx, RestoreRequest{Volume: "vol-inc", Backup: "b1", Dest: alone,
			Zero: func(off, length int64) error {
				mu.Lock()
				defer mu.Unlock()
				zeroed = append(zeroed, off)
				return nil
			}}); err != nil {
			t.Fatal(err)
		}
		if alone.digest() != in.v1.digest() || !slices.Equal(zeroed, []int64{20 * BlockSize}) {
			t.Errorf("full restore of b1: digest match %v, zero callback at %v", alone.digest() == in.v1.digest(), zeroed)
		}

		// Without a change list every block is read, and dedup uploads none.
		_, st2, err := in.s.Backup(ctx, BackupRequest{Volume: "vol-inc", Name: "b2", Size: incSize,
			Compression: CompressionLZ4, Source: in.v1, Previous: "b1"})
		if err != nil {
			t.Fatal(err)
		}
		if st2.BlocksRead != int(n) || st2.BlocksUploaded != 0 || st2.BytesUploaded != 0 {
			t.Errorf("unchanged re-read backup: %+v, want everything deduplicated", st2)
		}
	})
}

// TestListAndDelete: listing, then deleting b0 collects the blocks only
// b0 used, b1 still restores, and deleting the last backup leaves no block.
func TestListAndDelete(t *testing.T) {
	forEachTarget(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		in := setupIncremental(t, e, "vol-gc")
		s := in.s
		other := testVolume(4<<20, 5)
		if _, _, err := s.Backup(ctx, BackupRequest{Volume: "vol-other", Name: "x", Size: 4 << 20, Source: other}); err != nil {
			t.Fatal(err)
		}
		vols, err := s.ListVolumes(ctx)
		if err != nil || !slices.Equal(vols, []string{"vol-gc", "vol-other"}) {
			t.Fatalf("ListVolumes = %v, %v", vols, err)
		}
		ms, err := s.ListBackups(ctx, "vol-gc")
		if err != nil || len(ms) != 2 || ms[0].Name != "b0" || ms[1].Name != "b1" {
			t.Fatalf("ListBackups = %v, %v", ms, err)
		}
		if ms, err := s.ListBackups(ctx, "vol-none"); err != nil || len(ms) != 0 {
			t.Fatalf("ListBackups of a volume without backups = %v, %v", ms, err)
		}

		blocks := func() map[string]bool {
			keys, err := e.target.List(ctx, volumeDir("vol-gc")+"blocks/")
			if err != nil {
				t.Fatal(err)
			}
			set := map[string]bool{}
			for _, k := range keys {
				h, ok := parseBlockKey("vol-gc", k)
				if !ok {
					t.Fatalf("stray key %s", k)
				}
				set[h] = true
			}
			return set
		}
		h0, h1 := in.m0.hashes(), in.m1.hashes()
		only0 := 0
		for off, h := range h0 {
			if h1[off] != h {
				only0++
			}
		}
		before := blocks()
		gc, err := s.Delete(ctx, "vol-gc", "b0")
		if err != nil {
			t.Fatal(err)
		}
		after := blocks()
		if gc.BlocksDeleted != only0 || len(after) != len(before)-only0 {
			t.Errorf("deleting b0 removed %d blocks (%d → %d), want the %d only b0 used", gc.BlocksDeleted, len(before), len(after), only0)
		}
		for _, h := range h1 {
			if h != ZeroHash && !after[h] {
				t.Errorf("block %s of b1 collected", h)
			}
		}
		if _, err := s.Get(ctx, "vol-gc", "b0"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get deleted backup: %v", err)
		}
		dst := newVolume(incSize)
		if _, err := s.Restore(ctx, RestoreRequest{Volume: "vol-gc", Backup: "b1", Dest: dst}); err != nil || dst.digest() != in.v1.digest() {
			t.Fatalf("b1 after deleting b0: %v", err)
		}
		if _, err := s.Delete(ctx, "vol-gc", "b0"); !errors.Is(err, ErrNotFound) {
			t.Errorf("deleting a missing backup: %v, want ErrNotFound", err)
		}
		if _, err := s.Delete(ctx, "vol-gc", "b1"); err != nil {
			t.Fatal(err)
		}
		if left := blocks(); len(left) != 0 {
			t.Errorf("%d blocks left after deleting the last backup", len(left))
		}
		if vols, _ := s.ListVolumes(ctx); !slices.Equal(vols, []string{"vol-other"}) {
			t.Errorf("ListVolumes after deleting every backup of vol-gc = %v", vols)
		}
	})
}

// TestBadData: every way stored data can be wrong fails the restore with
// a clear error of the right kind, never success.
func TestBadData(t *testing.T) {
	forEachTarget(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		for _, tc := range []struct {
			name   string
			damage func(t *testing.T, s *Store, m *Manifest)
			want   error
		}{
			{"flipped byte in a block", func(t *testing.T, s *Store, m *Manifest) {
				key := blockKey(m.Volume, m.BlockMap[1].SHA256)
				obj := mustGet(t, e.target, key)
				obj[len(obj)/2] ^= 0x40
				mustPut(t, e.target, key, obj)
			}, ErrCorrupt},
			{"block header damaged", func(t *testing.T, s *Store, m *Manifest) {
				key := blockKey(m.Volume, m.BlockMap[0].SHA256)
				obj := mustGet(t, e.target, key)
				obj[0] = 'X'
				mustPut(t, e.target, key, obj)
			}, ErrCorrupt},
			{"block truncated", func(t *testing.T, s *Store, m *Manifest) {
				key := blockKey(m.Volume, m.BlockMap[2].SHA256)
				obj := mustGet(t, e.target, key)
				mustPut(t, e.target, key, obj[:len(obj)-100])
			}, ErrCorrupt},
			{"missing block", func(t *testing.T, s *Store, m *Manifest) {
				if err := e.target.Delete(ctx, blockKey(m.Volume, m.BlockMap[1].SHA256)); err != nil {
					t.Fatal(err)
				}
			}, ErrNotFound},
			{"truncated manifest", func(t *testing.T, s *Store, m *Manifest) {
				key := manifestKey(m.Volume, m.Name)
				obj := mustGet(t, e.target, key)
				mustPut(t, e.target, key, obj[:len(obj)*2/3])
			}, ErrCorrupt},
			{"manifest of another volume", func(t *testing.T, s *Store, m *Manifest) {
				other := *m
				other.Volume = "someone-else"
				data, err := encodeManifest(&other)
				if err != nil {
					t.Fatal(err)
				}
				mustPut(t, e.target, manifestKey(m.Volume, m.Name), data)
			}, ErrCorrupt},
			{"missing manifest", func(t *testing.T, s *Store, m *Manifest) {
				if err := e.target.Delete(ctx, manifestKey(m.Volume, m.Name)); err != nil {
					t.Fatal(err)
				}
			}, ErrNotFound},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := e.store()
				vol := "bad-" + strings.ReplaceAll(tc.name, " ", "-")
				src := testVolume(8<<20, 3)
				m, _, err := s.Backup(ctx, BackupRequest{Volume: vol, Name: "b0", Size: 8 << 20, Source: src, Compression: CompressionGzip})
				if err != nil {
					t.Fatal(err)
				}
				tc.damage(t, s, m)
				_, err = s.Restore(ctx, RestoreRequest{Volume: vol, Backup: "b0", Dest: newVolume(8 << 20)})
				if !errors.Is(err, tc.want) {
					t.Fatalf("restore after %s: %v, want %v", tc.name, err, tc.want)
				}
				t.Logf("%s: %v", tc.name, err)
				// A damaged backup can still be deleted, unless it is already gone.
				_, err = s.Delete(ctx, vol, "b0")
				if tc.name == "missing manifest" {
					if !errors.Is(err, ErrNotFound) {
						t.Errorf("delete of a missing backup: %v, want ErrNotFound", err)
					}
				} else if err != nil {
					t.Errorf("delete of a damaged backup: %v", err)
				}
			})
		}
	})
}

// TestTargetDownMidBackup: the target goes away part-way through a backup;
// the backup fails with ErrUnreachable naming the target and, once the
// target is back, there is no manifest: the backup does not exist.
func TestTargetDownMidBackup(t *testing.T) {
	forEachTarget(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		s := e.store()
		src := &hookSource{volume: testVolume(32<<20, 11), at: 5, hook: e.down}
		start := time.Now()
		_, _, err := s.Backup(ctx, BackupRequest{Volume: "vol-down", Name: "b0", Size: 32 << 20, Source: src})
		if !errors.Is(err, ErrUnreachable) {
			t.Fatalf("backup with the target gone: %v, want ErrUnreachable", err)
		}
		if !strings.Contains(err.Error(), e.target.String()) {
			t.Errorf("error does not name the target %s: %v", e.target, err)
		}
		t.Logf("after %v: %v", time.Since(start).Round(time.Millisecond), err)
		if _, err := s.Restore(ctx, RestoreRequest{Volume: "vol-down", Backup: "b0", Dest: newVolume(1)}); !errors.Is(err, ErrUnreachable) {
			t.Errorf("restore with the target gone: %v, want ErrUnreachable", err)
		}
		if _, err := s.ListVolumes(ctx); !errors.Is(err, ErrUnreachable) {
			t.Errorf("list with the target gone: %v, want ErrUnreachable", err)
		}
		e.up()
		if _, err := s.Get(ctx, "vol-down", "b0"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("manifest of the failed backup: %v, want ErrNotFound", err)
		}
		// The blocks it did store are reused by the retry.
		_, st, err := s.Backup(ctx, BackupRequest{Volume: "vol-down", Name: "b0", Size: 32 << 20, Source: src.volume})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("retry: %+v", st)
	})
}

// TestCancel: a cancelled backup stops and writes no manifest.
func TestCancel(t *testing.T) {
	forEachTarget(t, func(t *testing.T, e *env) {
		s := e.store()
		ctx, cancel := context.WithCancel(context.Background())
		src := &hookSource{volume: testVolume(32<<20, 12), at: 3, hook: cancel}
		_, _, err := s.Backup(ctx, BackupRequest{Volume: "vol-cancel", Name: "b0", Size: 32 << 20, Source: src})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled backup: %v, want context.Canceled", err)
		}
		if _, err := s.Get(context.Background(), "vol-cancel", "b0"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("manifest of a cancelled backup: %v", err)
		}
	})
}

// hookSource calls hook once, on its at-th read.
type hookSource struct {
	*volume
	at   int32
	n    atomic.Int32
	once sync.Once
	hook func()
}

func (h *hookSource) ReadAt(p []byte, off int64) (int, error) {
	if h.n.Add(1) == h.at {
		h.once.Do(h.hook)
	}
	return h.volume.ReadAt(p, off)
}

func mustGet(t *testing.T, tgt Target, key string) []byte {
	t.Helper()
	b, err := tgt.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustPut(t *testing.T, tgt Target, key string, b []byte) {
	t.Helper()
	if err := tgt.Put(context.Background(), key, b); err != nil {
		t.Fatal(err)
	}
}
