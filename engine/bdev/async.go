package bdev

// AsyncWriter is implemented by devices that can start a write and let
// the caller wait for it later, as a network device whose requests are
// pipelined on one connection can. A mirror then sends a write to each
// such member and writes its other members meanwhile on its own
// goroutine, rather than starting a goroutine per member and handing the
// result back through it.
type AsyncWriter interface {
	// StartWriteAt starts writing p at off and returns the function that
	// waits until the write is done and reports it as WriteAt would.
	// The caller must call wait exactly once and must not change p
	// before it returns.
	StartWriteAt(p []byte, off int64) (wait func() (int, error))
}
