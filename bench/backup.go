package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"github.com/faultline/faultline/engine/backupstore"
	"github.com/faultline/faultline/engine/improto"
	"github.com/faultline/faultline/internal/versitygw"
)

// BackupSize is the default volume of the backup benchmark.
const BackupSize = 1 << 30

// backupChangedPercent is the share of blocks an incremental backup finds
// changed.
const backupChangedPercent = 5

// backupSeed makes the volume's content and the changed blocks the same
// from run to run.
const backupSeed = 20261130

// backupCache describes how the page cache is kept out of the figures.
const backupCache = "every timed operation starts with its input evicted from the page cache " +
	"(posix_fadvise DONTNEED on the source volume, the copy or every object file of the target) " +
	"and ends once its output is fsynced (cp and nbdcopy copies, restored volumes; the file " +
	"target fsyncs each object and its directory); versitygw's own writes are not fsynced, " +
	"for the baselines and the backups alike"

// runBackup measures backups and restores of one volume on a file target
// and, when versitygw is at hand, on an S3 target, each beside plain
// copies of the same bytes to the same place. Failures become rows with
// an error; the benchmark itself does not fail.
func (e *env) runBackup(ctx context.Context) *BackupReport {
	start := time.Now()
	rep := &BackupReport{
		VolumeBytes: e.cfg.BackupSize, Content: VolumeContent, ChangedPercent: backupChangedPercent,
		Compression: string(backupstore.CompressionLZ4), Concurrency: backupstore.DefaultConcurrency,
		Cache: backupCache,
	}
	defer func() { rep.Seconds = time.Since(start).Seconds() }()
	dir := filepath.Join(e.dir, "backup")
	if err := mkdir(dir); err != nil {
		rep.Results = []BackupResult{{Target: "file", Op: "setup", Error: err.Error()}}
		return rep
	}
	e.log.Info("backup benchmark: writing the volume", "bytes", e.cfg.BackupSize)
	vol, err := createVolume(filepath.Join(dir, "volume.img"), e.cfg.BackupSize, backupSeed)
	if err != nil {
		rep.Results = []BackupResult{{Target: "file", Op: "setup", Error: err.Error()}}
		return rep
	}
	if !e.cfg.Keep {
		// Some 9 GiB by the end: gone even when the work directory stays.
		defer os.RemoveAll(dir)
	}
	sets := changeSets(vol.blocks(), backupChangedPercent, 2, backupSeed)
	rep.ChangedBlocks = len(sets[0])

	rep.Results = append(rep.Results, e.backupFile(ctx, vol, sets, filepath.Join(dir, "file"))...)
	if ctx.Err() == nil {
		rep.Results = append(rep.Results, e.backupS3(ctx, vol, sets, filepath.Join(dir, "s3"))...)
	}
	computeBackupRatios(rep.Results)
	return rep
}

// backupFile is the file target: a directory on the same disk as the
// volume.
func (e *env) backupFile(ctx context.Context, vol *benchVolume, sets [][]int, dir string) []BackupResult {
	target, restore := filepath.Join(dir, "target"), filepath.Join(dir, "restore")
	for _, d := range []string{target, restore} {
		if err := mkdir(d); err != nil {
			return []BackupResult{{Target: "file", Op: "setup", Error: err.Error()}}
		}
	}
	size := vol.size
	// Each round writes files of its own: overwriting the last round's
	// would make the copy pay for freeing (and discarding) its blocks.
	copyPath := func(round int) string { return filepath.Join(target, fmt.Sprintf("baseline-cp-%d.img", round)) }
	baselines := []baselineOp{
		{BackupResult{Target: "file", Op: opCp, Baseline: opCp},
			func(int) []string { return []string{vol.path} },
			func(round int, r *BackupResult) error {
				n, err := copyFile(ctx, "cp", vol.path, copyPath(round))
				r.BytesRead, r.BytesUploaded = size, n
				return err
			}, false},
		{BackupResult{Target: "file", Op: opCpBack, Baseline: opCpBack},
			func(round int) []string { return []string{copyPath(round)} },
			func(round int, r *BackupResult) error {
				n, err := copyFile(ctx, "cp", copyPath(round), filepath.Join(restore, fmt.Sprintf("baseline-cp-%d.img", round)))
				r.BytesPulled, r.BytesWritten = size, n
				return err
			}, false},
	}
	nbd := baselineOp{row: BackupResult{Target: "file", Op: opNbdcopy, Baseline: opCp},
		inputs: func(int) []string { return []string{vol.path} },
		run: func(round int, r *BackupResult) error {
			// --flush: nbdcopy flushes (fsyncs) the destination before it exits.
			n, err := copyFile(ctx, e.cfg.Nbdcopy, "--flush", vol.path, filepath.Join(target, fmt.Sprintf("baseline-nbdcopy-%d.img", round)))
			r.BytesRead, r.BytesUploaded = size, n
			return err
		}}
	if _, err := exec.LookPath(e.cfg.Nbdcopy); err != nil {
		nbd.row.Skipped = fmt.Sprintf("%v (install the Debian package libnbd-bin)", err)
	}
	baselines = append(baselines, nbd)

	first := e.runBaselines(ctx, baselines, size, 1)
	var seq []BackupResult
	if t, err := backupstore.Open(ctx, "file://"+target, backupstore.Credential{}); err != nil {
		seq = []BackupResult{{Target: "file", Op: "open", Error: err.Error()}}
	} else {
		seq = e.backupSequence(ctx, "file", t, vol, sets, target, restore, opCp, opCpBack)
		seq = append(seq, e.backupNode(ctx, "file", improto.BackupTarget{URL: "file://" + target}, vol, sets[0], target, opCp, opCpBack)...)
	}
	return append(bestOf(first, e.runBaselines(ctx, baselines, size, 2)), seq...)
}

