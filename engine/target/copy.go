package target

import (
	"context"
	"sync"
	"syscall"
)

type shallowCopyParams struct {
	SrcLvolName string `json:"src_lvol_name"`
	DstBdevName string `json:"dst_bdev_name"`
}

type checkCopyParams struct {
	OperationID uint32 `json:"operation_id"`
}

// copyOp is one shallow copy running in the background.
type copyOp struct {
	cancel context.CancelFunc
	done   chan struct{}
	// dst is the destination bdev's name; its hot-remove ends the copy.
	dst string

	mu            sync.Mutex
	copied, total uint64
	finished      bool
	err           error
}

// startShallowCopy serves bdev_lvol_start_shallow_copy: it checks what
// SPDK checks before starting, claims the destination and copies in the
// background; check_shallow_copy reports progress.
func (t *Target) startShallowCopy(ctx context.Context, p *shallowCopyParams) (any, error) {
	src, err := t.lvolLocked(p.SrcLvolName)
	if err != nil {
		return nil, err
	}
	// SPDK numbers the operation once the source is found, so a start that
	// fails from here on uses up an id (module/bdev/lvol/vbdev_lvol_rpc.c
	// rpc_bdev_lvol_start_shallow_copy).
	t.nextOp++
	id := t.nextOp
	dst, ok := t.lookupLocked(p.DstBdevName)
	if !ok {
		return nil, asyncError(syscall.ENODEV)
	}
	// Opening a claimed bdev for writing is -1 (lib/bdev/bdev.c
	// bdev_open; vbdev_lvol_shallow_copy).
	if t.claimOf(dst) != "" {
		return nil, asyncError(syscall.EPERM)
	}
	// The blobstore checks the rest after the RPC has answered with the
	// operation's id (lib/blob/blobstore.c bs_shallow_copy_blob_open_cpl):
	// the start succeeds and the failure is the operation's outcome, which
	// bdev_lvol_check_shallow_copy reports as state "error".
	var refused syscall.Errno
	switch {
	case !src.IsReadOnly():
		refused = syscall.EPERM
	case dst.dev.Size() < src.Size() || src.BlockSize()%dst.dev.BlockSize() != 0:
		refused = syscall.EINVAL
	}
	if refused != 0 {
		op := &copyOp{cancel: func() {}, done: make(chan struct{}), finished: true, err: refused}
		close(op.done)
		t.copies[id] = op
		t.log.Info("shallow copy refused", "operation_id", id, "src", src.Alias(), "dst", dst.name, "err", refused)
		return map[string]uint32{"operation_id": id}, nil
	}
	holder := "shallow_copy:" + src.UUID()
	t.claimLocked(dst.name, holder, claimExclusive)
	cctx, cancel := context.WithCancel(context.Background())
	op := &copyOp{cancel: cancel, done: make(chan struct{}), dst: dst.name}
	t.copies[id] = op
	s, dstName, dstDev := src.Store(), dst.name, dst.dev
	t.log.Info("shallow copy started", "operation_id", id, "src", src.Alias(), "dst", dstName)
	go func() {
		defer close(op.done)
		err := s.ShallowCopy(cctx, src, dstDev, func(copied, total uint64) {
			op.mu.Lock()
			op.copied, op.total = copied, total
			op.mu.Unlock()
		})
		if err == nil {
			err = dstDev.Flush()
		} else if cctx.Err() != nil {
			err = syscall.ENODEV // the destination was deleted under the copy
		}
		op.mu.Lock()
		op.finished, op.err = true, err
		op.mu.Unlock()
		t.mu.Lock()
		t.releaseLocked(dstName, holder)
		t.mu.Unlock()
		t.log.Info("shallow copy finished", "operation_id", id, "err", err)
	}()
	return map[string]uint32{"operation_id": id}, nil
}

func (t *Target) checkShallowCopy(ctx context.Context, p *checkCopyParams) (any, error) {
	op, ok := t.copies[p.OperationID]
	if !ok {
		return nil, errNoDevice
	}
	op.mu.Lock()
	defer op.mu.Unlock()
	out := map[string]any{"copied_clusters": op.copied, "total_clusters": op.total, "state": "in progress"}
	if op.finished {
		// A terminal state is reported once; the entry is freed.
		delete(t.copies, p.OperationID)
		if op.err != nil {
			out["state"] = "error"
			if e, ok := errnoOf(op.err); ok {
				out["error"] = strerror(e)
			} else {
				out["error"] = op.err.Error()
			}
		} else {
			out["state"] = "complete"
		}
	}
	return out, nil
}
