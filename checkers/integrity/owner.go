package integrity

import (
	"regexp"
	"strings"

	"github.com/faultline/faultline/engine/api"
)

// Lvol names refengine gives a replica's lvols (see the engine facts in
// docs/architecture.md): the head is the replica's name, the others add a
// suffix to it.
const (
	suffixSnap       = "-snap-"
	suffixBitmap     = "-bitmap"
	suffixRebuilding = "-rebuilding"
	// rebuildSnapPrefix starts the <name> of a system snapshot a rebuild
	// takes on every replica: <replica>-snap-rebuild-<8 chars>.
	rebuildSnapPrefix = "rebuild-"
)

// part is what an lvol is to the replica whose name it starts with.
type part int

const (
	partHead part = iota
	partBitmap
	partSnapshot
	partRebuilding
	partUnknown // the replica's name and a suffix refengine never makes
)

// replicaLike matches names that look like replica lvols even when no
// known replica has that name: <volume>-r-<8 alnum>, then a suffix.
var replicaLike = regexp.MustCompile(`^(.+-r-[A-Za-z0-9]{8})(-.*)?$`)

// volumeFacts is what the checks need to know about one volume.
type volumeFacts struct {
	size int64
	// rebuilding is true while some replica is WO in the engine.
	rebuilding bool
	// snapshots maps a user snapshot's SnapshotName to its state.
	snapshots map[string]string
	ready     int // user snapshots in state ready
}

// index holds the manager's objects of an Inventory, keyed for matching
// lvol names.
type index struct {
	replicas map[string]*api.Replica
	volumes  map[string]*volumeFacts
	images   map[string]bool
}

func newIndex(inv Inventory) *index {
	ix := &index{replicas: map[string]*api.Replica{}, volumes: map[string]*volumeFacts{}, images: map[string]bool{}}
	for _, v := range inv.Volumes {
		ix.volume(v.Name).size = v.Spec.Size
	}
	for i := range inv.Replicas {
		r := &inv.Replicas[i]
		ix.replicas[r.Name] = r
		if r.Status.Mode == api.ModeWO {
			ix.volume(r.Spec.Volume).rebuilding = true
		}
	}
	for _, s := range inv.Snapshots {
		f := ix.volume(s.Spec.Volume)
		f.snapshots[s.Spec.SnapshotName] = s.Status.State
		if s.Status.State == api.SnapshotReady {
			f.ready++
		}
	}
	for _, b := range inv.BackingImages {
		ix.images[b.Name] = true
	}
	return ix
}

// volume returns the facts of a volume, creating an empty entry for one
// only replicas or snapshots name.
func (ix *index) volume(name string) *volumeFacts {
	f, ok := ix.volumes[name]
	if !ok {
		f = &volumeFacts{snapshots: map[string]string{}}
		ix.volumes[name] = f
	}
	return f
}

// match finds the known replica an lvol name belongs to: the longest known
// replica name that is the whole lvol name or is followed by "-" in it, so
// that replica "v-r-abcdefgh" never claims "v-r-abcdefgh2-snap-x" and of
// two known names that both fit, the longer, more specific one wins. It
// returns what part of the replica the lvol is and, for snapshots, the
// snapshot's <name>.
func (ix *index) match(lvol string) (r *api.Replica, p part, snap string) {
	for i := len(lvol); i > 0; i-- {
		if i < len(lvol) && lvol[i] != '-' {
			continue
		}
		if r = ix.replicas[lvol[:i]]; r != nil {
			p, snap = classify(lvol[i:])
			return r, p, snap
		}
	}
	return nil, partUnknown, ""
}

// classify names the part of a replica an lvol is from the suffix after
// the replica's name.
func classify(suffix string) (part, string) {
	switch {
	case suffix == "":
		return partHead, ""
	case suffix == suffixBitmap:
		return partBitmap, ""
	case suffix == suffixRebuilding:
		return partRebuilding, ""
	case strings.HasPrefix(suffix, suffixSnap) && len(suffix) > len(suffixSnap):
		return partSnapshot, strings.TrimPrefix(suffix, suffixSnap)
	}
	return partUnknown, ""
}

// placed reports whether an lvol on node, in the lvstore with uuid lvs,
// sits where the manager placed replica r (any lvstore of the node when
// the record names no lvstore).
func placed(r *api.Replica, node, lvs string) bool {
	return r.Spec.Node == node && (r.Spec.DiskUUID == "" || r.Spec.DiskUUID == lvs)
}

// backingImageOf parses bi-<image>-disk-<lvstore uuid>; ok is false for
// any other name. The uuid is returned as written, for the caller to hold
// against the lvstore the lvol actually sits on.
func backingImageOf(lvol string) (image, lvs string, ok bool) {
	rest, ok := strings.CutPrefix(lvol, "bi-")
	if !ok {
		return "", "", false
	}
	i := strings.LastIndex(rest, "-disk-")
	if i <= 0 || i+len("-disk-") == len(rest) {
		return "", "", false
	}
	return rest[:i], rest[i+len("-disk-"):], true
}
