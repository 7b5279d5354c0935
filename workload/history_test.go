package workload

import (
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
)

func TestHistoryConcurrentCounts(t *testing.T) {
	h := NewHistory("v", 512)
	var wg sync.WaitGroup
	outcomes := []Outcome{OK, Failed, Unknown}
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 30 {
				kind := OpWrite
				if i%10 == 0 {
					kind = OpFlush
				}
				idx := h.Invoke(Op{Kind: kind, Offset: int64(w * 512), Length: 512})
				h.Complete(idx, outcomes[i%3], nil)
			}
		}()
	}
	wg.Wait()
	c := h.Counts()
	want := Counts{Writes: 8 * 27, Flushes: 8 * 3, OK: 80, Failed: 80, Unknown: 80}
	if c != want {
		t.Fatalf("counts %+v, want %+v", c, want)
	}
	seen := map[uint64]bool{}
	for _, op := range h.Ops() {
		if seen[op.ID] {
			t.Fatalf("duplicate op id %d", op.ID)
		}
		seen[op.ID] = true
		if op.Return < op.Invoke {
			t.Fatalf("op %d returned before invoke", op.ID)
		}
	}
}

func TestHistoryCompleteTwiceKeepsFirst(t *testing.T) {
	h := NewHistory("v", 512)
	i := h.Invoke(Op{Kind: OpWrite, Length: 512})
	h.Complete(i, Failed, errors.New("EIO"))
	h.Complete(i, OK, nil)
	if op := h.Ops()[0]; op.Outcome != Failed || op.Error != "EIO" {
		t.Fatalf("op %+v, want the first completion kept", op)
	}
	if c := h.Counts(); c.Failed != 1 || c.OK != 0 {
		t.Fatalf("counts %+v", c)
	}
}

func TestHistoryJSONRoundTrip(t *testing.T) {
	h := NewHistory("vol-1", 4096)
	i := h.Invoke(Op{Kind: OpWrite, Offset: 8192, Length: 4096, WriteID: 1, Generation: 2, Writer: 3})
	h.Complete(i, OK, nil)
	j := h.Invoke(Op{Kind: OpWrite, Offset: 0, Length: 4096, WriteID: 2})
	h.Complete(j, Unknown, errors.New("connection reset"))
	h.Invoke(Op{Kind: OpFlush})
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	var back History
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	if back.Volume() != "vol-1" || back.BlockSize() != 4096 || !back.Start().Equal(h.Start()) {
		t.Fatalf("metadata lost: %q %d %v", back.Volume(), back.BlockSize(), back.Start())
	}
	if back.Counts() != h.Counts() {
		t.Fatalf("counts %+v, want %+v", back.Counts(), h.Counts())
	}
	got, want := back.Ops(), h.Ops()
	if len(got) != len(want) {
		t.Fatalf("%d ops, want %d", len(got), len(want))
	}
	for k := range want {
		if got[k] != want[k] {
			t.Fatalf("op %d: %+v, want %+v", k, got[k], want[k])
		}
	}
}

func TestHistoryJSONRejectsBadInput(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"not json", `{"volume":`, "unexpected end"},
		{"wrong type", `{"volume":1}`, "decode history"},
		{"block size", `{"volume":"v","block_size":100,"ops":[]}`, "invalid block size"},
		{"long volume", `{"volume":"` + strings.Repeat("v", 40) + `","block_size":512}`, "longer than"},
		{"kind", `{"volume":"v","block_size":512,"ops":[{"kind":"trim","outcome":"ok"}]}`, "unknown kind"},
		{"outcome", `{"volume":"v","block_size":512,"ops":[{"kind":"flush","outcome":"maybe"}]}`, "unknown outcome"},
		{"misaligned", `{"volume":"v","block_size":512,"ops":[{"kind":"write","offset":100,"length":512,"outcome":"ok"}]}`, "not a multiple"},
		{"length", `{"volume":"v","block_size":512,"ops":[{"kind":"write","offset":512,"length":4,"outcome":"ok"}]}`, "write length"},
		{"time travel", `{"volume":"v","block_size":512,"ops":[{"kind":"flush","invoke_ns":10,"return_ns":5,"outcome":"ok"}]}`, "before it was invoked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h History
			err := json.Unmarshal([]byte(tt.in), &h)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func FuzzHistoryJSON(f *testing.F) {
	f.Add([]byte(`{"volume":"v","block_size":512,"ops":[{"kind":"write","offset":512,"length":512,"write_id":1,"invoke_ns":1,"return_ns":2,"outcome":"ok"}]}`))
	f.Add([]byte(`{"volume":"v","block_size":512,"ops":[{"kind":"flush","outcome":"pending"}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var h History
		if err := json.Unmarshal(data, &h); err != nil {
			return
		}
		c := h.Counts()
		if c.Writes+c.Flushes != len(h.Ops()) {
			t.Fatalf("counts %+v disagree with %d ops", c, len(h.Ops()))
		}
	})
}
