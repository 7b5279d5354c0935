package scenarios

import (
	"context"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/faultline/faultline/checkers"
	"github.com/faultline/faultline/checkers/checksum"
	"github.com/faultline/faultline/checkers/integrity"
	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/nbd"
)

// The checks here read lvols the volume's own exports do not show: the
// per-disk copies of a backing image and each replica's snapshots. A node
// exports any lvol read-only over its JSON-RPC (nbd_export_start, as the
// rebuild does for a source snapshot), which is what they use.

// Checker names of this file's verdicts.
const (
	checkerBICopies       = "backing-image-copies"
	checkerChainBase      = "chain-base"
	checkerSnapshotsEqual = "snapshots-equal"
)

// biLvolName is a disk's copy of a backing image: one name per lvstore.
func biLvolName(image, lvsUUID string) string { return "bi-" + image + "-disk-" + lvsUUID }

// lvolRef names one lvol on one node.
type lvolRef struct {
	Node, Lvstore, Lvol string
}

func (r lvolRef) String() string { return r.Node + ":" + r.Lvstore + "/" + r.Lvol }

// readLvol exports an lvol read-only on its node, hands the device to
// read, and removes the export again.
func readLvol(ctx context.Context, s *Spec, ref lvolRef, read func(checkers.Device) error) error {
	n, err := s.Client().GetNode(ctx, ref.Node)
	if err != nil {
		return fmt.Errorf("read %s: %w", ref, err)
	}
	cn, err := cluster.NodeNamed(s.Env.Cluster, ref.Node)
	if err != nil {
		return fmt.Errorf("read %s: %w", ref, err)
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	rpc, err := cluster.DialNode(dctx, s.Env.Cluster, cn)
	if err != nil {
		return fmt.Errorf("read %s: %w", ref, err)
	}
	defer rpc.Close()
	export := "faultline-read-" + ref.Lvol
	if len(export) > 100 {
		export = export[:100]
	}
	if err := rpc.Call(ctx, "nbd_export_start", map[string]any{"bdev_name": ref.Lvstore + "/" + ref.Lvol, "export_name": export, "read_only": true}, nil); err != nil {
		return fmt.Errorf("export %s: %w", ref, err)
	}
	defer rpc.Call(context.WithoutCancel(ctx), "nbd_export_stop", map[string]any{"export_name": export}, nil)
	dev, err := nbd.Dial(dctx, "tcp", n.Spec.NBDAddress, export)
	if err != nil {
		return fmt.Errorf("dial %s: %w", ref, err)
	}
	defer dev.Close()
	return read(dev)
}

// sha512Prefix is the SHA-512 of a device's first n bytes, in hex.
func sha512Prefix(ctx context.Context, dev checkers.Device, n int64) (string, error) {
	if dev.Size() < n {
		return "", fmt.Errorf("device holds %d bytes, fewer than the %d to digest", dev.Size(), n)
	}
	h := sha512.New()
	buf := make([]byte, 1<<20)
	for off := int64(0); off < n; {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		p := buf[:min(int64(len(buf)), n-off)]
		if err := checkers.ReadFull(dev, p, off); err != nil {
			return "", err
		}
		h.Write(p)
		off += int64(len(p))
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// checkBICopies digests every copy of image on every node (read through
// an export of the copy itself, not through a volume) and compares each
// with the uploaded SHA-512; mustHave lists disks (by lvstore UUID) that
// must hold a copy.
func checkBICopies(ctx context.Context, s *Spec, inv integrity.Inventory, image string, size int64, want string, mustHave []string) checkers.Verdict {
	v := checkers.Verdict{Checker: checkerBICopies, At: time.Now()}
	found := map[string]bool{}
	var read []string
	for _, n := range inv.Nodes {
		for _, lv := range n.Lvols {
			if lv.Name != biLvolName(image, lv.LvstoreUUID) {
				continue
			}
			found[lv.LvstoreUUID] = true
			ref := lvolRef{Node: n.Node, Lvstore: lv.LvstoreName, Lvol: lv.Name}
			var got string
			err := readLvol(ctx, s, ref, func(dev checkers.Device) (err error) {
				got, err = sha512Prefix(ctx, dev, size)
				return err
			})
			switch {
			case err != nil:
				v.Evidence = append(v.Evidence, checkers.Evidence{What: "copy not readable: " + ref.String(), Detail: err.Error()})
				v.Outcome = worst(v.Outcome, checkers.Unknown)
			case got != want:
				v.Evidence = append(v.Evidence, checkers.Evidence{What: "copy differs from the upload: " + ref.String(), Expected: want, Actual: got})
				v.Outcome = checkers.Fail
			default:
				read = append(read, ref.String())
			}
		}
	}
	for _, uuid := range mustHave {
		if !found[uuid] {
			v.Evidence = append(v.Evidence, checkers.Evidence{What: "no copy on disk " + uuid, Expected: biLvolName(image, uuid)})
			v.Outcome = checkers.Fail
		}
	}
	if v.Outcome == "" {
		v.Outcome = checkers.Pass
		v.Summary = fmt.Sprintf("%d copies of %s equal the uploaded sha512: %s", len(read), image, strings.Join(read, ", "))
		return v
	}
	v.Summary = fmt.Sprintf("%d of %d copies of %s equal the upload; %d findings", len(read), len(read)+len(v.Evidence), image, len(v.Evidence))
	return v
}

func worst(a, b checkers.Outcome) checkers.Outcome {
	if a == checkers.Fail || b == checkers.Fail {
		return checkers.Fail
	}
	return b
}

// replicaChain is a replica's lvols from its head down, as its node's
// lvol parents link them.
func replicaChain(inv integrity.Inventory, r api.Replica) ([]integrity.Lvol, error) {
	for _, n := range inv.Nodes {
		if n.Node != r.Spec.Node {
			continue
		}
		if n.Err != "" {
			return nil, fmt.Errorf("node %s: %s", n.Node, n.Err)
		}
		byName := map[string]integrity.Lvol{}
		for _, lv := range n.Lvols {
			if lv.LvstoreUUID == r.Spec.DiskUUID {
				byName[lv.Name] = lv
			}
		}
		var out []integrity.Lvol
		for name := r.Name; name != ""; {
			lv, ok := byName[name]
			if !ok {
				return out, fmt.Errorf("lvol %s of replica %s missing on %s", name, r.Name, n.Node)
			}
			out = append(out, lv)
			if lv.ExternalSnapshot != "" {
				return out, fmt.Errorf("lvol %s of replica %s still reads through %s", name, r.Name, lv.ExternalSnapshot)
			}
			name = lv.Parent
			if len(out) > 64 {
				return out, fmt.Errorf("replica %s: chain longer than 64", r.Name)
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("replica %s: node %s not in the inventory", r.Name, r.Spec.Node)
}

// checkChainBase requires every replica's chain to end in its own disk's
// copy of the image: a replica without it reads zeros where the image has
// data, whatever its snapshots hold.
func checkChainBase(inv integrity.Inventory, reps []api.Replica, image string) checkers.Verdict {
	v := checkers.Verdict{Checker: checkerChainBase, At: time.Now(), Outcome: checkers.Pass}
	var ok []string
	for _, r := range reps {
		want := biLvolName(image, r.Spec.DiskUUID)
		chain, err := replicaChain(inv, r)
		if err != nil {
			v.Outcome = worst(v.Outcome, checkers.Unknown)
			v.Evidence = append(v.Evidence, checkers.Evidence{What: "chain of " + r.Name + " unreadable", Detail: err.Error()})
			continue
		}
		got := chain[len(chain)-1].Name
		if got != want {
			v.Outcome = checkers.Fail
			v.Evidence = append(v.Evidence, checkers.Evidence{What: fmt.Sprintf("replica %s on %s/%s: chain does not end in the disk's backing image", r.Name, r.Spec.Node, r.Spec.Disk),
				Expected: want, Actual: got, Detail: chainText(chain)})
			continue
		}
		ok = append(ok, r.Name)
	}
	if v.Outcome == checkers.Pass {
		v.Summary = fmt.Sprintf("every replica's chain ends in its disk's copy of %s: %s", image, strings.Join(ok, ", "))
	} else {
		v.Summary = fmt.Sprintf("%d of %d replicas sit on their disk's copy of %s", len(ok), len(reps), image)
	}
	return v
}

func chainText(chain []integrity.Lvol) string {
	names := make([]string, len(chain))
	for i, lv := range chain {
		names[i] = lv.Name
	}
	return strings.Join(names, " -> ")
}

// checkSnapshotsEqual compares, snapshot by snapshot, the lvols every
// replica holds for the volume's user snapshots: a rebuild that maps a
// snapshot onto the wrong parent (or none) leaves the heads equal only
// where later snapshots cover it, which these reads see.
func checkSnapshotsEqual(ctx context.Context, s *Spec, inv integrity.Inventory, reps []api.Replica, snaps []string) checkers.Verdict {
	v := checkers.Verdict{Checker: checkerSnapshotsEqual, At: time.Now(), Outcome: checkers.Pass}
	for _, snap := range snaps {
		digests := map[string][]string{} // digest → replicas
		for _, r := range reps {
			lvol := r.Name + "-snap-" + snap
			chain, err := replicaChain(inv, r)
			if err == nil && !slices.ContainsFunc(chain, func(lv integrity.Lvol) bool { return lv.Name == lvol }) {
				err = fmt.Errorf("snapshot %s not in the chain %s", lvol, chainText(chain))
			}
			var d string
			if err == nil {
				err = readLvol(ctx, s, lvolRef{Node: r.Spec.Node, Lvstore: lvstoreOf(inv, r), Lvol: lvol}, func(dev checkers.Device) (err error) {
					d, err = checksum.Digest(ctx, dev)
					return err
				})
			}
			if err != nil {
				v.Outcome = checkers.Fail
				v.Evidence = append(v.Evidence, checkers.Evidence{What: fmt.Sprintf("snapshot %s of %s", snap, r.Name), Detail: err.Error()})
				continue
			}
			digests[d] = append(digests[d], r.Name)
		}
		if len(digests) > 1 {
			v.Outcome = checkers.Fail
			var parts []string
			for d, names := range digests {
				parts = append(parts, fmt.Sprintf("%s: %s", strings.Join(names, ","), d[:16]))
			}
			slices.Sort(parts)
			v.Evidence = append(v.Evidence, checkers.Evidence{What: "snapshot " + snap + " differs between replicas", Detail: strings.Join(parts, "; ")})
		}
	}
	if v.Outcome == checkers.Pass {
		v.Summary = fmt.Sprintf("snapshots %s equal on all %d replicas", strings.Join(snaps, ", "), len(reps))
	} else {
		v.Summary = fmt.Sprintf("%d findings over snapshots %s", len(v.Evidence), strings.Join(snaps, ", "))
	}
	return v
}

// lvstoreOf is the name of a replica's lvstore on its node.
func lvstoreOf(inv integrity.Inventory, r api.Replica) string {
	for _, n := range inv.Nodes {
		for _, s := range n.Lvstores {
			if n.Node == r.Spec.Node && s.UUID == r.Spec.DiskUUID {
				return s.Name
			}
		}
	}
	return r.Spec.Disk
}
