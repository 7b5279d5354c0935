package nbd

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faultline/faultline/engine/bdev/malloc"
	"github.com/faultline/faultline/engine/lvstore"
	"github.com/faultline/faultline/internal/fiojson"
	"github.com/faultline/faultline/internal/testtool"
)

// exportURI returns the NBD URI of an export served by ts.
func (ts *testServer) exportURI(export string) string {
	if ts.network == "unix" {
		return "nbd+unix:///" + export + "?socket=" + ts.addr
	}
	return "nbd://" + ts.addr + "/" + export
}

// addFile exports a new file-backed device of size bytes.
func (ts *testServer) addFile(t testing.TB, name string, size int64) (*fileDevice, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), name+".img")
	dev, err := openFileDevice(path, size)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dev.Close() })
	if err := ts.AddExport(name, dev, ExportOptions{Description: "interop " + name}); err != nil {
		t.Fatal(err)
	}
	return dev, path
}

// run runs a program with a deadline and returns its standard output.
func run(t testing.TB, prog string, args ...string) []byte {
	t.Helper()
	out, err := runErr(t, prog, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", prog, strings.Join(args, " "), err, out)
	}
	return out
}

func runErr(t testing.TB, prog string, args ...string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*testTimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return append(stdout.Bytes(), stderr.Bytes()...), err
	}
	return stdout.Bytes(), nil
}

func TestInteropNbdinfo(t *testing.T) {
	nbdinfo := testtool.Require(t, "nbdinfo", "libnbd-bin")
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			ts := startServer(t, network)
			const size = 8 << 20
			ts.addFile(t, "disk", size)
			out := run(t, nbdinfo, "--json", ts.exportURI("disk"))
			var info struct {
				Protocol string `json:"protocol"`
				Exports  []struct {
					Name     string `json:"export-name"`
					Size     int64  `json:"export-size"`
					ReadOnly bool   `json:"is_read_only"`
					Flush    bool   `json:"can_flush"`
					FUA      bool   `json:"can_fua"`
					Trim     bool   `json:"can_trim"`
					Zero     bool   `json:"can_zero"`
					Multi    bool   `json:"can_multi_conn"`
					MinBlock int    `json:"block_size_minimum"`
					Pref     int    `json:"block_size_preferred"`
					MaxBlock int    `json:"block_size_maximum"`
				} `json:"exports"`
			}
			if err := json.Unmarshal(out, &info); err != nil {
				t.Fatalf("nbdinfo --json: %v\n%s", err, out)
			}
			if info.Protocol != "newstyle-fixed" || len(info.Exports) != 1 {
				t.Fatalf("nbdinfo: %s", out)
			}
			e := info.Exports[0]
			if e.Name != "disk" || e.Size != size || e.ReadOnly || !e.Flush || !e.FUA || !e.Trim || !e.Zero || !e.Multi {
				t.Fatalf("nbdinfo reports %+v\n%s", e, out)
			}
			if e.MinBlock != 512 || e.Pref != 4096 || e.MaxBlock != MaxPayload {
				t.Fatalf("nbdinfo block sizes %d/%d/%d", e.MinBlock, e.Pref, e.MaxBlock)
			}
		})
	}
}

