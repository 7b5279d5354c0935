//go:build linux

package nbd

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// BenchmarkMirrorFloor measures what the kernel alone charges on this
// machine for a stream of 1 MiB sequential writes that arrive on a
// loopback TCP socket, as refbench's fio sends them, and are written into
// the page cache in the ways the targets of refbench take them:
//
//   - nbdkit: read into a buffer, then pwrite, as nbdkit's file plugin
//     does;
//   - lvol: spliced from the socket into a pipe and from the pipe into the
//     file, as one lvol takes a large write;
//   - mirror-tcp: as lvol, and a tee of the pipe sent over a second
//     loopback TCP connection to a replica that splices it into a second
//     file, as a mirror of two takes it;
//   - mirror-copy: as mirror-tcp, but every stage reads into a buffer and
//     writes from it, as refengine did before it spliced;
//   - mirror-unix: as mirror-tcp with the replica's connection on a Unix
//     socket, to show what the TCP hop costs.
//
// There is no NBD, no request dispatch and no Go scheduling in it: one
// goroutine per stage makes blocking system calls, the sender writes from
// one buffer. The gap between the mirrors' rows and nbdkit's is therefore
// the least a mirror that crosses a socket pays here, whatever its code
// (the more so as nbdkit itself writes on several threads);
// docs/benchmarks.md reads refbench's ratios against it. Besides MB/s it
// reports the process's CPU seconds (user and system, the sender's
// included) per GB.
func BenchmarkMirrorFloor(b *testing.B) {
	for _, mode := range []string{"nbdkit", "lvol", "mirror-tcp", "mirror-copy", "mirror-unix"} {
		b.Run(mode, func(b *testing.B) { benchFloor(b, mode) })
	}
}

const (
	floorPayload = 1 << 20
	floorSpan    = 256 << 20 // refbench's default --size
)

