package lvstore

import (
	"testing"

	"github.com/faultline/faultline/engine/bdev/malloc"
)

// TestSPDKDataClusters: the counts are total_data_clusters as a real
// spdk_tgt (longhorn/spdk longhorn-v24.09 1975133e9) reported them for
// bdev_lvol_create_lvstore on aio bdevs of those sizes.
func TestSPDKDataClusters(t *testing.T) {
	tests := []struct {
		devSize int64
		cs      uint64
		ratio   uint32
		want    uint64
	}{
		{64 << 20, 1 << 20, 100, 63},
		{1 << 30, 1 << 20, 100, 1019},
		{1 << 30, 1 << 20, 50, 1021},
		{1 << 30, 4 << 20, 100, 255},
		{3 << 30, 1 << 20, 100, 3059},
		{10 << 30, 4 << 20, 100, 2557},
		{64 << 20, 64 << 10, 100, 959},
		{200 << 20, 128 << 10, 30, 1584},
		{1 << 20, 1 << 20, 100, 0}, // nothing left after the metadata
	}
	for _, tt := range tests {
		if got := spdkDataClusters(tt.devSize, tt.cs, tt.ratio); got != tt.want {
			t.Errorf("spdkDataClusters(%d, %d, %d) = %d, want %d", tt.devSize, tt.cs, tt.ratio, got, tt.want)
		}
	}
}

// TestCreateReportsSPDKCapacity: a new lvstore has as many data clusters
// as SPDK's would on the same device, and never more than its own
// metadata leaves room for.
func TestCreateReportsSPDKCapacity(t *testing.T) {
	tests := []struct {
		devSize int64
		cs      uint32
		ratio   uint32
		want    uint64
	}{
		{64 << 20, 1 << 20, 0, 63},
		{256 << 20, 1 << 20, 100, 254},
		{64 << 20, 64 << 10, 100, 959},
		{4 << 20, 4 << 10, 100, 0}, // refengine's own metadata is the limit here
	}
	for _, tt := range tests {
		dev, err := malloc.New(uint64(tt.devSize)/512, 512)
		if err != nil {
			t.Fatal(err)
		}
		s, err := Create(dev, "lvs", tt.cs, WithMDPagesPerClusterRatio(tt.ratio))
		if err != nil {
			t.Fatalf("Create on %d bytes: %v", tt.devSize, err)
		}
		own, err := fitClusters(tt.devSize, uint64(tt.cs))
		if err != nil {
			t.Fatal(err)
		}
		want := tt.want
		if want == 0 {
			want = own
		}
		if got := s.TotalClusters(); got != want || got > own {
			t.Errorf("%d bytes, %d-byte clusters: %d data clusters, want %d (own metadata allows %d)", tt.devSize, tt.cs, got, want, own)
		}
		s.Close()
	}
}
