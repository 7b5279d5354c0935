package jsonrpc

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

var timeZero time.Time

// ListenUnix listens on a Unix socket the way SPDK does: it takes an
// exclusive flock on "<path>.lock" (so two servers never share a socket),
// removes a stale socket left by a crashed server, and listens. Closing the
// listener removes the socket and the lock file. The socket is made
// mode 0600: it needs no authentication (it is the local administrator's
// door, as SPDK's), so only its owner may connect.
func ListenUnix(path string) (net.Listener, error) {
	lockPath := path + ".lock"
	lock, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open rpc lock %s: %w", lockPath, err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("rpc socket %s is in use by another process (lock %s): %w", path, lockPath, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		lock.Close()
		return nil, fmt.Errorf("remove stale rpc socket %s: %w", path, err)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("listen on rpc socket %s: %w", path, err)
	}
	// Connecting needs write permission on the socket, which the usual
	// umask (022) already withholds from others; this makes it so under
	// any umask.
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		lock.Close()
		return nil, fmt.Errorf("restrict rpc socket %s to its owner: %w", path, err)
	}
	return &unixListener{Listener: l, lock: lock, lockPath: lockPath}, nil
}

type unixListener struct {
	net.Listener
	lock     *os.File
	lockPath string
	once     sync.Once
}

func (l *unixListener) Close() error {
	err := l.Listener.Close() // unlinks the socket
	l.once.Do(func() {
		os.Remove(l.lockPath)
		l.lock.Close()
	})
	return err
}
