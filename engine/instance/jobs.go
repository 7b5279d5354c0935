package instance

import (
	"context"
	"errors"
	"sync"
)

// maxFinishedBackups bounds the finished backup jobs a node remembers, so
// the manager can read a result after the fact without the list growing
// for ever.
const maxFinishedBackups = 64

// errClosed refuses jobs once the instance manager is closing.
var errClosed = errors.New("instance manager is closing")

// jobs holds the node's background backup and restore jobs. Their
// goroutines belong to the Manager: Close cancels them and waits.
type jobs struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	backups  map[string]*backupJob // by backup name
	finished []string              // finished backups, oldest first
	restores map[string]*restoreJob
}

func newJobs() *jobs {
	ctx, cancel := context.WithCancel(context.Background())
	return &jobs{ctx: ctx, cancel: cancel, backups: map[string]*backupJob{}, restores: map[string]*restoreJob{}}
}

// start runs fn in a goroutine owned by the jobs, with a context that Close
// and stop cancel; done is closed when fn returns.
func (j *jobs) startLocked(fn func(ctx context.Context)) (cancel context.CancelFunc, done chan struct{}, err error) {
	if j.closed {
		return nil, nil, errClosed
	}
	ctx, cancel := context.WithCancel(j.ctx)
	done = make(chan struct{})
	j.wg.Add(1)
	go func() {
		defer j.wg.Done()
		defer close(done)
		defer cancel()
		fn(ctx)
	}()
	return cancel, done, nil
}

// close cancels every job and waits for their goroutines.
func (j *jobs) close() {
	j.mu.Lock()
	j.closed = true
	j.mu.Unlock()
	j.cancel()
	j.wg.Wait()
}

// stopRestore cancels the running restore of a replica, if any, and waits
// until its goroutine has ended. The job then reports an interruption.
func (j *jobs) stopRestore(replica string) {
	j.mu.Lock()
	r := j.restores[replica]
	j.mu.Unlock()
	if r != nil {
		r.stop()
	}
}

// stopReplica cancels every job that reads or writes a replica's lvols
// (its backups and its restore) and waits for them: the caller is about to
// delete those lvols.
func (j *jobs) stopReplica(replica string) {
	j.mu.Lock()
	var stops []func()
	for _, b := range j.backups {
		if b.status.Replica == replica {
			stops = append(stops, b.stop)
		}
	}
	if r := j.restores[replica]; r != nil {
		stops = append(stops, r.stop)
	}
	j.mu.Unlock()
	for _, stop := range stops {
		stop()
	}
}
