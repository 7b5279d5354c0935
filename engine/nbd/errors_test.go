package nbd

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"

	"github.com/faultline/faultline/engine/bdev"
)

func TestErrnoFor(t *testing.T) {
	noSpace := fmt.Errorf("lvstore lvs: need 2 free clusters, 1 free: %w", syscall.ENOSPC)
	quota := &os.PathError{Op: "write", Path: "/disk.img", Err: syscall.EDQUOT}
	pastEnd := fmt.Errorf("mem device: %w", bdev.ErrOutOfRange)
	tests := []struct {
		name string
		err  error
		cmd  uint16
		want uint32
	}{
		{"success", nil, cmdWrite, 0},
		{"write out of space", noSpace, cmdWrite, errNoSpc},
		{"write over quota", quota, cmdWrite, errNoSpc},
		{"write zeroes out of space", noSpace, cmdWriteZeroes, errNoSpc},
		{"trim out of space", noSpace, cmdTrim, errNoSpc},
		{"read out of space", noSpace, cmdRead, errIO},
		{"flush out of space", noSpace, cmdFlush, errIO},
		{"write past end", pastEnd, cmdWrite, errNoSpc},
		{"write zeroes past end", pastEnd, cmdWriteZeroes, errNoSpc},
		{"read past end", pastEnd, cmdRead, errInval},
		{"trim past end", pastEnd, cmdTrim, errInval},
		{"write read-only", bdev.ErrReadOnly, cmdWrite, errPerm},
		{"read misaligned", bdev.ErrMisaligned, cmdRead, errInval},
		{"write I/O error", syscall.EIO, cmdWrite, errIO},
		{"write other failure", errInjected, cmdWrite, errIO},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := errnoFor(tt.err, tt.cmd); got != tt.want {
				t.Fatalf("errnoFor(%v, cmd %d) = %d, want %d", tt.err, tt.cmd, got, tt.want)
			}
		})
	}
}

func TestErrnoMatches(t *testing.T) {
	tests := []struct {
		errno Errno
		match []error
		not   []error
	}{
		{ENOSPC, []error{syscall.ENOSPC, bdev.ErrOutOfRange, ENOSPC}, []error{syscall.EIO, bdev.ErrReadOnly, syscall.EDQUOT}},
		{EPERM, []error{bdev.ErrReadOnly}, []error{syscall.ENOSPC, bdev.ErrOutOfRange}},
		{EIO, []error{EIO}, []error{syscall.ENOSPC, bdev.ErrOutOfRange, bdev.ErrReadOnly}},
	}
	for _, tt := range tests {
		t.Run(tt.errno.Error(), func(t *testing.T) {
			err := fmt.Errorf("nbd write 4096 bytes at 0: %w", tt.errno)
			for _, target := range tt.match {
				if !errors.Is(err, target) {
					t.Errorf("errors.Is(%v, %v) = false, want true", err, target)
				}
			}
			for _, target := range tt.not {
				if errors.Is(err, target) {
					t.Errorf("errors.Is(%v, %v) = true, want false", err, target)
				}
			}
		})
	}
}

// fullDevice fails every call that stores data with err, as a device that
// has run out of room does; reads and flushes work.
type fullDevice struct {
	*memDevice
	err error
}

func (d *fullDevice) WriteAt([]byte, int64) (int, error) { return 0, d.err }
func (d *fullDevice) WriteZeroes(int64, int64) error     { return d.err }
func (d *fullDevice) Unmap(int64, int64) error           { return d.err }

// TestClientSeesDeviceOutOfSpace: a device's ENOSPC or EDQUOT reaches a
// Client across a real connection as an error matching syscall.ENOSPC,
// for every request that stores data; any other device failure stays EIO.
func TestClientSeesDeviceOutOfSpace(t *testing.T) {
	ts := startServer(t, "tcp")
	devErrs := []struct {
		name    string
		err     error
		noSpace bool
	}{
		{"ENOSPC", fmt.Errorf("lvstore lvs has too few free clusters: %w", syscall.ENOSPC), true},
		{"EDQUOT", &os.PathError{Op: "write", Path: "/disk.img", Err: syscall.EDQUOT}, true},
		{"EIO", &os.PathError{Op: "write", Path: "/disk.img", Err: syscall.EIO}, false},
	}
	buf := pattern(8192, 1)
	calls := []struct {
		name string
		call func(c *Client) error
	}{
		{"write", func(c *Client) error { _, err := c.WriteAt(buf, 4096); return err }},
		{"write FUA", func(c *Client) error { _, err := c.WriteAtFUA(buf, 4096); return err }},
		{"write zeroes", func(c *Client) error { return c.WriteZeroes(4096, 8192) }},
		{"trim", func(c *Client) error { return c.Unmap(4096, 8192) }},
	}
	for _, de := range devErrs {
		t.Run(de.name, func(t *testing.T) {
			if err := ts.AddExport(de.name, &fullDevice{memDevice: newMemDevice(1<<20, 512), err: de.err}, ExportOptions{}); err != nil {
				t.Fatal(err)
			}
			c := ts.dial(t, de.name)
			for _, tt := range calls {
				err := tt.call(c)
				var got Errno
				if !errors.As(err, &got) {
					t.Fatalf("%s: %v, want an Errno from the server", tt.name, err)
				}
				if de.noSpace {
					if got != ENOSPC || !errors.Is(err, syscall.ENOSPC) {
						t.Fatalf("%s: %v, want ENOSPC", tt.name, err)
					}
				} else if got != EIO || errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("%s: %v, want EIO", tt.name, err)
				}
			}
			// Reads are not affected and the connection is intact.
			if _, err := c.ReadAt(buf, 0); err != nil {
				t.Fatalf("read after failed writes: %v", err)
			}
		})
	}
}
