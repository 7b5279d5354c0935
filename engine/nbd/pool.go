package nbd

import (
	"math/bits"
	"sync"
)

const (
	minPoolShift = 12 // 4 KiB
	maxPoolShift = 25 // 32 MiB, MaxPayload
)

// bufferPool recycles payload buffers in power-of-two size classes so the
// data path does not allocate per request.
type bufferPool struct {
	classes [maxPoolShift - minPoolShift + 1]sync.Pool
}

// get returns a buffer of length n; its contents are undefined.
func (p *bufferPool) get(n int) []byte {
	if n <= 0 {
		return nil
	}
	shift := max(bits.Len(uint(n-1)), minPoolShift)
	if shift > maxPoolShift {
		return make([]byte, n)
	}
	if bp, ok := p.classes[shift-minPoolShift].Get().(*[]byte); ok {
		return (*bp)[:n]
	}
	return make([]byte, n, 1<<shift)
}

// put returns a buffer obtained from get.
func (p *bufferPool) put(b []byte) {
	c := cap(b)
	if c == 0 || c&(c-1) != 0 {
		return
	}
	shift := bits.Len(uint(c)) - 1
	if shift < minPoolShift || shift > maxPoolShift {
		return
	}
	b = b[:c]
	p.classes[shift-minPoolShift].Put(&b)
}

// budget bounds the payload bytes a connection holds for requests in
// flight; the reader blocks in acquire, which pushes back on the client.
// One request may always proceed alone, whatever its size.
type budget struct {
	mu    sync.Mutex
	cond  sync.Cond
	used  int
	limit int
}

func (b *budget) init(limit int) {
	b.limit = limit
	b.cond.L = &b.mu
}

func (b *budget) acquire(n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.used > 0 && b.used+n > b.limit {
		b.cond.Wait()
	}
	b.used += n
}

func (b *budget) release(n int) {
	b.mu.Lock()
	b.used -= n
	b.mu.Unlock()
	b.cond.Broadcast()
}
