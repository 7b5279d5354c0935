package manager

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/client"
)

// readAll pages through the stream from since until it is drained.
func readAll(t *testing.T, c *client.Client, since uint64, limit int) []api.Event {
	t.Helper()
	var out []api.Event
	for {
		l, err := c.Events(ctxT(t), since, 0, limit)
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Events) == 0 {
			if l.Next != since {
				t.Fatalf("empty page moved next from %d to %d", since, l.Next)
			}
			return out
		}
		out = append(out, l.Events...)
		since = l.Next
	}
}

// settle waits until the controllers have handled every volume (with no
// nodes each gets a Scheduled=false condition) so the stream goes quiet.
func settle(t *testing.T, tm *testManager, volumes int) {
	t.Helper()
	waitFor(t, "controllers to settle", func() (bool, error) {
		vols, err := tm.c.ListVolumes(ctxT(t))
		for _, v := range vols {
			if len(v.Status.Conditions) == 0 {
				return false, err
			}
		}
		return len(vols) == volumes, err
	})
}

func checkGapless(t *testing.T, evs []api.Event, first uint64) {
	t.Helper()
	for i, ev := range evs {
		if ev.Seq != first+uint64(i) {
			t.Fatalf("event %d has seq %d, want %d (gap or reorder)", i, ev.Seq, first+uint64(i))
		}
	}
}

func TestEventStreamHasNoGaps(t *testing.T) {
	dir := t.TempDir()
	tm := startManager(t, dir, Config{})
	ctx := ctxT(t)

	// A long-poll reader follows the stream while writers create volumes
	// concurrently; it must see every event exactly once, in seq order.
	const writers, perWriter = 4, 10
	var seen []api.Event
	readerDone := make(chan error, 1)
	stop := make(chan struct{})
	go func() {
		var since uint64
		for {
			l, err := tm.c.Events(ctx, since, 200*time.Millisecond, 7)
			if err != nil {
				readerDone <- err
				return
			}
			seen = append(seen, l.Events...)
			since = l.Next
			select {
			case <-stop:
				if len(l.Events) == 0 {
					readerDone <- nil
					return
				}
			default:
			}
		}
	}()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				name := fmt.Sprintf("w%d-v%d", w, i)
				if _, err := tm.c.CreateVolume(ctx, api.VolumeCreateRequest{Name: name, Size: api.MiB}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	settle(t, tm, writers*perWriter)
	close(stop)
	if err := <-readerDone; err != nil {
		t.Fatal(err)
	}
	all := readAll(t, tm.c, 0, 1000)
	checkGapless(t, all, 1)
	checkGapless(t, seen, 1)
	if len(seen) != len(all) {
		t.Fatalf("long-poll reader saw %d events, stream holds %d", len(seen), len(all))
	}
	created := map[string]bool{}
	for _, ev := range all {
		if ev.Kind == api.KindVolume && ev.Type == api.EventCreated {
			var v api.Volume
			if err := json.Unmarshal(ev.Object, &v); err != nil || v.Name != ev.Name {
				t.Fatalf("event object %s does not decode to volume %s: %v", ev.Object, ev.Name, err)
			}
			created[ev.Name] = true
		}
	}
	if len(created) != writers*perWriter {
		t.Fatalf("%d volume created events, want %d", len(created), writers*perWriter)
	}

	// since/limit: a page starts right after since and holds at most limit.
	l, err := tm.c.Events(ctx, 3, 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Events) != 2 || l.Events[0].Seq != 4 || l.Next != 5 || l.Last != all[len(all)-1].Seq {
		t.Fatalf("page since=3 limit=2: %d events, next %d, last %d", len(l.Events), l.Next, l.Last)
	}

	// wait: a poll at the head blocks until the next commit, then returns it.
	last := all[len(all)-1].Seq
	got := make(chan api.EventList, 1)
	go func() {
		l, err := tm.c.Events(ctx, last, 30*time.Second, 0)
		if err != nil {
			t.Error(err)
		}
		got <- l
	}()
	if _, err := tm.c.CreateVolume(ctx, api.VolumeCreateRequest{Name: "late", Size: api.MiB}); err != nil {
		t.Fatal(err)
	}
	l = <-got
	if len(l.Events) == 0 || l.Events[0].Seq != last+1 {
		t.Fatalf("long poll returned %+v, want events from seq %d", l, last+1)
	}
	// A poll with a short wait and nothing new returns an empty page.
	settle(t, tm, writers*perWriter+1)
	head := readAll(t, tm.c, last, 1000)
	tail := head[len(head)-1].Seq
	if l, err := tm.c.Events(ctx, tail, 50*time.Millisecond, 0); err != nil || len(l.Events) != 0 || l.Next != tail {
		t.Fatalf("idle long poll: %+v, %v; want empty page with next=%d", l, err, tail)
	}

	// Restart: the stream is intact and new events continue the sequence.
	tm.stop()
	tm2 := startManager(t, dir, Config{})
	again := readAll(t, tm2.c, 0, 1000)
	if len(again) != int(tail) {
		t.Fatalf("after restart the stream holds %d events, want %d", len(again), tail)
	}
	checkGapless(t, again, 1)
	if _, err := tm2.c.CreateVolume(ctx, api.VolumeCreateRequest{Name: "after-restart", Size: api.MiB}); err != nil {
		t.Fatal(err)
	}
	more := readAll(t, tm2.c, tail, 1000)
	if len(more) == 0 || more[0].Seq != tail+1 || more[0].Name != "after-restart" {
		t.Fatalf("first event after restart: %+v, want seq %d for after-restart", more, tail+1)
	}
}

func TestEventsPrunedAnswerGone(t *testing.T) {
	tm := startManager(t, t.TempDir(), Config{EventRetention: 3})
	ctx := ctxT(t)
	for i := range 5 {
		if _, err := tm.c.CreateVolume(ctx, api.VolumeCreateRequest{Name: fmt.Sprintf("v%d", i), Size: api.MiB}); err != nil {
			t.Fatal(err)
		}
	}
	// With no nodes the controllers stop once each volume says why it is
	// not scheduled; after that the stream is quiet.
	waitFor(t, "controllers to settle", func() (bool, error) {
		vols, err := tm.c.ListVolumes(ctx)
		for _, v := range vols {
			if len(v.Status.Conditions) == 0 {
				return false, err
			}
		}
		return len(vols) == 5, err
	})
	if _, err := tm.c.Events(ctx, 0, 0, 0); !api.IsCode(err, 410) {
		t.Fatalf("reading pruned events: got %v, want 410 Gone", err)
	}
	last, err := tm.m.store.LastSeq()
	if err != nil {
		t.Fatal(err)
	}
	if last < 10 {
		t.Fatalf("last seq %d, want at least 10 (5 creates, 5 condition updates)", last)
	}
	l, err := tm.c.Events(ctx, last-3, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Events) != 3 {
		t.Fatalf("retained tail after seq %d has %d events, want 3", last-3, len(l.Events))
	}
	checkGapless(t, l.Events, last-2)
	if _, err := tm.c.Events(ctx, last-4, 0, 0); !api.IsCode(err, 410) {
		t.Fatalf("since just before the retained tail: got %v, want 410", err)
	}
	if l.Events[len(l.Events)-1].Seq != l.Last {
		t.Fatalf("tail ends at %d, last is %d", l.Events[len(l.Events)-1].Seq, l.Last)
	}
}
