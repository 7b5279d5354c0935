package lvstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// TestTornSlot damages the newest metadata slot in different ways; Open must
// fall back to the older slot, which lacks only the last operation.
func TestTornSlot(t *testing.T) {
	tests := []struct {
		name   string
		damage func(slot []byte, payloadLen int)
	}{
		{"payload byte flipped", func(b []byte, n int) { b[slotHdrSize+n/2] ^= 0x40 }},
		{"header zeroed", func(b []byte, n int) { clear(b[:slotHdrSize]) }},
		{"payload tail lost", func(b []byte, n int) { clear(b[slotHdrSize+n/2 : slotHdrSize+n]) }},
		{"sequence corrupted", func(b []byte, n int) { b[16] ^= 1 }},
		{"length absurd", func(b []byte, n int) { binary.LittleEndian.PutUint64(b[24:], 1<<62) }},
		{"only first sector written", func(b []byte, n int) { clear(b[512:]) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t)
			a := fx.lvol("a", 2*testCS, true)
			write(t, a, 0, fill(testBS, 1))
			if err := a.Flush(); err != nil {
				t.Fatal(err)
			}
			// Big enough that half the payload lies past the first sector.
			for i := range 8 {
				if err := fx.s.SetXattr(a, string(rune('k'+i)), string(bytes.Repeat([]byte{'v'}, 100))); err != nil {
					t.Fatal(err)
				}
			}
			fx.lvol("b", testCS, true) // the newest slot holds only this
			seq := fx.s.seq
			sb := fx.s.sb
			if err := fx.s.Close(); err != nil {
				t.Fatal(err)
			}
			if fx.s.seq != seq {
				t.Fatalf("close of a clean store committed again (seq %d -> %d)", seq, fx.s.seq)
			}
			off := int64(sb.mdOffset + (seq%numSlots)*sb.slotSize)
			buf := make([]byte, 8192)
			if _, err := fx.dev.ReadAt(buf, off); err != nil {
				t.Fatal(err)
			}
			tt.damage(buf, int(binary.LittleEndian.Uint64(buf[24:])))
			if _, err := fx.dev.WriteAt(buf, off); err != nil {
				t.Fatal(err)
			}
			s, err := Open(fx.dev, nil, quiet)
			if err != nil {
				t.Fatalf("Open with a torn newest slot: %v", err)
			}
			if s.seq != seq-1 {
				t.Fatalf("loaded seq %d, want %d", s.seq, seq-1)
			}
			if _, err := s.Lvol("b"); err == nil {
				t.Fatal("lvol from the torn slot is present")
			}
			a2, err := s.Lvol("a")
			if err != nil || !bytes.Equal(read(t, a2, 0, testBS), fill(testBS, 1)) {
				t.Fatalf("lvol from the older slot lost: %v", err)
			}
			// The store works and its next commit goes to the damaged slot.
			if _, err := s.CreateLvol("c", testCS, true); err != nil {
				t.Fatal(err)
			}
			if s2, err := Open(fx.dev, nil, quiet); err != nil || s2.seq != seq {
				t.Fatalf("reopen after repair: %v", err)
			}
		})
	}
}

func TestCorruptEverything(t *testing.T) {
	tests := []struct {
		name  string
		off   func(sb superblock) int64
		bytes []byte
	}{
		{"superblock checksum", func(superblock) int64 { return 100 }, []byte{1}},
		{"superblock version", func(superblock) int64 { return 8 }, []byte{9}},
		{"both slots", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t)
			fx.lvol("a", testCS, true)
			if err := fx.s.Close(); err != nil {
				t.Fatal(err)
			}
			sb := fx.s.sb
			if tt.off == nil {
				for i := range uint64(numSlots) {
					if _, err := fx.dev.WriteAt(make([]byte, 4096), int64(sb.mdOffset+i*sb.slotSize)); err != nil {
						t.Fatal(err)
					}
				}
			} else {
				b := make([]byte, 4096)
				if _, err := fx.dev.ReadAt(b, 0); err != nil {
					t.Fatal(err)
				}
				copy(b[tt.off(sb):], tt.bytes)
				if _, err := fx.dev.WriteAt(b, 0); err != nil {
					t.Fatal(err)
				}
			}
			_, err := Open(fx.dev, nil, quiet)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open: %v, want ErrCorrupt", err)
			}
		})
	}
}

// TestLoadRejectsBadSemantics feeds well-formed payloads that break an
// invariant.
func TestLoadRejectsBadSemantics(t *testing.T) {
	id := func(b byte) uuid { return uuid{b, 1} }
	good := func() *mdState {
		return &mdState{name: "lvs", lvols: []mdLvol{
			{id: id(1), name: "snap", flags: flagReadOnly | flagSnapshot, numClusters: 4, extents: []extent{{0, 0, 2}}},
			{id: id(2), name: "head", flags: flagThin, parent: id(1), numClusters: 4, extents: []extent{{2, 5, 1}}},
		}}
	}
	tests := []struct {
		name   string
		break_ func(m *mdState)
	}{
		{"ok", func(*mdState) {}},
		{"cluster owned twice", func(m *mdState) { m.lvols[1].extents[0].phys = 1 }},
		{"extent beyond lvol", func(m *mdState) { m.lvols[1].extents[0].virt = 4 }},
		{"extent beyond store", func(m *mdState) { m.lvols[1].extents[0].phys = 1 << 31 }},
		{"empty extent", func(m *mdState) { m.lvols[1].extents[0].n = 0 }},
		{"missing parent", func(m *mdState) { m.lvols[1].parent = id(9) }},
		{"writable parent", func(m *mdState) { m.lvols[0].flags = 0 }},
		{"cycle", func(m *mdState) { m.lvols[0].parent = id(1) }},
		{"duplicate name", func(m *mdState) { m.lvols[1].name = "snap" }},
		{"duplicate uuid", func(m *mdState) { m.lvols[1].id = id(1) }},
		{"zero uuid", func(m *mdState) { m.lvols[1].id = uuid{} }},
		{"empty name", func(m *mdState) { m.lvols[1].name = "" }},
		{"unknown flag", func(m *mdState) { m.lvols[1].flags |= 0x80 }},
		{"parent and esnap", func(m *mdState) { m.lvols[1].ext = "x" }},
		{"empty store name", func(m *mdState) { m.name = "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := good()
			tt.break_(m)
			dec, err := decodeState(m.encode())
			if err != nil {
				t.Fatalf("decode of an encoded state: %v", err)
			}
			sb := superblock{totalClusters: 16, clusterSize: testCS, blockSize: testBS}
			s := newStore(newMemDev(1, 1), sb, quiet0(), "x")
			err = s.load(dec, nil)
			if tt.name == "ok" {
				if err != nil {
					t.Fatalf("load of a good state: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("load: %v, want ErrCorrupt", err)
			}
		})
	}
}