func TestInteropQemuImg(t *testing.T) {
	qemuImg := testtool.Require(t, "qemu-img", "qemu-utils")
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			ts := startServer(t, network)
			const size = 8 << 20
			dev, _ := ts.addFile(t, "disk", size)
			dir := t.TempDir()
			src := filepath.Join(dir, "src.raw")
			data := make([]byte, size)
			rand.Read(data)
			clear(data[1<<20 : 2<<20]) // a zero run, which qemu may send as WRITE_ZEROES
			if err := os.WriteFile(src, data, 0o600); err != nil {
				t.Fatal(err)
			}
			uri := ts.exportURI("disk")
			run(t, qemuImg, "convert", "-n", "-f", "raw", "-O", "raw", src, uri)
			back := filepath.Join(dir, "back.raw")
			run(t, qemuImg, "convert", "-f", "raw", "-O", "raw", uri, back)
			run(t, qemuImg, "compare", "-f", "raw", "-F", "raw", src, back)
			got, err := os.ReadFile(back)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("copy back differs (%v)", err)
			}
			// Flip one byte in the device: qemu-img compare must see it.
			b := make([]byte, 512)
			if _, err := dev.ReadAt(b, 5<<20); err != nil {
				t.Fatal(err)
			}
			b[77] ^= 0xff
			if _, err := dev.WriteAt(b, 5<<20); err != nil {
				t.Fatal(err)
			}
			out, err := runErr(t, qemuImg, "compare", "-f", "raw", "-F", "raw", src, uri)
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 1 {
				t.Fatalf("qemu-img compare after a flipped byte: %v\n%s", err, out)
			}
			// qemu-img reports the first differing sector.
			if want := fmt.Sprint(5 << 20); !strings.Contains(string(out), "offset "+want) {
				t.Fatalf("qemu-img compare: %s, want a mismatch at offset %s", out, want)
			}
		})
	}
}

func TestInteropFio(t *testing.T) {
	fio := testtool.RequireFioNBD(t)
	ts := startServer(t, "tcp")
	const size = 16 << 20
	ts.addFile(t, "disk", size)
	out := run(t, fio, "--name=verify", "--ioengine=nbd", "--uri="+ts.exportURI("disk"),
		"--rw=randwrite", "--bs=4k", "--iodepth=16", "--size=16m", "--verify=crc32c", "--do_verify=1",
		"--verify_state_save=0", // keep fio from writing state files into the package directory
		"--output-format=json")
	res, err := fiojson.Parse(out)
	if err != nil {
		t.Fatalf("fio json: %v\n%s", err, out)
	}
	if len(res.Jobs) != 1 {
		t.Fatalf("fio: %d jobs", len(res.Jobs))
	}
	j := res.Jobs[0]
	if j.Error != 0 {
		t.Fatalf("fio job error %d", j.Error)
	}
	if j.Write.IOBytes != size {
		t.Fatalf("fio wrote %d bytes, want %d", j.Write.IOBytes, size)
	}
	// The verify pass reads back everything written.
	if j.Read.IOBytes != size {
		t.Fatalf("fio verified %d bytes, want %d", j.Read.IOBytes, size)
	}
}

// TestInteropQemuIoNoSpace serves a thin lvol of a full lvstore and writes
// to it with qemu-io: the write needs a cluster the store does not have,
// so qemu must report "No space left on device" (NBD_ENOSPC), not an I/O
// error, and the lvol must be left as it was.
func TestInteropQemuIoNoSpace(t *testing.T) {
	qemuIo := testtool.Require(t, "qemu-io", "qemu-utils")
	const cs = 64 << 10
	base, err := malloc.New((8<<20)/4096, 4096)
	if err != nil {
		t.Fatal(err)
	}
	s, err := lvstore.Create(base, "lvs", cs, lvstore.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	lv, err := s.CreateLvol("full", 16*cs, true)
	if err != nil {
		t.Fatal(err)
	}
	// Take every free cluster, so the first write to lv has none.
	if _, err := s.CreateLvol("filler", s.FreeClusters()*cs, false); err != nil {
		t.Fatal(err)
	}
	if free := s.FreeClusters(); free != 0 {
		t.Fatalf("%d clusters still free", free)
	}
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			ts := startServer(t, network)
			if err := ts.AddExport("full", lv, ExportOptions{}); err != nil {
				t.Fatal(err)
			}
			out, err := runErr(t, qemuIo, "-f", "raw", "-c", "write -P 0xab 0 128k", ts.exportURI("full"))
			if !strings.Contains(string(out), "No space left on device") {
				t.Fatalf("qemu-io write to a full lvstore: %v\n%s\nwant \"No space left on device\"", err, out)
			}
			got := make([]byte, 128<<10)
			if _, err := lv.ReadAt(got, 0); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, make([]byte, len(got))) || lv.NumAllocatedClusters() != 0 {
				t.Fatalf("failed write changed the lvol (%d clusters allocated)", lv.NumAllocatedClusters())
			}
		})
	}
}
