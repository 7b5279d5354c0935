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
	shutdown   bool
}

func newWorkQueue() *workQueue {
	q := &workQueue{dirty: map[string]bool{}, processing: map[string]bool{}}
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

// AddAfter queues key after d.
func (q *workQueue) AddAfter(key string, d time.Duration) {
	if d <= 0 {
		q.Add(key)
		return
	}
	time.AfterFunc(d, func() { q.Add(key) })
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