func benchFloor(b *testing.B, mode string) {
	dir := b.TempDir()
	f1 := floorFile(b, filepath.Join(dir, "a"))
	in, out := floorPair(b, "tcp")
	stages := []func() error{}
	switch mode {
	case "nbdkit":
		stages = append(stages, func() error { return floorReadWrite(in, f1, -1, b.N) })
	case "lvol":
		stages = append(stages, func() error { return floorSplice(in, f1, -1, b.N) })
	case "mirror-copy":
		f2 := floorFile(b, filepath.Join(dir, "b"))
		hopIn, hopOut := floorPair(b, "tcp")
		stages = append(stages,
			func() error { return floorReadWrite(in, f1, hopIn, b.N) },
			func() error { return floorReadWrite(hopOut, f2, -1, b.N) })
	case "mirror-tcp", "mirror-unix":
		network := "tcp"
		if mode == "mirror-unix" {
			network = "unix"
		}
		f2 := floorFile(b, filepath.Join(dir, "b"))
		hopIn, hopOut := floorPair(b, network)
		stages = append(stages,
			func() error { return floorSplice(in, f1, hopIn, b.N) },
			func() error { return floorSplice(hopOut, f2, -1, b.N) })
	}
	buf := make([]byte, floorPayload)
	for i := range buf {
		buf[i] = byte(i*7 + 1)
	}
	b.SetBytes(floorPayload)
	before := floorCPU(b)
	b.ResetTimer()
	errs := make(chan error, len(stages)+1)
	for _, s := range stages {
		go func() { errs <- s() }()
	}
	go func() {
		for range b.N {
			if err := floorWriteFull(out, buf); err != nil {
				errs <- fmt.Errorf("send: %w", err)
				return
			}
		}
		errs <- nil
	}()
	for range len(stages) + 1 {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	cpu := floorCPU(b) - before
	b.ReportMetric(cpu/(float64(b.N)*floorPayload/1e9), "cpu-s/GB")
}

// floorFile creates a file of floorSpan bytes and returns its descriptor.
func floorFile(b *testing.B, path string) int {
	b.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	if err := f.Truncate(floorSpan); err != nil {
		b.Fatal(err)
	}
	return int(f.Fd())
}

// floorPair returns the two ends of a stream connection on network
// ("tcp": loopback; "unix": a socket pair) as blocking descriptors: the
// receiving end first.
func floorPair(b *testing.B, network string) (recv, send int) {
	b.Helper()
	if network == "unix" {
		fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { syscall.Close(fds[0]); syscall.Close(fds[1]) })
		return fds[0], fds[1]
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	s, err := l.Accept()
	if err != nil {
		b.Fatal(err)
	}
	return blockingFD(b, s), blockingFD(b, c)
}

// blockingFD returns a blocking duplicate of c's descriptor and closes c.
func blockingFD(b *testing.B, c net.Conn) int {
	b.Helper()
	f, err := c.(*net.TCPConn).File()
	c.Close()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	fd := int(f.Fd())
	if err := syscall.SetNonblock(fd, false); err != nil {
		b.Fatal(err)
	}
	return fd
}

// floorWriteFull writes all of p to fd.
func floorWriteFull(fd int, p []byte) error {
	for len(p) > 0 {
		n, err := syscall.Write(fd, p)
		if err != nil {
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			return err
		}
		p = p[n:]
	}
	return nil
}

// floorReadWrite reads count payloads from sock into a buffer and writes
// each into file with pwrite; with hop at or above 0 it first writes each
// into the socket hop too.
func floorReadWrite(sock, file, hop, count int) error {
	buf := make([]byte, floorPayload)
	for i := range count {
		for got := 0; got < len(buf); {
			n, err := syscall.Read(sock, buf[got:])
			if err != nil && !errors.Is(err, syscall.EINTR) {
				return fmt.Errorf("read: %w", err)
			}
			if n == 0 && err == nil {
				return errors.New("read: connection closed")
			}
			got += max(n, 0)
		}
		if hop >= 0 {
			if err := floorWriteFull(hop, buf); err != nil {
				return fmt.Errorf("send: %w", err)
			}
		}
		if err := floorPwrite(file, buf, floorOffset(i)); err != nil {
			return err
		}
	}
	return nil
}

func floorPwrite(fd int, p []byte, off int64) error {
	for len(p) > 0 {
		n, err := syscall.Pwrite(fd, p, off)
		if err != nil {
			return fmt.Errorf("pwrite: %w", err)
		}
		p, off = p[n:], off+int64(n)
	}
	return nil
}

func floorOffset(i int) int64 { return int64(i) * floorPayload % floorSpan }

// floorSplice moves count payloads from sock into file through a pipe,
// whatever has arrived at a time; with hop at or above 0 it also sends a
// tee of each piece into the socket hop, before writing the piece.
func floorSplice(sock, file, hop, count int) error {
	p1, err := newPipe(pipeSize)
	if err != nil {
		return err
	}
	defer p1.close()
	var p2 *pipe
	if hop >= 0 {
		if p2, err = newPipe(pipeSize); err != nil {
			return err
		}
		defer p2.close()
	}
	total := int64(count) * floorPayload
	for done := int64(0); done < total; {
		n, err := syscall.Splice(sock, nil, p1.w, nil, int(min(total-done, pipeSize)), spliceFMove)
		if err != nil {
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			return fmt.Errorf("splice from socket: %w", err)
		}
		if n == 0 {
			return errors.New("splice from socket: connection closed")
		}
		if p2 != nil {
			for teed := int64(0); teed < n; {
				k, err := syscall.Tee(p1.r, p2.w, int(n-teed), 0)
				if err != nil {
					return fmt.Errorf("tee: %w", err)
				}
				teed += k
			}
			if err := floorDrain(p2.r, hop, nil, n); err != nil {
				return fmt.Errorf("send: %w", err)
			}
		}
		off := done % floorSpan
		if err := floorDrain(p1.r, file, &off, n); err != nil {
			return fmt.Errorf("write file: %w", err)
		}
		done += n
	}
	return nil
}

// floorDrain splices n bytes from the pipe's read end r into fd, at *off
// when off is not nil.
func floorDrain(r, fd int, off *int64, n int64) error {
	for n > 0 {
		k, err := syscall.Splice(r, nil, fd, off, int(n), spliceFMove)
		if err != nil {
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			return err
		}
		n -= k
	}
	return nil
}

// floorCPU returns the process's user and system CPU seconds so far.
func floorCPU(b *testing.B) float64 {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
