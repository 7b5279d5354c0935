package manager

import (
	"sync"
	"time"
)

// workQueue hands out keys to workers. A key is never processed by two
// workers at once; adding a key that is waiting is a no-op, and adding one
// that is being processed makes it run again afterwards, so no trigger is
// lost and none is duplicated.
type workQueue struct {
	mu         sync.Mutex
	cond       *sync.Cond
	queue      []string
	dirty      map[string]bool
	processing map[string]bool
	// later holds the earliest pending AddAfter deadline per key, so
	// repeated delayed adds of one key keep one timer, not one each
	// (which would multiply the runs of a key that keeps failing).
	later    map[string]time.Time
	shutdown bool
}

func newWorkQueue() *workQueue {
	q := &workQueue{dirty: map[string]bool{}, processing: map[string]bool{}, later: map[string]time.Time{}}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// Add queues key.
func (q *workQueue) Add(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.shutdown || q.dirty[key] {
		return
	}
	q.dirty[key] = true
	if !q.processing[key] {
		q.queue = append(q.queue, key)
		q.cond.Signal()
	}
}

// AddAfter queues key after d, unless it is already due earlier.
func (q *workQueue) AddAfter(key string, d time.Duration) {
	if d <= 0 {
		q.Add(key)
		return
	}
	at := time.Now().Add(d)
	q.mu.Lock()
	if due, ok := q.later[key]; ok && !due.After(at) {
		q.mu.Unlock()
		return
	}
	q.later[key] = at
	q.mu.Unlock()
	time.AfterFunc(d, func() {
		q.mu.Lock()
		due, ok := q.later[key]
		if !ok || !due.Equal(at) {
			q.mu.Unlock()
			return // superseded by an earlier deadline
		}
		delete(q.later, key)
		q.mu.Unlock()
		q.Add(key)
	})
}

// Get blocks until a key is ready; ok is false after ShutDown.
func (q *workQueue) Get() (key string, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.queue) == 0 && !q.shutdown {
		q.cond.Wait()
	}
	if q.shutdown {
		return "", false
	}
	key = q.queue[0]
	q.queue = q.queue[1:]
	delete(q.dirty, key)
	q.processing[key] = true
	return key, true
}

// Done marks key processed, re-queueing it if it was added meanwhile.
func (q *workQueue) Done(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.processing, key)
	if q.dirty[key] && !q.shutdown {
		q.queue = append(q.queue, key)
		q.cond.Signal()
	}
}

// ShutDown wakes every worker and makes Get return false.
func (q *workQueue) ShutDown() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.shutdown = true
	q.cond.Broadcast()
}
