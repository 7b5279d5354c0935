package checkers

import (
	"testing"

	"github.com/faultline/faultline/timeline"
)

func TestMerge(t *testing.T) {
	tests := []struct {
		in   []Outcome
		want Outcome
	}{
		{nil, Pass},
		{[]Outcome{Pass, Pass}, Pass},
		{[]Outcome{Pass, Unknown}, Unknown},
		{[]Outcome{Unknown, Fail, Pass}, Fail},
	}
	for _, tt := range tests {
		if got := Merge(tt.in...); got != tt.want {
			t.Errorf("Merge(%v) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestRecord(t *testing.T) {
	rec := timeline.NewRecorder()
	v := Record(rec, Verdict{Checker: "history", Outcome: Fail, Summary: "1 lost write", Evidence: []Evidence{{What: "lost write"}}})
	if v.At.IsZero() {
		t.Fatal("verdict not stamped")
	}
	ev := rec.Events()
	if len(ev) != 1 || ev[0].Kind != timeline.KindChecker || ev[0].Lane != "checker/history" || ev[0].Name != "fail" || ev[0].Detail["evidence"] != "1" {
		t.Fatalf("events %+v", ev)
	}
	Record(nil, v) // no recorder: must not panic
}