// backupS3 is the S3 target: a versitygw started for the run, in POSIX
// mode over a directory on the same disk.
func (e *env) backupS3(ctx context.Context, vol *benchVolume, sets [][]int, dir string) []BackupResult {
	bin := e.cfg.Versitygw
	if bin == "" {
		var err error
		if bin, err = versitygw.Find(); err != nil {
			e.log.Warn("S3 backup rows skipped", "err", err)
			return []BackupResult{{Target: "s3", Op: "all", Skipped: err.Error()}}
		}
	}
	restore := filepath.Join(dir, "restore")
	if err := mkdir(restore); err != nil {
		return []BackupResult{{Target: "s3", Op: "setup", Error: err.Error()}}
	}
	srv, err := e.startVersitygw(ctx, bin, dir)
	if err != nil {
		return []BackupResult{{Target: "s3", Op: "setup", Error: err.Error()}}
	}
	defer srv.proc.stop()
	size, conc := vol.size, backupstore.DefaultConcurrency
	prefix := func(round int) string { return fmt.Sprintf("baseline/r%d/", round) }
	baselines := []baselineOp{
		{BackupResult{Target: "s3", Op: opPut2MiB, Baseline: opPut2MiB},
			func(int) []string { return []string{vol.path} },
			func(round int, r *BackupResult) error {
				n, err := putObjects(ctx, srv.client, prefix(round), vol.path, size, conc)
				r.BytesRead, r.BytesUploaded = size, n
				return err
			}, false},
		{BackupResult{Target: "s3", Op: opGet2MiB, Baseline: opGet2MiB},
			func(int) []string { return []string{srv.root} },
			func(round int, r *BackupResult) error {
				n, err := getObjects(ctx, srv.client, prefix(round), filepath.Join(restore, fmt.Sprintf("baseline-%d.img", round)), size, conc)
				r.BytesPulled, r.BytesWritten = n, n
				return err
			}, false},
		{BackupResult{Target: "s3", Op: opPutMultipart, Baseline: opPut2MiB},
			func(int) []string { return []string{vol.path} },
			func(round int, r *BackupResult) error {
				n, err := putMultipart(ctx, srv.client, prefix(round)+"volume.img", vol.path, size, conc)
				r.BytesRead, r.BytesUploaded = size, n
				return err
			}, true},
	}
	first := e.runBaselines(ctx, baselines, size, 1)
	var seq []BackupResult
	url := fmt.Sprintf("s3://%s@%s/bench", s3Bucket, s3Region)
	if t, err := backupstore.Open(ctx, url, srv.credential()); err != nil {
		seq = []BackupResult{{Target: "s3", Op: "open", Error: err.Error()}}
	} else {
		seq = e.backupSequence(ctx, "s3", t, vol, sets, srv.root, restore, opPut2MiB, opGet2MiB)
		cred := srv.credential()
		tgt := improto.BackupTarget{URL: url, AccessKey: cred.AccessKey, SecretKey: cred.SecretKey, Endpoint: cred.Endpoint}
		seq = append(seq, e.backupNode(ctx, "s3", tgt, vol, sets[0], srv.root, opPut2MiB, opGet2MiB)...)
	}
	return append(bestOf(first, e.runBaselines(ctx, baselines, size, 2)), seq...)
}

// The operations of the backup store.
const (
	opFullBackup       = "full-backup"
	opIncrBackup       = "incr-backup"
	opIncrBackupMap    = "incr-backup-changed-map"
	opFullRestore      = "full-restore"
	opIncrRestore      = "incr-restore"
	backupVolumeName   = "bench"
	firstBackup        = "b0"
	secondBackup       = "b1"
	thirdBackup        = "b2"
	restoredVolumeName = "restored.img"
)

