package workload

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
)

func TestClassify(t *testing.T) {
	errDisconnected := errors.New("nbd: disconnected")
	tests := []struct {
		name string
		err  error
		want Outcome
	}{
		{"nil", nil, OK},
		{"eof", fmt.Errorf("read reply: %w", io.EOF), Unknown},
		{"unexpected eof", io.ErrUnexpectedEOF, Unknown},
		{"reset", &net.OpError{Op: "write", Err: syscall.ECONNRESET}, Unknown},
		{"broken pipe", fmt.Errorf("send: %w", syscall.EPIPE), Unknown},
		{"closed", net.ErrClosed, Unknown},
		{"cancelled", context.Canceled, Unknown},
		{"eio", fmt.Errorf("nbd write: %w", syscall.EIO), Failed},
		{"other", errors.New("EPERM from server"), Failed},
		{"injected disconnect", fmt.Errorf("write at 0: %w", errDisconnected), Unknown},
	}
	classify := UnknownOn(errDisconnected)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := classify(tt.err); got != tt.want {
				t.Fatalf("classify(%v) = %s, want %s", tt.err, got, tt.want)
			}
		})
	}
	if got := Classify(errDisconnected); got != Failed {
		t.Fatalf("default classifier maps an unregistered error to %s, want failed", got)
	}
}
