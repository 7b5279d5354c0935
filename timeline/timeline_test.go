package timeline

import (
	"sync"
	"testing"
	"time"
)

func TestRecorderOrdersAndStamps(t *testing.T) {
	r := NewRecorder()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r.Add(Event{Time: base.Add(2 * time.Second), Kind: KindStep, Name: "second"})
	r.Add(Event{Time: base, Kind: KindStep, Name: "first"})
	r.Add(Event{Kind: KindLog, Name: "stamped"})
	ev := r.Events()
	if len(ev) != 3 {
		t.Fatalf("got %d events, want 3", len(ev))
	}
	if ev[0].Name != "first" || ev[1].Name != "second" {
		t.Fatalf("order = %q, %q; want first, second", ev[0].Name, ev[1].Name)
	}
	if ev[2].Time.IsZero() {
		t.Fatal("Add did not stamp a zero Time")
	}
}

func TestBeginClosesOnce(t *testing.T) {
	r := NewRecorder()
	end := r.Begin(KindFault, "node-1", "node-stop", map[string]string{"node": "node-1"})
	if n := len(r.Events()); n != 0 {
		t.Fatalf("open window recorded early: %d events", n)
	}
	end()
	end()
	ev := r.Events()
	if len(ev) != 1 {
		t.Fatalf("got %d events after closing twice, want 1", len(ev))
	}
	if ev[0].End.Before(ev[0].Time) || ev[0].End.IsZero() {
		t.Fatalf("window end %v not after start %v", ev[0].End, ev[0].Time)
	}
}

func TestRecorderConcurrent(t *testing.T) {
	r := NewRecorder()
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 100; j++ {
				r.Add(Event{Kind: KindWorkload, Name: "w"})
			}
		}()
	}
	wg.Wait()
	if n := len(r.Events()); n != 800 {
		t.Fatalf("got %d events, want 800", n)
	}
}