// backupSequence runs, on one target, what refengine does over a volume's
// life: a full backup (v0); sets[0] changes and an incremental backup that
// reads and hashes every block and uploads the new ones (what refengine
// does without a snapshot diff: Changed is nil); sets[1] changes and an
// incremental backup told which blocks changed (the snapshot diff); a full
// restore of the first backup into a new file; an incremental restore of
// the second over it. Each restore is checked block by block against the
// volume it restores. The volume is put back to v0 at the end, for the
// next target.
func (e *env) backupSequence(ctx context.Context, kind string, t backupstore.Target, vol *benchVolume, sets [][]int,
	objects, restoreDir, upBase, downBase string) []BackupResult {
	s := backupstore.New(t, backupstore.Options{Logger: e.log})
	src, err := os.Open(vol.path)
	if err != nil {
		return []BackupResult{{Target: kind, Op: opFullBackup, Error: fmt.Sprintf("open the volume: %v", err)}}
	}
	defer src.Close()
	defer func() {
		if err := vol.rewrite(slices.Concat(sets[0], sets[1]), 0); err != nil {
			e.log.Warn("volume not reset", "err", err)
		}
	}()
	size := vol.size
	backup := func(op, name, prev string, changed []int) BackupResult {
		var keep func(int64) bool
		if changed != nil {
			keep = func(off int64) bool { _, ok := slices.BinarySearch(changed, int(off/blockSize)); return ok }
		}
		return e.timed(ctx, BackupResult{Target: kind, Op: op, Baseline: upBase}, size, []string{vol.path},
			func(r *BackupResult) error {
				_, st, err := s.Backup(ctx, backupstore.BackupRequest{
					Volume: backupVolumeName, Name: name, Snapshot: name, Size: size,
					Compression: backupstore.CompressionLZ4, Source: src, Previous: prev, Changed: keep,
				})
				r.BytesRead, r.BytesUploaded = st.BytesRead, st.BytesUploaded
				return err
			})
	}
	restored := filepath.Join(restoreDir, restoredVolumeName)
	restore := func(op, name, from string, want []uint64) BackupResult {
		return e.timed(ctx, BackupResult{Target: kind, Op: op, Baseline: downBase}, size, []string{objects},
			func(r *BackupResult) error {
				flags := os.O_WRONLY
				if from == "" {
					flags |= os.O_CREATE | os.O_TRUNC
				}
				f, err := os.OpenFile(restored, flags, 0o644)
				if err != nil {
					return fmt.Errorf("restored volume: %w", err)
				}
				defer f.Close()
				if err := f.Truncate(size); err != nil {
					return fmt.Errorf("restored volume: %w", err)
				}
				st, err := s.Restore(ctx, backupstore.RestoreRequest{Volume: backupVolumeName, Backup: name, From: from, Dest: f})
				r.BytesPulled, r.BytesWritten = st.BytesPulled, st.BytesWritten
				if err != nil {
					return err
				}
				if err := f.Sync(); err != nil {
					return fmt.Errorf("restored volume: %w", err)
				}
				return f.Close()
			}, func() error { return vol.verify(restored, want) })
	}

	var out []BackupResult
	v0 := vol.snapshot()
	out = append(out, backup(opFullBackup, firstBackup, "", nil))
	if err := vol.rewrite(sets[0], 1); err != nil {
		return append(out, BackupResult{Target: kind, Op: opIncrBackup, Error: err.Error()})
	}
	v1 := vol.snapshot()
	out = append(out, backup(opIncrBackup, secondBackup, firstBackup, nil))
	if err := vol.rewrite(sets[1], 2); err != nil {
		return append(out, BackupResult{Target: kind, Op: opIncrBackupMap, Error: err.Error()})
	}
	out = append(out, backup(opIncrBackupMap, thirdBackup, secondBackup, sets[1]))
	out = append(out, restore(opFullRestore, firstBackup, "", v0))
	out = append(out, restore(opIncrRestore, secondBackup, firstBackup, v1))
	return out
}

// timed runs op with the page cache of inputs dropped first, and fills in
// r's time and rate over size bytes. check, if given, runs after the
// clock stops and turns a wrong result into an error. An operation whose
// predecessor failed may fail too; each row says why.
func (e *env) timed(ctx context.Context, r BackupResult, size int64, inputs []string, op func(*BackupResult) error, check ...func() error) BackupResult {
	if err := ctx.Err(); err != nil {
		r.Error = err.Error()
		return r
	}
	if err := dropCache(inputs...); err != nil {
		r.Error = err.Error()
		return r
	}
	t0 := time.Now()
	err := op(&r)
	took := time.Since(t0)
	for _, c := range check {
		if err == nil {
			err = c()
		}
	}
	if err != nil {
		r.Error = err.Error()
	} else {
		r.Seconds = took.Seconds()
		r.MBps = float64(size) / 1e6 / took.Seconds()
	}
	e.log.Info("backup benchmark", "target", r.Target, "op", r.Op, "seconds", fmt.Sprintf("%.2f", r.Seconds),
		"MB/s", fmt.Sprintf("%.1f", r.MBps), "read", r.BytesRead, "uploaded", r.BytesUploaded,
		"pulled", r.BytesPulled, "written", r.BytesWritten, "err", r.Error)
	return r
}
