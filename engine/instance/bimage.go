package instance

import (
	"context"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// ensureBackingImage returns the disk's copy of a backing image, the
// snapshot lvol bi-<image>-disk-<lvstore uuid>, fetching it from url into a
// temporary lvol and snapshotting that when the disk lacks it.
func (m *Manager) ensureBackingImage(ctx context.Context, s lvstoreInfo, image, url, sum string) (lvolInfo, error) {
	if err := checkName("backing image", image); err != nil {
		return lvolInfo{}, err
	}
	name := backingImageLvol(image, s.UUID)
	if lv, ok, err := getLvol(ctx, m.t, s.Name, name); err != nil || ok {
		return lv, err
	}
	if url == "" {
		return lvolInfo{}, fmt.Errorf("backing image %s is not on disk %s and no URL was given", image, s.Name)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return lvolInfo{}, fmt.Errorf("fetch backing image %s: %w", image, err)
	}
	// The URL is the manager's (it came with the replica request), which
	// serves downloads to nodes that show their API token.
	if m.mc != nil {
		m.mc.Authorize(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return lvolInfo{}, fmt.Errorf("fetch backing image %s: %w", image, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ContentLength <= 0 {
		return lvolInfo{}, fmt.Errorf("fetch backing image %s: status %s, length %d", image, resp.Status, resp.ContentLength)
	}
	tmp := "bi-" + image + "-tmp"
	full := s.Name + "/" + tmp
	// A leftover from an interrupted fetch is replaced.
	if err := m.t.Call(ctx, "bdev_lvol_delete", map[string]any{"name": full}, nil); err != nil && !isCode(err, codeNoDevice) {
		return lvolInfo{}, fmt.Errorf("remove stale %s: %w", full, err)
	}
	sizeMiB := (resp.ContentLength + mib - 1) / mib
	if err := m.t.Call(ctx, "bdev_lvol_create", map[string]any{"lvol_name": tmp, "size_in_mib": sizeMiB, "thin_provision": true, "lvs_name": s.Name}, nil); err != nil {
		return lvolInfo{}, fmt.Errorf("create %s: %w", full, err)
	}
	got, err := m.fill(full, resp.Body, resp.ContentLength)
	if err == nil && sum != "" && got != sum {
		err = fmt.Errorf("sha512 %s, want %s", got, sum)
	}
	if err == nil {
		err = m.t.Call(ctx, "bdev_lvol_snapshot", map[string]any{"lvol_name": full, "snapshot_name": name, "xattrs": map[string]string{"checksum": got}}, nil)
	}
	derr := m.t.Call(ctx, "bdev_lvol_delete", map[string]any{"name": full}, nil)
	if err = errors.Join(err, derr); err != nil {
		return lvolInfo{}, fmt.Errorf("backing image %s on %s: %w", image, s.Name, err)
	}
	m.log.Info("backing image fetched", "image", image, "lvol", name, "bytes", resp.ContentLength)
	lv, ok, err := getLvol(ctx, m.t, s.Name, name)
	if err == nil && !ok {
		err = fmt.Errorf("backing image lvol %s missing after snapshot", name)
	}
	return lv, err
}

// fill copies n bytes from r into the lvol and flushes; it returns the
// data's SHA-512 in hex.
func (m *Manager) fill(lvol string, r io.Reader, n int64) (string, error) {
	dev, ok := m.t.Bdev(lvol)
	if !ok {
		return "", fmt.Errorf("lvol %s vanished", lvol)
	}
	h := sha512.New()
	buf := make([]byte, mib)
	var off int64
	for off < n {
		k, err := io.ReadFull(r, buf[:min(int64(len(buf)), n-off)])
		if err != nil {
			return "", fmt.Errorf("read image at %d: %w", off, err)
		}
		h.Write(buf[:k])
		// Pad the tail to the block size; the rest of the lvol reads zeros.
		w := buf[:k]
		if bs := dev.BlockSize(); k%bs != 0 {
			pad := bs - k%bs
			clear(buf[k : k+pad])
			w = buf[:k+pad]
		}
		if _, err := dev.WriteAt(w, off); err != nil {
			return "", fmt.Errorf("write image at %d: %w", off, err)
		}
		off += int64(k)
	}
	if err := dev.Flush(); err != nil {
		return "", fmt.Errorf("flush image: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
