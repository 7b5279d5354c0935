package lvstore

import (
	"errors"
	"syscall"
	"testing"

	"github.com/faultline/faultline/engine/bdev"
)

// fuzzDevSize keeps each fuzz iteration small: about 120 clusters of 4 KiB.
const fuzzDevSize = 1 << 20

// fuzzBase returns a device holding a real store with a few lvols, and the
// metadata payload of its newest slot.
func fuzzBase(tb testing.TB) (*memDev, []byte) {
	dev := newMemDev(fuzzDevSize, 512)
	s, err := Create(dev, "lvs", 4096, quiet)
	if err != nil {
		tb.Fatal(err)
	}
	a, err := s.CreateLvol("a", 8*4096, true)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := a.WriteAt(make([]byte, 4096), 4096); err != nil {
		tb.Fatal(err)
	}
	snap, err := s.Snapshot(a, "snap", map[string]string{"k": "v"})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := s.Clone(snap, "c"); err != nil {
		tb.Fatal(err)
	}
	if _, err := s.CloneExternal(newMemDev(4096*4, 512), "ext", "e"); err != nil {
		tb.Fatal(err)
	}
	if err := s.Close(); err != nil {
		tb.Fatal(err)
	}
	return dev, s.stateLocked().encode()
}

// FuzzOpen: arbitrary bytes as superblock, slot bytes or payload must give
// an error or a working store, never a panic or an absurd allocation.
func FuzzOpen(f *testing.F) {
	base, payload := fuzzBase(f)
	f.Add(byte(0), base.b[:superSize])
	f.Add(byte(1), base.b[superSize:superSize+4096])
	f.Add(byte(2), payload)
	f.Add(byte(2), []byte{})
	f.Add(byte(0), []byte("FLVSTORE"))
	f.Fuzz(func(t *testing.T, mode byte, data []byte) {
		runFuzzOpen(t, base, mode, data)
	})
}

// runFuzzOpen is FuzzOpen's body: it places data on a copy of base
// according to mode and opens it.
func runFuzzOpen(t *testing.T, base *memDev, mode byte, data []byte) {
	dev := &memDev{b: append([]byte(nil), base.b...), bs: 512}
	sb, err := unmarshalSuperblock(base.b[:superSize], int64(len(base.b)))
	if err != nil {
		t.Fatal(err)
	}
	switch mode % 3 {
	case 0: // raw superblock bytes
		copy(dev.b[:superSize], data)
	case 1: // raw bytes over slot 1 (the newest after fuzzBase? either way)
		copy(dev.b[sb.mdOffset:sb.mdOffset+sb.slotSize], data)
	case 2: // a payload with a valid header and checksum, newest slot
		if uint64(len(data)) > sb.slotSize-slotHdrSize {
			return
		}
		h := slotHeader{seq: 1 << 40, payloadLen: uint64(len(data)), payloadCRC: crc(data), store: sb.id}
		slot := dev.b[sb.mdOffset : sb.mdOffset+sb.slotSize]
		copy(slot, h.marshal())
		copy(slot[slotHdrSize:], data)
	}
	s, err := Open(dev, func(string) (bdev.Device, bool) { return newMemDev(4096*4, 512), true }, quiet)
	if err != nil {
		return
	}
	// A store that loaded must work.
	buf := make([]byte, 4096)
	lvols := s.Lvols()
	for _, lv := range lvols[:min(len(lvols), 16)] {
		if lv.Size() > 0 {
			if _, err := lv.ReadAt(buf, 0); err != nil {
				t.Fatalf("read lvol %s of a loaded store: %v", lv.Name(), err)
			}
			if !lv.IsReadOnly() {
				if _, err := lv.WriteAt(buf, 0); err != nil && !isNoSpace(err) {
					t.Fatalf("write lvol %s of a loaded store: %v", lv.Name(), err)
				}
			}
		}
		_ = lv.Children()
		_, _ = lv.Fragmap(0, min(uint64(lv.Size()), 64*4096))
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if _, err := Open(dev, nil, quiet); err != nil {
		t.Fatalf("reopen of a store that loaded and closed: %v", err)
	}
}

func isNoSpace(err error) bool { return errors.Is(err, syscall.ENOSPC) }
