package integrity

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/credential"
)

// Inventory is every lvstore and lvol on every node plus the manager's
// objects, read in that order: nodes first, then the manager, so that an
// object created in between is known. The manager creates a replica record
// before the node creates its lvols, and deletes the lvols before the
// record, so in this order a healthy system never shows an lvol without
// its owner.
type Inventory struct {
	Taken         time.Time // when the node reads started
	Nodes         []NodeInventory
	Volumes       []api.Volume
	Replicas      []api.Replica  // every volume's
	Snapshots     []api.Snapshot // every volume's
	BackingImages []api.BackingImage
}

// NodeInventory is what one node's JSON-RPC said about its disks.
type NodeInventory struct {
	Node     string
	Lvstores []Lvstore
	Lvols    []Lvol
	// Err says why the node could not be read (down, no answer): its lvols
	// are unknown and verdicts say so rather than pass.
	Err string
}

// Lvstore is one entry of bdev_lvol_get_lvstores.
type Lvstore struct {
	UUID              string `json:"uuid"`
	Name              string `json:"name"`
	TotalDataClusters uint64 `json:"total_data_clusters"`
	FreeClusters      uint64 `json:"free_clusters"`
	ClusterSize       uint64 `json:"cluster_size"`
	// Changed is set when the used cluster count differed between the
	// lvstore reads before and after the lvol listing: something allocated
	// or freed meanwhile, so the lvols' sum cannot be held against it.
	Changed bool `json:"-"`
}

// Used is the number of clusters the allocator has handed out.
func (s Lvstore) Used() uint64 { return s.TotalDataClusters - s.FreeClusters }

// Lvol is one logical volume as bdev_get_bdevs describes it.
type Lvol struct {
	Name        string // without "<lvs>/"
	LvstoreUUID string
	LvstoreName string
	Snapshot    bool
	// Parent is the lvol's base snapshot (driver_specific.lvol.base_snapshot),
	// a plain lvol name in the same lvstore, or "".
	Parent            string
	AllocatedClusters uint64
	SizeBytes         int64
	// ExternalSnapshot names the external (esnap) parent, or "".
	ExternalSnapshot string
	// Degraded lvols are esnap clones whose external snapshot is gone:
	// they have no bdev, so bdev_get_bdevs does not list them, yet they
	// own clusters. Only bdev_lvol_get_lvols shows them.
	Degraded bool
}

// lvolEntry is the part of a bdev_lvol_get_lvols entry ReadInventory reads:
// the listing that shows degraded lvols too.
type lvolEntry struct {
	UUID     string `json:"uuid"`
	Name     string `json:"name"`
	Snapshot bool   `json:"is_snapshot"`
	Degraded bool   `json:"is_degraded"`
	Lvs      struct {
		Name string `json:"name"`
		UUID string `json:"uuid"`
	} `json:"lvs"`
}

// lvolAllocation is an entry of bdev_lvol_get_allocated_clusters
// (refengine's extension).
type lvolAllocation struct {
	UUID      string `json:"uuid"`
	Allocated uint64 `json:"num_allocated_clusters"`
}

// lvolBdev is the part of a bdev_get_bdevs object ReadInventory reads.
type lvolBdev struct {
	Name      string   `json:"name"`
	Aliases   []string `json:"aliases"`
	BlockSize int64    `json:"block_size"`
	NumBlocks int64    `json:"num_blocks"`
	Driver    struct {
		Lvol *struct {
			StoreUUID    string `json:"lvol_store_uuid"`
			Snapshot     bool   `json:"snapshot"`
			BaseSnapshot string `json:"base_snapshot"`
			Allocated    uint64 `json:"num_allocated_clusters"`
			External     string `json:"external_snapshot_name"`
		} `json:"lvol"`
	} `json:"driver_specific"`
}

// ReadInventory reads every node (c.Nodes, or the manager's node list),
// then the manager's volumes, replicas, snapshots and backing images. A
// node that cannot be read is kept with Err set; a manager that cannot be
// read is an error, because without it nothing can be judged.
func (c Checker) ReadInventory(ctx context.Context) (Inventory, error) {
	if c.API == nil {
		return Inventory{}, fmt.Errorf("read inventory: no manager client")
	}
	nodes := c.Nodes
	if len(nodes) == 0 {
		var err error
		if nodes, err = NodesFromManager(ctx, c.API); err != nil {
			return Inventory{}, fmt.Errorf("read inventory: %w", err)
		}
	}
	inv := Inventory{Taken: time.Now(), Nodes: make([]NodeInventory, len(nodes))}
	// Nodes are read at once so that the node picture spans as short a
	// time as possible.
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() { inv.Nodes[i] = readNode(ctx, n, c.Credential) })
	}
	wg.Wait()
	var err error
	if inv.Volumes, err = c.API.ListVolumes(ctx); err != nil {
		return inv, fmt.Errorf("read inventory: list volumes: %w", err)
	}
	if inv.Replicas, err = c.API.ListReplicas(ctx, ""); err != nil {
		return inv, fmt.Errorf("read inventory: list replicas: %w", err)
	}
	if inv.Snapshots, err = c.API.ListSnapshots(ctx, ""); err != nil {
		return inv, fmt.Errorf("read inventory: list snapshots: %w", err)
	}
	if inv.BackingImages, err = c.API.ListBackingImages(ctx); err != nil {
		return inv, fmt.Errorf("read inventory: list backing images: %w", err)
	}
	return inv, nil
}

