package instance

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/faultline/faultline/engine/jsonrpc"
)

// Errno values the target answers with (SPDK's negative errnos).
const (
	codeNoDevice = -19 // ENODEV
	codeNoEntry  = -2  // ENOENT
	codeExists   = -17 // EEXIST
)

// isCode reports whether err is a JSON-RPC error with the given code.
func isCode(err error, code int) bool {
	var e *jsonrpc.Error
	return errors.As(err, &e) && e.Code == code
}

// lvolInfo is the part of a bdev_get_bdevs object the instance manager
// reads about an lvol.
type lvolInfo struct {
	Name        string   `json:"name"`
	Aliases     []string `json:"aliases"`
	ProductName string   `json:"product_name"`
	BlockSize   int64    `json:"block_size"`
	NumBlocks   int64    `json:"num_blocks"`
	Driver      struct {
		Lvol *lvolDriver `json:"lvol"`
	} `json:"driver_specific"`
}

// lvolDriver is driver_specific.lvol of an lvol bdev.
type lvolDriver struct {
	StoreUUID    string `json:"lvol_store_uuid"`
	Snapshot     bool   `json:"snapshot"`
	BaseSnapshot string `json:"base_snapshot"`
	External     string `json:"external_snapshot_name"`
	// Allocated counts the clusters the lvol owns itself (not its
	// parents'): for a head, what was written since the newest snapshot.
	Allocated uint64 `json:"num_allocated_clusters"`
}

// lvolName is the lvol's own name (the alias without "<lvs>/").
func (l lvolInfo) lvolName() string {
	for _, a := range l.Aliases {
		if _, n, ok := strings.Cut(a, "/"); ok {
			return n
		}
	}
	return l.Name
}

func (l lvolInfo) size() int64 { return l.BlockSize * l.NumBlocks }

// lvstoreInfo is one entry of bdev_lvol_get_lvstores.
type lvstoreInfo struct {
	UUID          string `json:"uuid"`
	Name          string `json:"name"`
	BaseBdev      string `json:"base_bdev"`
	TotalClusters int64  `json:"total_data_clusters"`
	FreeClusters  int64  `json:"free_clusters"`
	ClusterSize   int64  `json:"cluster_size"`
}

// caller is what the instance manager needs of a target: in-process
// JSON-RPC calls (target.Target.Call).
type caller interface {
	Call(ctx context.Context, method string, params any, result any) error
}

// getLvol asks the target for an lvol by "<lvs>/<name>"; ok is false when
// it does not exist. This is the question seed bug 003 failed to ask.
func getLvol(ctx context.Context, t caller, lvs, name string) (lvolInfo, bool, error) {
	var out []lvolInfo
	err := t.Call(ctx, "bdev_get_bdevs", map[string]any{"name": lvs + "/" + name}, &out)
	if isCode(err, codeNoDevice) || isCode(err, codeNoEntry) {
		return lvolInfo{}, false, nil
	}
	if err != nil {
		return lvolInfo{}, false, fmt.Errorf("get lvol %s/%s: %w", lvs, name, err)
	}
	if len(out) == 0 || out[0].Driver.Lvol == nil {
		return lvolInfo{}, false, nil
	}
	return out[0], true, nil
}

// listLvols returns every lvol bdev on the target.
func listLvols(ctx context.Context, t caller) ([]lvolInfo, error) {
	var out []lvolInfo
	if err := t.Call(ctx, "bdev_get_bdevs", nil, &out); err != nil {
		return nil, fmt.Errorf("list bdevs: %w", err)
	}
	lvols := out[:0]
	for _, b := range out {
		if b.Driver.Lvol != nil {
			lvols = append(lvols, b)
		}
	}
	return lvols, nil
}

// listStores returns every lvstore.
func listStores(ctx context.Context, t caller) ([]lvstoreInfo, error) {
	var out []lvstoreInfo
	if err := t.Call(ctx, "bdev_lvol_get_lvstores", nil, &out); err != nil {
		return nil, fmt.Errorf("list lvstores: %w", err)
	}
	return out, nil
}

// chainOf walks parents from the head down and returns the lvol names from
// the base (backing image or oldest snapshot) to the head.
func chainOf(ctx context.Context, t caller, lvs string, head lvolInfo) ([]string, error) {
	chain := []string{head.lvolName()}
	cur := head
	for range 1024 {
		parent := cur.Driver.Lvol.BaseSnapshot
		if parent == "" {
			break
		}
		p, ok, err := getLvol(ctx, t, lvs, parent)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("chain of %s: parent %s is missing", head.lvolName(), parent)
		}
		chain = append(chain, parent)
		cur = p
	}
	for i, j := 0, len(chain)-1; i < j; i, j = i+1, j-1 {
		chain[i], chain[j] = chain[j], chain[i]
	}
	return chain, nil
}

// backingImageLvol is the per-disk lvol name of a backing image.
func backingImageLvol(image, lvsUUID string) string {
	return "bi-" + image + "-disk-" + lvsUUID
}

// imageOfLvol returns the image name of a per-disk backing image lvol, or
// "" when name is not one.
func imageOfLvol(name string) string {
	rest, ok := strings.CutPrefix(name, "bi-")
	if !ok {
		return ""
	}
	i := strings.LastIndex(rest, "-disk-")
	if i <= 0 {
		return ""
	}
	return rest[:i]
}
