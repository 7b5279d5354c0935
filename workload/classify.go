package workload

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
)

// Classifier maps a write or flush error to an outcome: Unknown when the
// connection was lost (the request may or may not have reached the disk),
// Failed when the device answered with an error (which may still have
// landed in part).
type Classifier func(error) Outcome

// connectionLoss lists errors that mean "the answer never came back".
var connectionLoss = []error{
	io.EOF, io.ErrUnexpectedEOF, io.ErrClosedPipe, net.ErrClosed, os.ErrDeadlineExceeded,
	syscall.ECONNRESET, syscall.ECONNABORTED, syscall.EPIPE, syscall.ETIMEDOUT,
	context.Canceled, context.DeadlineExceeded,
}

// Classify is the default classifier: nil is OK, a lost connection (EOF,
// reset, broken pipe, closed socket, timeout) is Unknown, anything else is
// Failed.
func Classify(err error) Outcome {
	if err == nil {
		return OK
	}
	for _, target := range connectionLoss {
		if errors.Is(err, target) {
			return Unknown
		}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return Unknown
	}
	return Failed
}

// UnknownOn returns a classifier that also treats errors matching any of
// targets (errors.Is) as connection loss, e.g. UnknownOn(nbd.ErrDisconnected),
// so the workload need not import the client it drives.
func UnknownOn(targets ...error) Classifier {
	return func(err error) Outcome {
		for _, target := range targets {
			if err != nil && errors.Is(err, target) {
				return Unknown
			}
		}
		return Classify(err)
	}
}
