package backupstore

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

const benchSize = 256 << 20

// BenchmarkBackupStore measures full and 5%-changed incremental backups and
// restores of a 256 MiB volume (six sevenths of it data, half of that
// compressible) with lz4, on each target kind, beside a baseline that
// io.Copies the same bytes into a file in the file target's directory, so
// the ratio to plain copying is read from one run. MB/s is over the whole
// volume; B-uploaded/op and B-pulled/op are what crossed to the target.
func BenchmarkBackupStore(b *testing.B) {
	src := testVolume(benchSize, 21)
	n := benchSize / BlockSize
	for _, k := range []struct {
		name string
		make func(testing.TB) *env
	}{{"file", fileEnv}, {"s3", s3Env}} {
		b.Run(k.name, func(b *testing.B) {
			e := k.make(b)
			s := e.store()
			ctx := context.Background()
			if k.name == "file" {
				b.Run("baseline-io.Copy", func(b *testing.B) {
					loc, err := ParseURL(e.url)
					if err != nil {
						b.Fatal(err)
					}
					b.SetBytes(benchSize)
					for i := 0; b.Loop(); i++ {
						f, err := os.Create(filepath.Join(loc.Dir, fmt.Sprintf("baseline-%d", i)))
						if err != nil {
							b.Fatal(err)
						}
						if _, err := io.Copy(f, io.NewSectionReader(src, 0, benchSize)); err != nil {
							b.Fatal(err)
						}
						if err := f.Sync(); err != nil {
							b.Fatal(err)
						}
						f.Close()
						os.Remove(f.Name())
					}
				})
			}
			b.Run("full-backup", func(b *testing.B) {
				b.SetBytes(benchSize)
				var st BackupStats
				for i := 0; b.Loop(); i++ {
					var err error
					vol := fmt.Sprintf("full-%d", i)
					if _, st, err = s.Backup(ctx, BackupRequest{Volume: vol, Name: "b0", Size: benchSize,
						Compression: CompressionLZ4, Source: src}); err != nil {
						b.Fatal(err)
					}
					b.StopTimer()
					if _, err := s.Delete(ctx, vol, "b0"); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				b.ReportMetric(float64(st.BytesUploaded), "B-uploaded/op")
			})

			// The incremental cases share one b0 of volume "inc".
			if _, _, err := s.Backup(ctx, BackupRequest{Volume: "inc", Name: "b0", Size: benchSize,
				Compression: CompressionLZ4, Source: src}); err != nil {
				b.Fatal(err)
			}
			changed := func(off int64) bool { return (off/BlockSize)%20 == 1 } // 5%
			var cur, b1 *volume
			seed := uint64(100)
			b.Run("incremental-backup-5pct", func(b *testing.B) {
				b.SetBytes(benchSize)
				var st BackupStats
				for i := 0; b.Loop(); i++ {
					b.StopTimer()
					cur = src.clone()
					seed++
					rng := newRand(seed)
					for blk := range n {
						if off := int64(blk) * BlockSize; changed(off) {
							cur.fillBlock(rng, off)
						}
					}
					b.StartTimer()
					var err error
					if _, st, err = s.Backup(ctx, BackupRequest{Volume: "inc", Name: fmt.Sprintf("b1-%d", i), Size: benchSize,
						Compression: CompressionLZ4, Source: cur, Previous: "b0", Changed: changed}); err != nil {
						b.Fatal(err)
					}
					if i == 0 {
						b1 = cur
					}
				}
				b.ReportMetric(float64(st.BytesUploaded), "B-uploaded/op")
			})
			b.Run("full-restore", func(b *testing.B) {
				b.SetBytes(benchSize)
				dst := newVolume(benchSize)
				var st RestoreStats
				for b.Loop() {
					var err error
					if st, err = s.Restore(ctx, RestoreRequest{Volume: "inc", Backup: "b0", Dest: dst}); err != nil {
						b.Fatal(err)
					}
				}
				if dst.digest() != src.digest() {
					b.Fatal("restore differs")
				}
				b.ReportMetric(float64(st.BytesPulled), "B-pulled/op")
			})
			b.Run("incremental-restore-5pct", func(b *testing.B) {
				b.SetBytes(benchSize)
				var st RestoreStats
				dst := src.clone()
				for b.Loop() {
					b.StopTimer()
					copy(dst.b, src.b)
					b.StartTimer()
					var err error
					if st, err = s.Restore(ctx, RestoreRequest{Volume: "inc", Backup: "b1-0", From: "b0", Dest: dst}); err != nil {
						b.Fatal(err)
					}
				}
				if dst.digest() != b1.digest() {
					b.Fatal("incremental restore differs from b1")
				}
				b.ReportMetric(float64(st.BytesPulled), "B-pulled/op")
			})
		})
	}
}
