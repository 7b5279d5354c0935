package nbd

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"
)

func TestServeStopsOnContext(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(nil)
	defer s.Close()
	if err := s.AddExport("disk", newMemDevice(1<<20, 512), ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, l) }()
	c, err := Dial(t.Context(), "tcp", l.Addr().String(), "disk")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cancel()
	if err := waitFor(t, served); err != nil {
		t.Fatalf("Serve after cancel: %v", err)
	}
	// Serve closed the listener and the connections it accepted.
	if _, err := c.ReadAt(make([]byte, 512), 0); !errors.Is(err, ErrDisconnected) {
		t.Fatalf("read after Serve returned: %v", err)
	}
	// Ask the listener itself: dialing its port could reach another
	// process's listener that has been given the port since. The deadline
	// ends the Accept of a listener left open.
	l.(*net.TCPListener).SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("accept on the listener after Serve returned: %v, want net.ErrClosed", err)
	}
}

func TestServeReturnsAcceptError(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(nil)
	defer s.Close()
	served := make(chan error, 1)
	go func() { served <- s.Serve(context.Background(), l) }()
	// Wait until Serve registered the listener, then close it under it.
	waitUntil(t, func() bool { s.mu.Lock(); defer s.mu.Unlock(); return len(s.listeners) == 1 })
	l.Close()
	if err := waitFor(t, served); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Serve after listener close: %v", err)
	}
}

func TestServerClose(t *testing.T) {
	ts := startServer(t, "unix")
	ts.addMem(t, "disk", 1<<20, ExportOptions{Description: "d"})
	c := ts.dial(t, "disk")
	want := []ExportInfo{{Name: "disk", Size: 1 << 20, Description: "d", Connections: 1}}
	if got := ts.Exports(); len(got) != 1 || got[0] != want[0] {
		t.Fatalf("Exports = %+v, want %+v", got, want)
	}
	if err := ts.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadAt(make([]byte, 512), 0); !errors.Is(err, ErrDisconnected) {
		t.Fatalf("read after server Close: %v", err)
	}
	if err := ts.AddExport("x", newMemDevice(4096, 512), ExportOptions{}); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("AddExport after Close: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := ts.Serve(t.Context(), l); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve after Close: %v", err)
	}
}

func TestAddExportValidates(t *testing.T) {
	s := NewServer(nil)
	defer s.Close()
	long := string(make([]byte, maxStringLen+1))
	tests := []struct {
		name string
		exp  string
		dev  *memDevice
		opts ExportOptions
	}{
		{"nil device", "a", nil, ExportOptions{}},
		{"name too long", long, newMemDevice(4096, 512), ExportOptions{}},
		{"description too long", "b", newMemDevice(4096, 512), ExportOptions{Description: long}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.dev == nil {
				err = s.AddExport(tt.exp, nil, tt.opts)
			} else {
				err = s.AddExport(tt.exp, tt.dev, tt.opts)
			}
			if err == nil {
				t.Fatal("accepted")
			}
		})
	}
	if len(s.Exports()) != 0 {
		t.Fatalf("rejected exports were registered: %+v", s.Exports())
	}
}
