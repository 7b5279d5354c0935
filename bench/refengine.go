package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/faultline/faultline/engine/jsonrpc"
)

// node is a `refengine node` process the harness started, with a
// JSON-RPC connection to it and an lvstore on its disk.
type node struct {
	name    string
	nbdAddr string
	lvs     string
	disk    string // the disk file
	proc    *process
	rpc     *jsonrpc.Client
}

// maxNodes is how many nodes a run may start: node-a serves the exports,
// the others hold the remote raid1 members.
const maxNodes = 3

// nodeName returns the name of node i: node-a, node-b, ...
func nodeName(i int) string { return "node-" + string(rune('a'+i)) }

// node returns the running node called name, starting it (with a disk big
// enough for every lvol a run puts there) on first use.
func (e *env) node(ctx context.Context, name string) (*node, error) {
	if n, ok := e.nodes[name]; ok {
		return n, nil
	}
	if err, ok := e.nodeErrs[name]; ok {
		return nil, err
	}
	n, err := e.startNode(ctx, name)
	if err != nil {
		e.nodeErrs[name] = err
		return nil, err
	}
	e.nodes[name] = n
	return n, nil
}

func (e *env) startNode(ctx context.Context, name string) (*node, error) {
	// Room for the lvols of every target on node-a (lvol, raid1x2,
	// raid1x3 and both engine-x2 members, with bitmaps), a replica of the
	// resync benchmark, and lvstore metadata; the disk file is sparse.
	return e.startNodeDisk(ctx, name, 5*e.cfg.Size+ResyncSize+256<<20)
}

// startNodeDisk starts a node whose one disk has diskBytes (sparse), with
// an lvstore of 1 MiB clusters on it.
func (e *env) startNodeDisk(ctx context.Context, name string, diskBytes int64) (*node, error) {
	if e.cfg.Refengine == "" {
		return nil, fmt.Errorf("node %s: no refengine binary: %v", name, e.buildErr)
	}
	dir := filepath.Join(e.dir, name)
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		return nil, fmt.Errorf("node %s: %w", name, err)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	n := &node{name: name, nbdAddr: "127.0.0.1:" + strconv.Itoa(port), lvs: "lvs-" + name}
	sock := filepath.Join(dir, "rpc.sock")
	n.disk = filepath.Join(dir, "disk0.img")
	disk := fmt.Sprintf("disk0=%s:%d", n.disk, diskBytes)
	n.proc, err = startProcess("refengine node "+name, filepath.Join(dir, "node.log"), e.cfg.Refengine,
		"node", "--name", name, "--data-dir", filepath.Join(dir, "data"), "--rpc-socket", sock,
		"--nbd-listen", n.nbdAddr, "--disk", disk)
	if err != nil {
		return nil, err
	}
	e.defer_(n.proc.stop)
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := n.proc.waitReady(rctx, "its RPC socket", dialable("unix", sock)); err != nil {
		return nil, err
	}
	if err := n.proc.waitReady(rctx, "its NBD listener", dialable("tcp", n.nbdAddr)); err != nil {
		return nil, err
	}
	n.rpc, err = jsonrpc.Dial(rctx, "unix", sock)
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", name, err)
	}
	e.defer_(func() { n.rpc.Close() })
	err = n.call(ctx, "bdev_lvol_create_lvstore", map[string]any{
		"bdev_name": "disk0", "lvs_name": n.lvs, "cluster_sz": 1 << 20,
	}, nil)
	if err != nil {
		return nil, err
	}
	return n, nil
}

// call runs one JSON-RPC method on the node.
func (n *node) call(ctx context.Context, method string, params, result any) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := n.rpc.Call(ctx, method, params, result); err != nil {
		return fmt.Errorf("node %s: %s: %w", n.name, method, err)
	}
	return nil
}

// createLvol makes a thin lvol of size bytes and returns its bdev name.
func (n *node) createLvol(ctx context.Context, name string, size int64) (string, error) {
	return n.createLvolThin(ctx, name, size, true)
}

// createLvolThin makes a thin or thick lvol and returns its bdev name.
func (n *node) createLvolThin(ctx context.Context, name string, size int64, thin bool) (string, error) {
	var uuid string
	err := n.call(ctx, "bdev_lvol_create", map[string]any{
		"lvs_name": n.lvs, "lvol_name": name,
		"size_in_mib": (size + 1<<20 - 1) >> 20, "thin_provision": thin,
	}, &uuid)
	return uuid, err
}

// export serves bdev over the node's NBD listener as exportName and
// returns its URI.
func (n *node) export(ctx context.Context, bdev, exportName string) (string, error) {
	err := n.call(ctx, "nbd_export_start", map[string]any{"bdev_name": bdev, "export_name": exportName}, nil)
	if err != nil {
		return "", err
	}
	return "nbd://" + n.nbdAddr + "/" + exportName, nil
}

// startLvol exports one lvol on node-a.
func startLvol(ctx context.Context, e *env) (string, error) {
	a, err := e.node(ctx, nodeName(0))
	if err != nil {
		return "", err
	}
	lvol, err := a.createLvol(ctx, "bench-lvol", e.cfg.Size)
	if err != nil {
		return "", err
	}
	return a.export(ctx, lvol, "bench-lvol")
}

// startRaid returns a target that exports, from node-a, a raid1 of a
// local lvol and copies-1 lvols on other nodes, each attached over NBD, as
// Longhorn places one replica per node.
func startRaid(copies int) func(context.Context, *env) (string, error) {
	return func(ctx context.Context, e *env) (string, error) {
		if copies < 1 || copies > maxNodes {
			return "", fmt.Errorf("raid1 of %d: between 1 and %d copies", copies, maxNodes)
		}
		name := fmt.Sprintf("raid1x%d", copies)
		a, err := e.node(ctx, nodeName(0))
		if err != nil {
			return "", err
		}
		var peers []*node
		for i := 1; i < copies; i++ {
			rn, err := e.node(ctx, nodeName(i))
			if err != nil {
				return "", err
			}
			peers = append(peers, rn)
		}
		return exportRaid(ctx, a, peers, name, e.cfg.Size)
	}
}

// exportRaid makes name on a, a raid1 of a local lvol and an lvol on each
// of peers attached over NBD, exports it from a under name and returns
// its URI.
func exportRaid(ctx context.Context, a *node, peers []*node, name string, size int64) (string, error) {
	local, err := a.createLvol(ctx, name+"-r0", size)
	if err != nil {
		return "", err
	}
	bases := []string{local}
	for i, rn := range peers {
		replica := fmt.Sprintf("%s-r%d", name, i+1)
		lvol, err := rn.createLvol(ctx, replica, size)
		if err != nil {
			return "", err
		}
		if _, err := rn.export(ctx, lvol, replica); err != nil {
			return "", err
		}
		attached := replica + "-remote"
		err = a.call(ctx, "bdev_remote_attach", map[string]any{
			"name": attached, "address": rn.nbdAddr, "export_name": replica,
		}, nil)
		if err != nil {
			return "", err
		}
		bases = append(bases, attached)
	}
	err = a.call(ctx, "bdev_raid_create", map[string]any{
		"name": name, "raid_level": "raid1", "base_bdevs": bases,
	}, nil)
	if err != nil {
		return "", err
	}
	return a.export(ctx, name, name)
}
