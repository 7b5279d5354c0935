package nbd

import (
	"testing"
	"time"
)

// TestSerial drives the reader's record of a client through request
// arrivals and lone requests done, and checks which it serves itself.
func TestSerial(t *testing.T) {
	type step struct {
		inFlight, buffered int
		waiting            bool // after a request served alone
		alone              bool // what arrived must report
	}
	alone := step{inFlight: 1, alone: true}
	tests := []struct {
		name  string
		steps []step
	}{
		{"one at a time", []step{alone, alone, alone}},
		{"another in flight", []step{alone, {inFlight: 2}, {inFlight: 1}}},
		{"another read already", []step{{inFlight: 1, buffered: 28}, {inFlight: 1}}},
		{"sent while one was served", []step{{inFlight: 1, alone: true, waiting: true}, {inFlight: 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s serial
			for i, st := range tt.steps {
				if got := s.arrived(st.inFlight, st.buffered); got != st.alone {
					t.Fatalf("step %d (%+v): arrived says alone=%v", i, st, got)
				}
				if st.alone {
					s.served(st.waiting)
				}
			}
		})
	}
	// After a sign of company it takes serialWindow lone arrivals before
	// the reader serves one itself again.
	var s serial
	s.arrived(2, 0)
	for i := range serialWindow {
		if s.arrived(1, 0) {
			t.Fatalf("served alone %d requests after another was in flight, want %d", i, serialWindow)
		}
	}
	if !s.arrived(1, 0) {
		t.Fatalf("not served alone after %d lone requests", serialWindow)
	}
}

// TestNewClientStartsOnWorkers: a new connection's first request goes to
// a worker even when it arrives alone, so a second request is read and
// answered while the first is still in the device. A reader that served
// the first itself would read nothing more until it was done.
func TestNewClientStartsOnWorkers(t *testing.T) {
	const x, y = 64 << 10, 128 << 10
	ts := startServer(t, "unix")
	fresh := pattern(4096, 2)
	c, held := ts.heldWriteFrom(t, "disk", x, pattern(4096, 1), fresh, nil)
	c.request(cmdRead, 0, 2, y, 4096, nil)
	select {
	case res := <-c.readAsync(4096):
		res.check(t, make([]byte, 4096))
	case <-time.After(testTimeout):
		t.Fatal("a second request was not answered while the new connection's first was in the device")
	}
	held.open()
	if r := c.reply(); r.errno != 0 || r.cookie != 1 {
		t.Fatalf("first write: %+v", r)
	}
}
