package aio

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/faultline/faultline/engine/bdev"
	"github.com/faultline/faultline/engine/bdev/bdevtest"
)

// withFd runs fn on f's descriptor.
func withFd(t *testing.T, f *os.File, fn func(fd int) error) {
	t.Helper()
	rc, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var fnErr error
	if err := rc.Control(func(fd uintptr) { fnErr = fn(int(fd)) }); err != nil {
		t.Fatal(err)
	}
	if fnErr != nil {
		t.Fatal(fnErr)
	}
}

// openFlags returns the open flags of f's descriptor from /proc.
func openFlags(t *testing.T, f *os.File) int {
	t.Helper()
	var info []byte
	withFd(t, f, func(fd int) (err error) {
		info, err = os.ReadFile(fmt.Sprintf("/proc/self/fdinfo/%d", fd))
		return err
	})
	for _, line := range strings.Split(string(info), "\n") {
		if v, ok := strings.CutPrefix(line, "flags:"); ok {
			flags, err := strconv.ParseInt(strings.TrimSpace(v), 8, 64)
			if err != nil {
				t.Fatalf("fdinfo flags %q: %v", v, err)
			}
			return int(flags)
		}
	}
	t.Fatalf("no flags in fdinfo:\n%s", info)
	return 0
}

// fileID returns the device and inode of f.
func fileID(t *testing.T, f *os.File) [2]uint64 {
	t.Helper()
	var st syscall.Stat_t
	withFd(t, f, func(fd int) error { return syscall.Fstat(fd, &st) })
	return [2]uint64{st.Dev, st.Ino}
}

// TestWriteAtFUA: a FUA write lands where WriteAt would, goes through a
// descriptor of the same file opened O_DSYNC (what makes it durable on
// its own), and is checked like any write.
func TestWriteAtFUA(t *testing.T) {
	const size, bs = 1 << 20, 4096
	path := filepath.Join(t.TempDir(), "disk")
	d, err := Open(path, Options{Create: true, Size: size, BlockSize: bs})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if flags := openFlags(t, d.fua); flags&syscall.O_DSYNC == 0 || flags&syscall.O_ACCMODE == syscall.O_RDONLY {
		t.Fatalf("FUA descriptor flags %#o: want writable and O_DSYNC", flags)
	}
	if flags := openFlags(t, d.f); flags&syscall.O_DSYNC != 0 {
		t.Fatalf("plain descriptor flags %#o: O_DSYNC would make every write synchronous", flags)
	}
	if fileID(t, d.f) != fileID(t, d.fua) {
		t.Fatal("FUA descriptor is not the device's file")
	}
	want := bdevtest.Pattern(3*bs, 4)
	if _, err := d.WriteAtFUA(want, 5*bs); err != nil {
		t.Fatal(err)
	}
	bdevtest.Expect(t, d, 5*bs, want)
	if got, err := os.ReadFile(path); err != nil || string(got[5*bs:8*bs]) != string(want) {
		t.Fatalf("file does not hold the FUA write (%v)", err)
	}
	bad := []struct {
		name string
		off  int64
		n    int
		want error
	}{
		{"misaligned", 100, bs, bdev.ErrMisaligned},
		{"past the end", size - bs, 2 * bs, bdev.ErrOutOfRange},
	}
	for _, tt := range bad {
		if _, err := d.WriteAtFUA(make([]byte, tt.n), tt.off); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.WriteAtFUA(want, 0); !errors.Is(err, bdev.ErrClosed) {
		t.Fatalf("after close: %v, want ErrClosed", err)
	}
}
