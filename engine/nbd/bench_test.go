package nbd

import (
	"runtime"
	"sync/atomic"
	"testing"
)

// BenchmarkRequest measures one NBD request's round trip through this
// package's client and server, one request at a time (queue depth 1): 4
// KiB reads and writes to an in-memory export over a Unix socket and over
// loopback TCP. The device costs a copy under a mutex, so what is measured
// is the protocol path: encoding, the socket both ways, the server's
// dispatch and the reply.
func BenchmarkRequest(b *testing.B) {
	benchRequests(b, func(b *testing.B, slots int64, do func(p []byte, off int64) error) {
		p := make([]byte, 4096)
		for i := int64(0); b.Loop(); i++ {
			if err := do(p, (i*7919%slots)*4096); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkRequestQD32 measures the same round trips with 32 requests in
// flight on one connection, as fio's randrw-4k-qd32 job in refbench keeps
// them: the client pipelines and the server answers out of order, so what
// is measured is how well each side batches its reads and writes of the
// socket and hands requests to goroutines, not one round trip's latency.
func BenchmarkRequestQD32(b *testing.B) {
	benchRequests(b, func(b *testing.B, slots int64, do func(p []byte, off int64) error) {
		b.SetParallelism(max(1, 32/runtime.GOMAXPROCS(0)))
		var next atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			p := make([]byte, 4096)
			for pb.Next() {
				if err := do(p, (next.Add(1)*7919%slots)*4096); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// benchRequests runs body as a sub-benchmark for each network and
// request kind against a 64 MiB in-memory export; do makes one request
// of len(p) bytes at off, and there are slots 4 KiB places to spread
// them over.
func benchRequests(b *testing.B, body func(b *testing.B, slots int64, do func(p []byte, off int64) error)) {
	const size = 64 << 20
	for _, network := range []string{"unix", "tcp"} {
		ts := startServer(b, network)
		ts.addMem(b, "disk", size, ExportOptions{})
		c := ts.dial(b, "disk")
		for _, op := range []string{"write", "read"} {
			do := func(p []byte, off int64) error {
				_, err := c.ReadAt(p, off)
				return err
			}
			if op == "write" {
				do = func(p []byte, off int64) error {
					_, err := c.WriteAt(p, off)
					return err
				}
			}
			b.Run(network+"/"+op+"4KiB", func(b *testing.B) {
				b.SetBytes(4096)
				body(b, size/4096, do)
			})
		}
	}
}
