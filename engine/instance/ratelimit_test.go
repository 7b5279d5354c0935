package instance

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// TestLimiterPaces: a stream takes its size over the rate, whether it comes
// in small or large requests, from one goroutine or several.
func TestLimiterPaces(t *testing.T) {
	const rate = 16 << 20
	for _, tc := range []struct {
		name    string
		workers int
		size    int64 // bytes per request
		n       int   // requests per worker
	}{
		{"one worker, 1 MiB requests", 1, 1 << 20, 4},
		{"four workers, 2 MiB requests", 4, 2 << 20, 1},
		{"one large request", 1, 4 << 20, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLimiter(rate)
			start := time.Now()
			var wg sync.WaitGroup
			for range tc.workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range tc.n {
						if err := l.wait(context.Background(), tc.size); err != nil {
							t.Error(err)
						}
					}
				}()
			}
			wg.Wait()
			took := time.Since(start)
			want := time.Duration(float64(int64(tc.workers*tc.n)*tc.size) / rate * float64(time.Second))
			if took < want-20*time.Millisecond || took > want+300*time.Millisecond {
				t.Fatalf("took %v, want about %v", took, want)
			}
		})
	}
}

// TestLimiterCancel: a wait ends as soon as its context does, and a nil
// limiter does not wait.
func TestLimiterCancel(t *testing.T) {
	l := newLimiter(1)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := l.wait(ctx, 1<<20); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait: %v, want deadline exceeded", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("cancelled wait returned after %v", took)
	}
	if l := newLimiter(0); l != nil {
		t.Fatal("rate 0 gives a limiter")
	}
	var none *limiter
	if err := none.wait(context.Background(), 1<<30); err != nil {
		t.Fatal(err)
	}
}
