package jsonrpc

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
)

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func TestClientConcurrentCalls(t *testing.T) {
	path, _ := testServer(t)
	ctx := context.Background()
	c, err := Dial(ctx, "unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var got int
			if err := c.Call(ctx, "sum", map[string]int{"a": i, "b": 1000}, &got); err != nil {
				errs <- err
				return
			}
			if got != i+1000 {
				errs <- errors.New("wrong result")
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestClientErrors(t *testing.T) {
	path, _ := testServer(t)
	ctx := context.Background()
	c, err := Dial(ctx, "unix", path)
	if err != nil {
		t.Fatal(err)
	}
	err = c.Call(ctx, "fail", nil, nil)
	var e *Error
	if !errors.As(err, &e) || e.Code != -17 || e.Message != "File exists" {
		t.Fatalf("Call(fail) = %v, want *Error -17 File exists", err)
	}
	err = c.Call(ctx, "nosuch", nil, nil)
	if !errors.As(err, &e) || e.Code != CodeMethodNotFound {
		t.Fatalf("Call(nosuch) = %v, want -32601", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := c.Call(cctx, "block", nil, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("Call with cancelled ctx = %v", err)
	}
	c.Close()
	if err := c.Call(ctx, "echo", nil, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Call after Close = %v, want ErrClosed", err)
	}
}
