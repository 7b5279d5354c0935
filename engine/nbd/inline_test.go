package nbd

import "testing"

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
