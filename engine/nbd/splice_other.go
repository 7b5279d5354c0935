//go:build !linux

package nbd

import (
	"bufio"
	"errors"
	"net"
	"syscall"
)

// WRITE payloads are received by splice(2) on Linux only.

type pipePool struct{}

func (pp *pipePool) closeAll() {}

type spliceSource struct{ inSock int }

var errNoPipe = errors.New("no pipe to splice through")

func (c *conn) spliceable(*export, request) bool { return false }

func (c *conn) receive(*bufio.Reader, int) (*spliceSource, error) { return nil, errNoPipe }

func (c *conn) doSpliced(*export, request, *spliceSource, int) error {
	return errors.New("splice: not on this system")
}

func (c *conn) unsplice(*spliceSource, int) ([]byte, error) {
	return nil, errors.New("splice: not on this system")
}

func socketOf(net.Conn) syscall.RawConn { return nil }

func (c *conn) peekSocket() (waiting, closed bool) { return false, false }