// readNode lists one node's lvstores, its lvols, and its lvstores again
// (to see whether the allocator moved while the lvols were listed),
// proving cred when it reaches the node over TCP.
func readNode(ctx context.Context, n Node, cred credential.Token) NodeInventory {
	out := NodeInventory{Node: n.Name}
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	rpc, err := dialNode(ctx, n, cred)
	if err != nil {
		out.Err = err.Error()
		return out
	}
	defer rpc.Close()
	var before, after []Lvstore
	var bdevs []lvolBdev
	if err := rpc.Call(ctx, "bdev_lvol_get_lvstores", nil, &before); err != nil {
		out.Err = fmt.Sprintf("node %s: bdev_lvol_get_lvstores: %v", n.Name, err)
		return out
	}
	var entries []lvolEntry
	if err := rpc.Call(ctx, "bdev_get_bdevs", nil, &bdevs); err != nil {
		out.Err = fmt.Sprintf("node %s: bdev_get_bdevs: %v", n.Name, err)
		return out
	}
	if err := rpc.Call(ctx, "bdev_lvol_get_lvols", nil, &entries); err != nil {
		out.Err = fmt.Sprintf("node %s: bdev_lvol_get_lvols: %v", n.Name, err)
		return out
	}
	// A degraded lvol's clusters: SPDK's listing has no count, refengine's
	// extension has.
	var allocs []lvolAllocation
	if err := rpc.Call(ctx, "bdev_lvol_get_allocated_clusters", nil, &allocs); err != nil {
		out.Err = fmt.Sprintf("node %s: bdev_lvol_get_allocated_clusters: %v", n.Name, err)
		return out
	}
	if err := rpc.Call(ctx, "bdev_lvol_get_lvstores", nil, &after); err != nil {
		out.Err = fmt.Sprintf("node %s: bdev_lvol_get_lvstores: %v", n.Name, err)
		return out
	}
	out.Lvstores = settle(before, after)
	names := map[string]string{}
	for _, s := range out.Lvstores {
		names[s.UUID] = s.Name
	}
	for _, b := range bdevs {
		if b.Driver.Lvol == nil {
			continue // not an lvol: a base disk, a raid, a remote bdev
		}
		l := b.Driver.Lvol
		lv := Lvol{
			Name: b.Name, LvstoreUUID: l.StoreUUID, LvstoreName: names[l.StoreUUID],
			Snapshot: l.Snapshot, Parent: l.BaseSnapshot, AllocatedClusters: l.Allocated,
			SizeBytes: b.BlockSize * b.NumBlocks, ExternalSnapshot: l.External,
		}
		for _, a := range b.Aliases {
			if lvs, name, ok := strings.Cut(a, "/"); ok {
				lv.Name = name
				if lv.LvstoreName == "" {
					lv.LvstoreName = lvs
				}
				break
			}
		}
		out.Lvols = append(out.Lvols, lv)
	}
	seen := map[string]bool{}
	for _, lv := range out.Lvols {
		seen[lv.LvstoreUUID+"/"+lv.Name] = true
	}
	allocated := make(map[string]uint64, len(allocs))
	for _, a := range allocs {
		allocated[a.UUID] = a.Allocated
	}
	for _, e := range entries {
		if !e.Degraded || seen[e.Lvs.UUID+"/"+e.Name] {
			continue
		}
		out.Lvols = append(out.Lvols, Lvol{Name: e.Name, LvstoreUUID: e.Lvs.UUID, LvstoreName: e.Lvs.Name,
			Snapshot: e.Snapshot, AllocatedClusters: allocated[e.UUID], Degraded: true})
	}
	return out
}

// settle returns the lvstores as read after the lvol listing, marking
// those whose used count moved since the read before it, and those that
// appeared or vanished in between.
func settle(before, after []Lvstore) []Lvstore {
	used := map[string]uint64{}
	for _, s := range before {
		used[s.UUID] = s.Used()
	}
	out := make([]Lvstore, len(after))
	for i, s := range after {
		u, ok := used[s.UUID]
		s.Changed = !ok || u != s.Used()
		out[i] = s
	}
	return out
}
