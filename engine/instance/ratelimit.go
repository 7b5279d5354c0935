package instance

import (
	"context"
	"sync"
	"time"

	"github.com/faultline/faultline/engine/bdev"
)

// limiter paces writes to a rate in bytes per second. It is a token bucket
// without stored burst that may go into debt: each request takes its bytes'
// worth of time on a virtual clock that never lags the real one, and waits
// until the clock reaches the end of its slot. A request larger than one
// second's worth is therefore fine (a 2 MiB block under 1 MiB/s waits 2 s),
// and the total time of a stream is its size over the rate.
type limiter struct {
	rate float64 // bytes per second

	mu   sync.Mutex
	next time.Time
}

// newLimiter returns a limiter, or nil (no limit) for a rate <= 0.
func newLimiter(rate int64) *limiter {
	if rate <= 0 {
		return nil
	}
	return &limiter{rate: float64(rate)}
}

// wait blocks until n more bytes may go, or ctx ends. A nil limiter only
// checks ctx.
func (l *limiter) wait(ctx context.Context, n int64) error {
	if l == nil {
		return ctx.Err()
	}
	l.mu.Lock()
	now := time.Now()
	if l.next.Before(now) {
		l.next = now
	}
	l.next = l.next.Add(time.Duration(float64(n) / l.rate * float64(time.Second)))
	d := time.Until(l.next)
	l.mu.Unlock()
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// pacedDevice is the destination of a restore: writes and zeroes go to the
// device at the limiter's pace, and stop as soon as ctx ends (an
// interrupted restore returns promptly even under a low rate).
type pacedDevice struct {
	ctx context.Context
	dev bdev.Device
	lim *limiter
}

func (p pacedDevice) WriteAt(b []byte, off int64) (int, error) {
	if err := p.lim.wait(p.ctx, int64(len(b))); err != nil {
		return 0, err
	}
	return p.dev.WriteAt(b, off)
}

func (p pacedDevice) WriteZeroes(off, length int64) error {
	if err := p.lim.wait(p.ctx, length); err != nil {
		return err
	}
	return p.dev.WriteZeroes(off, length)
}
