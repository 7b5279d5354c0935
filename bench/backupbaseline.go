package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"

	"github.com/minio/minio-go/v7"
	"golang.org/x/sync/errgroup"
)

// The baselines: the same bytes copied to the same place by the tools
// that only copy, the physical limit of each target kind.
const (
	opCp           = "baseline-cp"
	opNbdcopy      = "baseline-nbdcopy"
	opCpBack       = "baseline-cp-back"
	opPut2MiB      = "baseline-put-2MiB"
	opPutMultipart = "baseline-put-multipart"
	opGet2MiB      = "baseline-get-2MiB"
)

// copyFile runs a copying program (cp, nbdcopy) from src to dst and
// fsyncs dst, and returns the bytes dst has allocated on the disk.
func copyFile(ctx context.Context, prog string, args ...string) (int64, error) {
	dst := args[len(args)-1]
	out, err := exec.CommandContext(ctx, prog, args...).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("%s: %w: %s", prog, err, bytes.TrimSpace(out))
	}
	if err := syncPath(dst); err != nil {
		return 0, err
	}
	return allocated(dst)
}

// allocated returns the bytes a file occupies on the disk (a sparse copy
// occupies less than its size).
func allocated(path string) (int64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, fmt.Errorf("stat %s: %w", path, err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Blocks * 512, nil
	}
	return fi.Size(), nil
}

// baselineKey names the i-th 2 MiB object of the S3 baselines.
func baselineKey(prefix string, i int) string { return fmt.Sprintf("%s%06d", prefix, i) }

// putObjects uploads the volume file as 2 MiB objects, conc at a time,
// with the backup store's PUT (single part), and returns the bytes put.
func putObjects(ctx context.Context, c *minio.Client, prefix, path string, size int64, conc int) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("put objects: %w", err)
	}
	defer f.Close()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(conc)
	for i := range int(size / blockSize) {
		g.Go(func() error {
			buf := make([]byte, blockSize)
			if _, err := f.ReadAt(buf, int64(i)*blockSize); err != nil {
				return fmt.Errorf("read %s: %w", path, err)
			}
			_, err := c.PutObject(gctx, s3Bucket, baselineKey(prefix, i), bytes.NewReader(buf), blockSize,
				minio.PutObjectOptions{ContentType: "application/octet-stream", DisableMultipart: true})
			if err != nil {
				return fmt.Errorf("put %s: %w", baselineKey(prefix, i), err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	return size, nil
}

// getObjects downloads what putObjects uploaded into dst, conc at a time,
// fsyncs it and returns the bytes fetched.
func getObjects(ctx context.Context, c *minio.Client, prefix, dst string, size int64, conc int) (int64, error) {
	f, err := os.Create(dst)
	if err != nil {
		return 0, fmt.Errorf("get objects: %w", err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		return 0, fmt.Errorf("get objects: %w", err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(conc)
	for i := range int(size / blockSize) {
		g.Go(func() error {
			obj, err := c.GetObject(gctx, s3Bucket, baselineKey(prefix, i), minio.GetObjectOptions{})
			if err != nil {
				return fmt.Errorf("get %s: %w", baselineKey(prefix, i), err)
			}
			defer obj.Close()
			data, err := io.ReadAll(obj)
			if err != nil {
				return fmt.Errorf("get %s: %w", baselineKey(prefix, i), err)
			}
			if _, err := f.WriteAt(data, int64(i)*blockSize); err != nil {
				return fmt.Errorf("write %s: %w", dst, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	if err := f.Sync(); err != nil {
		return 0, fmt.Errorf("get objects: %w", err)
	}
	return size, f.Close()
}

// putMultipart uploads the volume file as one object in a multipart
// upload of 16 MiB parts, conc parts at a time.
func putMultipart(ctx context.Context, c *minio.Client, key, path string, size int64, conc int) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("multipart upload: %w", err)
	}
	defer f.Close()
	info, err := c.PutObject(ctx, s3Bucket, key, f, size, minio.PutObjectOptions{
		ContentType: "application/octet-stream", PartSize: 16 << 20, NumThreads: uint(conc),
	})
	if err != nil {
		return 0, fmt.Errorf("multipart upload: %w", err)
	}
	return info.Size, nil
}

// baselineOp is one baseline: the row it fills, the files whose page
// cache is dropped before it runs, and the run itself. Baselines run in
// two rounds, before and after the backups, and report the faster: the
// limit is what the disk or the server can do, and a disk that slows down
// for a while (writeback, discards of freed blocks) should not flatter the
// backups.
type baselineOp struct {
	row    BackupResult
	inputs func(round int) []string
	run    func(round int, r *BackupResult) error
	// once runs the baseline in the first round only: an extra figure,
	// not one the backups are compared with.
	once bool
}

// runBaselines runs every baseline once, as round round, over size bytes.
func (e *env) runBaselines(ctx context.Context, ops []baselineOp, size int64, round int) []BackupResult {
	var out []BackupResult
	for _, op := range ops {
		if op.row.Skipped != "" || (op.once && round > 1) {
			out = append(out, op.row)
			continue
		}
		out = append(out, e.timed(ctx, op.row, size, op.inputs(round), func(r *BackupResult) error {
			return op.run(round, r)
		}))
	}
	return out
}

// bestOf merges two rounds of the same baselines: each row is the faster
// run, with both runs' times; a run that failed makes the row fail, and a
// baseline that ran once (no figure in b) keeps its one run.
func bestOf(a, b []BackupResult) []BackupResult {
	out := make([]BackupResult, len(a))
	for i := range a {
		x, y := a[i], b[i]
		switch {
		case x.Skipped != "" || x.Error != "" || y.Seconds == 0 && y.Error == "":
			out[i] = x
			continue
		case y.Error != "":
			out[i] = y
			continue
		case y.Seconds < x.Seconds:
			out[i] = y
		default:
			out[i] = x
		}
		out[i].Runs = []float64{x.Seconds, y.Seconds}
	}
	return out
}
