package bench

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestRunBackup runs the backup benchmark for real on a 16 MiB volume:
// cp and nbdcopy, the backup store on a file target and, when versitygw is
// installed, on an S3 target. It checks what the figures must satisfy
// whatever the machine: every row measured, incrementals that upload only
// the changed blocks, the changed-map variant that reads only them, and
// restores that pull what the backups stored; and the same through a
// refengine node (built for the test).
func TestRunBackup(t *testing.T) {
	if testing.Short() {
		t.Skip("runs cp, nbdcopy and versitygw")
	}
	const size = 16 * blockSize
	rep, err := Run(t.Context(), Config{Size: 1 << 20, Runtime: time.Second, Jobs: []string{JobBackup}, BackupSize: size, WorkDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Backup == nil || len(rep.Results) != 0 || len(rep.Resync) != 0 {
		t.Fatalf("report %+v, want the backup benchmark alone", rep)
	}
	b := rep.Backup
	if b.VolumeBytes != size || b.ChangedBlocks != 1 || b.Compression != "lz4" || b.Seconds <= 0 {
		t.Errorf("report header %+v", b)
	}
	rows := map[string]BackupResult{}
	for _, r := range b.Results {
		rows[r.Target+"/"+r.Op] = r
		if r.Error != "" {
			t.Errorf("%s/%s failed: %s", r.Target, r.Op, r.Error)
		}
	}
	targets := []string{"file"}
	if s3 := rows["s3/all"]; s3.Skipped != "" {
		if !strings.Contains(s3.Skipped, "versitygw") {
			t.Errorf("S3 skipped with %q, want it to name versitygw", s3.Skipped)
		}
		t.Logf("S3 rows skipped: %s", s3.Skipped)
	} else {
		targets = append(targets, "s3")
	}
	baselines := map[string][]string{"file": {opCp, opCpBack, opNbdcopy}, "s3": {opPut2MiB, opGet2MiB, opPutMultipart}}
	const changed = blockSize // one block of 16 changes before each incremental
	for _, tg := range targets {
		row := func(op string) BackupResult {
			r, ok := rows[tg+"/"+op]
			if !ok {
				t.Fatalf("no row %s/%s in %+v", tg, op, b.Results)
			}
			return r
		}
		for _, op := range append(slices.Clone(baselines[tg]), opFullBackup, opIncrBackup, opIncrBackupMap, opFullRestore, opIncrRestore) {
			if r := row(op); r.Skipped == "" && (r.Seconds <= 0 || r.MBps <= 0 || r.Ratio <= 0) {
				t.Errorf("%s/%s: %+v, want a time, a rate and a ratio", tg, op, r)
			}
		}
		full, incr, mapped := row(opFullBackup), row(opIncrBackup), row(opIncrBackupMap)
		// Half the volume is random (stored as is), a quarter text
		// (compressed), a quarter zeros (not stored).
		if full.BytesRead != size || full.BytesUploaded < size/2 || full.BytesUploaded > size*3/4 {
			t.Errorf("%s full backup read %d, uploaded %d of a %d-byte volume", tg, full.BytesRead, full.BytesUploaded, size)
		}
		if incr.BytesRead != size || incr.BytesUploaded <= 0 || incr.BytesUploaded > changed+4096 {
			t.Errorf("%s incremental backup read %d, uploaded %d; want all read, at most the changed %d uploaded", tg, incr.BytesRead, incr.BytesUploaded, changed)
		}
		if mapped.BytesRead != changed || mapped.BytesUploaded <= 0 || mapped.BytesUploaded > changed+4096 {
			t.Errorf("%s changed-map backup read %d, uploaded %d; want the changed %d", tg, mapped.BytesRead, mapped.BytesUploaded, changed)
		}
		fr, ir := row(opFullRestore), row(opIncrRestore)
		if fr.BytesPulled != full.BytesUploaded || ir.BytesPulled != incr.BytesUploaded || ir.BytesWritten != changed {
			t.Errorf("%s restores pulled %d and %d (wrote %d), want what the backups stored, %d and %d (and %d)", tg,
				fr.BytesPulled, ir.BytesPulled, ir.BytesWritten, full.BytesUploaded, incr.BytesUploaded, changed)
		}
		up := row(baselines[tg][0])
		if up.BytesRead != size || len(up.Runs) != 2 {
			t.Errorf("%s baseline %+v, want the volume read and two runs", tg, up)
		}
		// Through a refengine node: the incremental reads only what the
		// allocation diff names, and the restores (checked block by block)
		// pull what the backups stored.
		nf, ni := row(opNodeFullBackup), row(opNodeIncrBackup)
		if nf.BytesRead != size || nf.BytesUploaded != full.BytesUploaded || ni.BytesRead != changed || ni.BytesUploaded <= 0 || ni.BytesUploaded > changed+4096 {
			t.Errorf("%s node backups read %d and %d, uploaded %d and %d; want the volume then the changed %d read", tg,
				nf.BytesRead, ni.BytesRead, nf.BytesUploaded, ni.BytesUploaded, changed)
		}
		if nfr, nir := row(opNodeFullRestore), row(opNodeIncrRestore); nfr.BytesPulled != nf.BytesUploaded || nir.BytesPulled != ni.BytesUploaded {
			t.Errorf("%s node restores pulled %d and %d, want %d and %d", tg, nfr.BytesPulled, nir.BytesPulled, nf.BytesUploaded, ni.BytesUploaded)
		}
	}
}
