package rpcerrors

import (
	"testing"

	"github.com/faultline/faultline/checkers"
)

func TestCheck(t *testing.T) {
	tests := []struct {
		name   string
		byNode map[string][]Answer
		want   checkers.Outcome
		n      int // evidence entries
	}{
		{"no answers", map[string][]Answer{"n1": nil, "n2": nil}, checkers.Pass, 0},
		{"other errors only", map[string][]Answer{"n1": {
			{Method: "bdev_get_bdevs", Code: -19, Message: "No such device", Count: 40},
			{Method: "bdev_lvol_create", Code: -28, Message: "No space left on device", Count: 1},
			{Method: "bdev_lvol_snapshot", Code: -32602, Message: "File exists", Count: 1},
		}}, checkers.Pass, 0},
		{"create answered -17", map[string][]Answer{"n1": nil, "n2": {
			{Method: "bdev_lvol_create", Code: -17, Message: "File exists", Count: 3},
		}}, checkers.Fail, 1},
		{"clone answered File exists through its completion", map[string][]Answer{"n1": {
			{Method: "bdev_lvol_clone", Code: -32602, Message: "File exists", Count: 1},
		}}, checkers.Fail, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := Check(tc.byNode)
			if v.Outcome != tc.want || len(v.Evidence) != tc.n || v.Checker != Name {
				t.Errorf("Check = %+v, want %s with %d evidence", v, tc.want, tc.n)
			}
		})
	}
}
