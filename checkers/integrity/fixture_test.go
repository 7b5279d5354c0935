package integrity

import (
	"github.com/faultline/faultline/engine/api"
)

// Inventories for the table tests of NoOrphans and SpaceBounded: volume
// "v" (16 MiB, replicas on n1 and n2, 1 MiB clusters) and what a test
// changes on top.
const (
	lvs1 = "11111111-1111-4111-8111-111111111111"
	lvs2 = "22222222-2222-4222-8222-222222222222"
	lvs3 = "33333333-3333-4333-8333-333333333333" // a second disk of n1
	rA   = "v-r-aaaaaaaa"                         // on n1, lvs1
	rB   = "v-r-bbbbbbbb"                         // on n2, lvs2
)

// inv builds a clean inventory of volume v: two RW replicas, each with a
// head of 10 clusters and a bitmap of one.
func inv() Inventory {
	rep := func(name, node, disk string) api.Replica {
		return api.Replica{Name: name,
			Spec:   api.ReplicaSpec{Volume: "v", Node: node, Disk: "disk0", DiskUUID: disk, Size: 16 << 20},
			Status: api.ReplicaStatus{State: api.InstanceRunning, Mode: api.ModeRW}}
	}
	node := func(name, lvs string, lvols ...Lvol) NodeInventory {
		n := NodeInventory{Node: name, Lvols: lvols,
			Lvstores: []Lvstore{{UUID: lvs, Name: "lvs-" + name, TotalDataClusters: 60, ClusterSize: 1 << 20}}}
		if name == "n1" {
			n.Lvstores = append(n.Lvstores, Lvstore{UUID: lvs3, Name: "lvs-n1b", TotalDataClusters: 60, ClusterSize: 1 << 20})
		}
		return balance(n)
	}
	return Inventory{
		Volumes:  []api.Volume{{Name: "v", Spec: api.VolumeSpec{Size: 16 << 20, NumberOfReplicas: 2}}},
		Replicas: []api.Replica{rep(rA, "n1", lvs1), rep(rB, "n2", lvs2)},
		Nodes: []NodeInventory{
			node("n1", lvs1, lv(rA, lvs1, 10, ""), lv(rA+"-bitmap", lvs1, 1, "")),
			node("n2", lvs2, lv(rB, lvs2, 10, ""), lv(rB+"-bitmap", lvs2, 1, "")),
		},
	}
}

// lv is a writable lvol with alloc clusters on lvstore lvs, child of parent.
func lv(name, lvs string, alloc uint64, parent string) Lvol {
	return Lvol{Name: name, LvstoreUUID: lvs, LvstoreName: "lvs", AllocatedClusters: alloc, Parent: parent, SizeBytes: 16 << 20}
}

// snap is lv as a snapshot.
func snap(name, lvs string, alloc uint64, parent string) Lvol {
	l := lv(name, lvs, alloc, parent)
	l.Snapshot = true
	return l
}

// balance sets every lvstore's free count so that its allocator agrees
// with its lvols.
func balance(n NodeInventory) NodeInventory {
	for i, s := range n.Lvstores {
		var owned uint64
		for _, l := range n.Lvols {
			if l.LvstoreUUID == s.UUID {
				owned += l.AllocatedClusters
			}
		}
		n.Lvstores[i].FreeClusters = s.TotalDataClusters - owned
	}
	return n
}

// change is one edit of the base inventory.
type change func(*Inventory)

// add puts lvols on a node and rebalances its allocator.
func add(node string, lvols ...Lvol) change {
	return func(in *Inventory) {
		for i := range in.Nodes {
			if in.Nodes[i].Node == node {
				in.Nodes[i].Lvols = append(in.Nodes[i].Lvols, lvols...)
				in.Nodes[i] = balance(in.Nodes[i])
			}
		}
	}
}

// replace swaps the lvol of that name on node for l.
func replace(node string, l Lvol) change {
	return func(in *Inventory) {
		for i := range in.Nodes {
			for j := range in.Nodes[i].Lvols {
				if in.Nodes[i].Node == node && in.Nodes[i].Lvols[j].Name == l.Name {
					in.Nodes[i].Lvols[j] = l
				}
			}
			in.Nodes[i] = balance(in.Nodes[i])
		}
	}
}

// replica edits a replica record.
func replica(name string, edit func(*api.Replica)) change {
	return func(in *Inventory) {
		for i := range in.Replicas {
			if in.Replicas[i].Name == name {
				edit(&in.Replicas[i])
			}
		}
	}
}

func mode(m string) func(*api.Replica) { return func(r *api.Replica) { r.Status.Mode = m } }

// userSnapshot adds a snapshot record of volume v.
func userSnapshot(name, state string) change {
	return func(in *Inventory) {
		in.Snapshots = append(in.Snapshots, api.Snapshot{Name: "v-s-" + name,
			Spec: api.SnapshotSpec{Volume: "v", SnapshotName: name}, Status: api.SnapshotStatus{State: state}})
	}
}

func image(name string) change {
	return func(in *Inventory) {
		in.BackingImages = append(in.BackingImages, api.BackingImage{Name: name, Status: api.BackingImageStatus{State: api.BackingImageReady}})
	}
}

// nodeErr makes a node unreadable.
func nodeErr(node string) change {
	return func(in *Inventory) {
		for i := range in.Nodes {
			if in.Nodes[i].Node == node {
				in.Nodes[i] = NodeInventory{Node: node, Err: "node " + node + ": dial: connection refused"}
			}
		}
	}
}

// allocator shifts an lvstore's free count by delta (negative: clusters
// lost) or marks it as changed while read.
func allocator(node, uuid string, delta int64, changed bool) change {
	return func(in *Inventory) {
		for i := range in.Nodes {
			for j, s := range in.Nodes[i].Lvstores {
				if in.Nodes[i].Node == node && s.UUID == uuid {
					in.Nodes[i].Lvstores[j].FreeClusters = uint64(int64(s.FreeClusters) + delta)
					in.Nodes[i].Lvstores[j].Changed = changed
				}
			}
		}
	}
}

func build(changes ...change) Inventory {
	in := inv()
	for _, c := range changes {
		c(&in)
	}
	return in
}
