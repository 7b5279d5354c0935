package instance

import (
	"slices"
	"testing"

	"github.com/faultline/faultline/engine/engineproc"
	"github.com/faultline/faultline/engine/srcaddr"
)

// TestEngineEnv checks what an engine process is started with: the node's
// environment plus the source address, the keys and the CPU budget, each
// only when there is one, and the budget overriding a GOMAXPROCS the node
// itself was started with.
func TestEngineEnv(t *testing.T) {
	base := []string{"PATH=/bin", "GOMAXPROCS=8"}
	tests := []struct {
		name string
		opts Options
		keys string
		want []string
	}{
		{"nothing to add", Options{}, "", []string{"PATH=/bin", "GOMAXPROCS=8"}},
		{"one CPU", Options{EngineCPUs: 1}, "", []string{"PATH=/bin", "GOMAXPROCS=8", "GOMAXPROCS=1"}},
		{"everything", Options{SourceAddress: "127.0.0.2", EngineCPUs: 3}, `{"r":"k"}`,
			[]string{"PATH=/bin", "GOMAXPROCS=8", srcaddr.Env + "=127.0.0.2", engineproc.KeysEnv + `={"r":"k"}`, "GOMAXPROCS=3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := engineEnv(base, tt.opts, tt.keys)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("engineEnv = %q, want %q", got, tt.want)
			}
			if !slices.Equal(base, []string{"PATH=/bin", "GOMAXPROCS=8"}) {
				t.Fatalf("engineEnv changed its base: %q", base)
			}
		})
	}
}
