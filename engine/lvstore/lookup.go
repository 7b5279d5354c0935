package lvstore

import (
	"cmp"
	"slices"
	"strings"
	"syscall"
)

// Lvol finds an lvol by UUID, name or alias ("<lvstore>/<lvol>"). It fails
// with ENODEV, as SPDK does for an unknown bdev.
func (s *Store) Lvol(nameOrUUID string) (*Lvol, error) {
	s.topoMu.RLock()
	defer s.topoMu.RUnlock()
	if lv, ok := s.lvols[nameOrUUID]; ok {
		return lv, nil
	}
	if lv, ok := s.byName[nameOrUUID]; ok {
		return lv, nil
	}
	if rest, ok := strings.CutPrefix(nameOrUUID, s.name+"/"); ok {
		if lv, ok := s.byName[rest]; ok {
			return lv, nil
		}
	}
	return nil, errno(syscall.ENODEV, "lvol %q not found in lvstore %s", nameOrUUID, s.name)
}

// Lvols lists the lvols in creation order (as SPDK does), degraded ones
// included. Lvols loaded from disk are ordered by creation time.
func (s *Store) Lvols() []*Lvol { return s.byCreation() }

func (s *Store) byCreation() []*Lvol {
	s.topoMu.RLock()
	out := make([]*Lvol, 0, len(s.lvols))
	for _, lv := range s.lvols {
		out = append(out, lv)
	}
	s.topoMu.RUnlock()
	slices.SortFunc(out, func(a, b *Lvol) int { return cmp.Compare(a.order, b.order) })
	return out
}

func (s *Store) nameTaken(name string) bool {
	s.topoMu.RLock()
	defer s.topoMu.RUnlock()
	_, ok := s.byName[name]
	return ok
}

func (s *Store) addLvol(lv *Lvol) {
	s.topoMu.Lock()
	s.order++
	lv.order = s.order
	s.lvols[lv.uuidText] = lv
	s.byName[lv.name] = lv
	s.topoMu.Unlock()
}

func (s *Store) removeLvol(lv *Lvol) {
	s.topoMu.Lock()
	delete(s.lvols, lv.uuidText)
	delete(s.byName, lv.name)
	s.topoMu.Unlock()
}

// childrenLocked lists lv's children; caller holds mdMu, under which parent
// pointers do not change.
func (s *Store) childrenLocked(lv *Lvol) []*Lvol {
	var out []*Lvol
	for _, c := range s.snapshotLvols() {
		if c.parent == lv {
			out = append(out, c)
		}
	}
	return out
}
