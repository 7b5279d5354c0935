package nbd

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/faultline/faultline/internal/testtool"
)

// TestClientAgainstNbdkit drives the client against a real third-party
// server, nbdkit's memory plugin.
func TestClientAgainstNbdkit(t *testing.T) {
	nbdkit := testtool.Require(t, "nbdkit", "nbdkit")
	dir, err := os.MkdirTemp("", "nbd")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "s")
	cmd := exec.Command(nbdkit, "--foreground", "--exportname=mem", "--unix", sock, "memory", "4M")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var c *Client
	waitUntil(t, func() bool {
		c, err = Dial(t.Context(), "unix", sock, "mem")
		return err == nil
	})
	defer c.Close()
	if c.Size() != 4<<20 || c.Flags()&FlagHasFlags == 0 {
		t.Fatalf("size %d flags %#x", c.Size(), c.Flags())
	}
	c.d.maxPayload = min(c.d.maxPayload, 256<<10) // exercise splitting against nbdkit too
	want := pattern(3<<20, 4)
	if _, err := c.WriteAtFUA(want, 512<<10); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteZeroes(1<<20, 64<<10); err != nil {
		t.Fatal(err)
	}
	clear(want[512<<10 : 512<<10+64<<10])
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(want))
	if _, err := c.ReadAt(got, 512<<10); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read back from nbdkit: %v equal=%v", err, bytes.Equal(got, want))
	}
	// nbdkit lists its default export; every listed name must open.
	names, err := List(t.Context(), "unix", sock)
	if err != nil || len(names) == 0 {
		t.Fatalf("List(nbdkit) = %q, %v", names, err)
	}
	for _, n := range names {
		lc, err := Dial(t.Context(), "unix", sock, n)
		if err != nil {
			t.Fatalf("Dial listed export %q: %v", n, err)
		}
		if lc.Size() != 4<<20 {
			t.Fatalf("listed export %q: size %d", n, lc.Size())
		}
		lc.Close()
	}
}

// TestClientFallsBackToExportName plays an old server that refuses GO and
// only knows EXPORT_NAME, without NO_ZEROES.
func TestClientFallsBackToExportName(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	peer := make(chan error, 1)
	go func() {
		defer server.Close()
		peer <- func() error {
			g := binary.BigEndian.AppendUint64(nil, nbdMagic)
			g = binary.BigEndian.AppendUint64(g, optMagic)
			g = binary.BigEndian.AppendUint16(g, flagFixedNewstyle)
			if _, err := server.Write(g); err != nil {
				return err
			}
			var b [4]byte
			if _, err := io.ReadFull(server, b[:]); err != nil {
				return err
			}
			if f := binary.BigEndian.Uint32(b[:]); f != clientFlagFixedNewstyle {
				t.Errorf("client flags %#x without NO_ZEROES offered", f)
			}
			var hb [optionHeaderLen]byte
			if _, err := io.ReadFull(server, hb[:]); err != nil {
				return err
			}
			h, _ := parseOptionHeader(hb[:])
			if _, err := io.CopyN(io.Discard, server, int64(h.length)); err != nil {
				return err
			}
			if h.option != optGo {
				t.Errorf("first option %d, want GO", h.option)
			}
			if _, err := server.Write(appendOptionReply(nil, h.option, repErrUnsup, nil)); err != nil {
				return err
			}
			if _, err := io.ReadFull(server, hb[:]); err != nil {
				return err
			}
			h, _ = parseOptionHeader(hb[:])
			name := make([]byte, h.length)
			if _, err := io.ReadFull(server, name); err != nil {
				return err
			}
			if h.option != optExportName || string(name) != "old" {
				t.Errorf("second option %d %q, want EXPORT_NAME old", h.option, name)
			}
			exp := binary.BigEndian.AppendUint64(nil, 1<<20)
			exp = binary.BigEndian.AppendUint16(exp, FlagHasFlags|FlagReadOnly)
			exp = append(exp, make([]byte, exportNamePaddingLen)...)
			if _, err := server.Write(exp); err != nil {
				return err
			}
			// Serve one READ with a known pattern.
			var rb [requestHeaderLen]byte
			if _, err := io.ReadFull(server, rb[:]); err != nil {
				return err
			}
			r, err := parseRequestHeader(rb[:])
			if err != nil {
				return err
			}
			out := appendReplyHeader(nil, reply{cookie: r.cookie})
			_, err = server.Write(append(out, pattern(int(r.length), 8)...))
			return err
		}()
	}()
	d, err := clientOpen(client, "old", "")
	if err != nil {
		t.Fatalf("clientOpen: %v", err)
	}
	if d.size != 1<<20 || d.flags != FlagHasFlags|FlagReadOnly {
		t.Fatalf("details %+v", d)
	}
	c := newClient(client, "old", d)
	got := make([]byte, 4096)
	if _, err := c.ReadAt(got, 0); err != nil || !bytes.Equal(got, pattern(4096, 8)) {
		t.Fatalf("ReadAt: %v", err)
	}
	if err := waitFor(t, peer); err != nil {
		t.Fatalf("peer: %v", err)
	}
	c.Close()
}
