package lvstore

// SPDK's blobstore keeps its metadata at the start of the device and hands
// out what is left as data clusters; Longhorn reads an lvstore's capacity
// (total_data_clusters × cluster_size) as the disk's size. refengine's own
// metadata (format.go) is smaller, so Create gives no more data clusters
// than SPDK would on the same device, and the two report the same
// capacity. Only when refengine's metadata needs more room (tiny clusters
// on a tiny device) does it report fewer.

// DefaultMDPagesPerClusterRatio is SPDK's default for
// num_md_pages_per_cluster_ratio (lib/lvol/lvol.c spdk_lvs_opts_init):
// one metadata page per cluster.
const DefaultMDPagesPerClusterRatio = 100

// spdkPageSize is SPDK_BS_PAGE_SIZE, and spdkMaskHeader the packed size of
// struct spdk_bs_md_mask (lib/blob/blobstore.h).
const (
	spdkPageSize   = 4096
	spdkMaskHeader = 5
)

// WithMDPagesPerClusterRatio sets bdev_lvol_create_lvstore's
// num_md_pages_per_cluster_ratio, which decides how much room SPDK's
// metadata takes and so how many data clusters Create gives (0: SPDK's
// default, 100).
func WithMDPagesPerClusterRatio(ratio uint32) Option {
	return func(o *options) { o.mdRatio = ratio }
}

// spdkDataClusters is how many data clusters SPDK leaves on a device of
// devSize bytes with clusters of cs bytes (lib/lvol/lvol.c setup_lvs_opts:
// ratio × clusters / 100 metadata pages; lib/blob/blobstore.c spdk_bs_init:
// the super block, the used-page, used-cluster and used-blobid masks and
// the metadata pages, rounded up to whole clusters), or 0 when the
// metadata would not fit.
func spdkDataClusters(devSize int64, cs uint64, ratio uint32) uint64 {
	if ratio == 0 {
		ratio = DefaultMDPagesPerClusterRatio
	}
	if devSize <= 0 || cs < spdkPageSize {
		return 0
	}
	total := uint64(devSize) / cs
	mdPages := uint64(ratio) * total / 100
	mask := func(bits uint64) uint64 { return ceilDiv(spdkMaskHeader+ceilDiv(bits, 8), spdkPageSize) }
	pages := 1 + mask(mdPages) + max(mask(mdPages), mask(total)) + mask(mdPages) + mdPages
	mdClusters := ceilDiv(pages, cs/spdkPageSize)
	if mdClusters >= total {
		return 0
	}
	return total - mdClusters
}

func ceilDiv(a, b uint64) uint64 { return (a + b - 1) / b }
