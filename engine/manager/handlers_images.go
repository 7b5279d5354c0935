package manager

import (
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"

	"github.com/faultline/faultline/engine/api"
)

// MaxBackingImageSize bounds a backing image (uploads stop reading there).
const MaxBackingImageSize = api.MaxVolumeSize

func (m *Manager) listBackingImages(w http.ResponseWriter, r *http.Request) error {
	return listAll[api.BackingImage](m, w, api.KindBackingImage, nil)
}

func (m *Manager) getBackingImage(w http.ResponseWriter, r *http.Request) error {
	return getOne[api.BackingImage](m, w, r, api.KindBackingImage, false)
}

// createBackingImage copies a file on the manager's host, in one of
// Config.BackingImageDirs, into the manager's image store, computing its
// SHA-512 on the way. (Uploads need no such file.)
func (m *Manager) createBackingImage(w http.ResponseWriter, r *http.Request) error {
	var req api.BackingImageCreateRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	if err := req.Validate(); err != nil {
		return err
	}
	f, err := os.Open(req.SourcePath)
	if err != nil {
		return api.Invalid("backing image source: %v", err)
	}
	defer f.Close()
	// The check is on the file opened, so no link swapped in between can
	// redirect the copy.
	real, err := openedPath(f, req.SourcePath)
	if err != nil {
		return api.Invalid("backing image source: %v", err)
	}
	if err := checkWithin("backing image source", req.SourcePath, real, m.cfg.BackingImageDirs, "--backing-image-dir"); err != nil {
		return err
	}
	if st, err := f.Stat(); err != nil {
		return api.Invalid("backing image source: %v", err)
	} else if !st.Mode().IsRegular() {
		return api.Invalid("backing image source %s is not a regular file", req.SourcePath)
	}
	bi, err := m.storeBackingImage(req.Name, "file:"+req.SourcePath, f, req.SHA512)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, bi)
	return nil
}

// uploadBackingImage streams the request body into the image store. The
// optional ?sha512= is verified; on mismatch nothing is kept.
func (m *Manager) uploadBackingImage(w http.ResponseWriter, r *http.Request) error {
	name, err := pathName(r, api.KindBackingImage, false)
	if err != nil {
		return err
	}
	want := r.URL.Query().Get("sha512")
	if err := api.ValidateSHA512(want, true); err != nil {
		return err
	}
	body := http.MaxBytesReader(w, r.Body, MaxBackingImageSize)
	bi, err := m.storeBackingImage(name, "upload", body, want)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, bi)
	return nil
}

// storeBackingImage writes src to a temporary file (fsynced), checks size
// and checksum, renames it into place and records the image, in that order,
// so a failed or rejected creation leaves neither a file nor a record.
func (m *Manager) storeBackingImage(name, source string, src io.Reader, wantSHA string) (api.BackingImage, error) {
	m.biMu.Lock()
	defer m.biMu.Unlock()
	var exists bool
	if err := m.store.View(func(tx *Tx) error {
		_, ok, err := get[api.BackingImage](tx, api.KindBackingImage, name)
		exists = ok
		return err
	}); err != nil {
		return api.BackingImage{}, err
	}
	if exists {
		return api.BackingImage{}, api.Conflict("backing image %q already exists", name)
	}
	dst := m.backingImagePath(name)
	tmp, err := os.CreateTemp(filepath.Dir(dst), name+".*.tmp")
	if err != nil {
		return api.BackingImage{}, fmt.Errorf("create backing image %s: %w", name, err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	defer tmp.Close()
	h := sha512.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), src)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return api.BackingImage{}, api.Errorf(http.StatusRequestEntityTooLarge, "backing image is larger than %d bytes", MaxBackingImageSize)
		}
		return api.BackingImage{}, api.Invalid("read backing image %s: %v", name, err)
	}
	if n == 0 || n%512 != 0 {
		return api.BackingImage{}, api.Invalid("backing image %s is %d bytes: want a positive multiple of 512", name, n)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if wantSHA != "" && sum != wantSHA {
		return api.BackingImage{}, api.Invalid("backing image %s: sha512 mismatch: got %s, want %s", name, sum, wantSHA)
	}
	if err := tmp.Sync(); err != nil {
		return api.BackingImage{}, fmt.Errorf("sync backing image %s: %w", name, err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return api.BackingImage{}, fmt.Errorf("install backing image %s: %w", name, err)
	}
	if err := syncDir(filepath.Dir(dst)); err != nil {
		return api.BackingImage{}, err
	}
	bi := api.BackingImage{
		Name:   name,
		Spec:   api.BackingImageSpec{Source: source},
		Status: api.BackingImageStatus{State: api.BackingImageReady, Size: n, SHA512: sum},
	}
	err = m.store.Update(func(tx *Tx) error { return tx.Put(api.KindBackingImage, name, bi) })
	if err != nil {
		os.Remove(dst)
		return api.BackingImage{}, err
	}
	return bi, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}

// downloadBackingImage serves the verified image; nodes fetch it from here
// when they prepare it on a disk.
func (m *Manager) downloadBackingImage(w http.ResponseWriter, r *http.Request) error {
	name, err := pathName(r, api.KindBackingImage, false)
	if err != nil {
		return err
	}
	var bi api.BackingImage
	if err := m.store.View(func(tx *Tx) error {
		x, ok, err := get[api.BackingImage](tx, api.KindBackingImage, name)
		if err != nil {
			return err
		}
		if !ok {
			return api.NotFound(api.KindBackingImage, name)
		}
		bi = x
		return nil
	}); err != nil {
		return err
	}
	f, err := os.Open(m.backingImagePath(name))
	if err != nil {
		return fmt.Errorf("open backing image %s: %w", name, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stat backing image %s: %w", name, err)
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("X-Checksum-Sha512", bi.Status.SHA512)
	http.ServeContent(w, r, name+".img", st.ModTime(), f)
	return nil
}

func (m *Manager) deleteBackingImage(w http.ResponseWriter, r *http.Request) error {
	name, err := pathName(r, api.KindBackingImage, false)
	if err != nil {
		return err
	}
	m.biMu.Lock()
	defer m.biMu.Unlock()
	err = m.store.Update(func(tx *Tx) error {
		vols, err := list(tx, api.KindVolume, func(v api.Volume) bool { return v.Spec.BackingImage == name })
		if err != nil {
			return err
		}
		if len(vols) > 0 {
			return api.Conflict("backing image %q is used by volume %q", name, vols[0].Name)
		}
		ok, err := tx.Delete(api.KindBackingImage, name)
		if err != nil {
			return err
		}
		if !ok {
			return api.NotFound(api.KindBackingImage, name)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := os.Remove(m.backingImagePath(name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		m.log.Warn("remove backing image file", "name", name, "err", err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (m *Manager) listEngineImages(w http.ResponseWriter, r *http.Request) error {
	return listAll[api.EngineImage](m, w, api.KindEngineImage, nil)
}

func (m *Manager) getEngineImage(w http.ResponseWriter, r *http.Request) error {
	return getOne[api.EngineImage](m, w, r, api.KindEngineImage, false)
}

// createEngineImage registers a refengine binary. It must exist on the
// manager's host, in one of Config.EngineImageDirs, and be executable
// (local clusters share one filesystem; on Kubernetes the manager mounts the
// hosts' engine image directory).
func (m *Manager) createEngineImage(w http.ResponseWriter, r *http.Request) error {
	var req api.EngineImageCreateRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	if err := req.Validate(); err != nil {
		return err
	}
	// Engines run the resolved path, so a link re-pointed later cannot
	// make them run something from elsewhere.
	bin, err := confined("engine image binary", req.BinaryPath, m.cfg.EngineImageDirs, "--engine-image-dir")
	if err != nil {
		return err
	}
	st, err := os.Stat(bin)
	if err != nil {
		return api.Invalid("engine image binary: %v", err)
	}
	if !st.Mode().IsRegular() || st.Mode().Perm()&0o111 == 0 {
		return api.Invalid("engine image binary %s is not an executable file", req.BinaryPath)
	}
	ei := api.EngineImage{
		Name:   req.Name,
		Spec:   api.EngineImageSpec{Version: req.Version, BinaryPath: bin},
		Status: api.EngineImageStatus{State: api.EngineImageReady},
	}
	err = m.store.Update(func(tx *Tx) error {
		if _, ok, err := get[api.EngineImage](tx, api.KindEngineImage, req.Name); err != nil {
			return err
		} else if ok {
			return api.Conflict("engine image %q already exists", req.Name)
		}
		return tx.Put(api.KindEngineImage, ei.Name, ei)
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, ei)
	return nil
}

func (m *Manager) deleteEngineImage(w http.ResponseWriter, r *http.Request) error {
	name, err := pathName(r, api.KindEngineImage, false)
	if err != nil {
		return err
	}
	err = m.store.Update(func(tx *Tx) error {
		vols, err := list(tx, api.KindVolume, func(v api.Volume) bool {
			return v.Spec.EngineImage == name || v.Status.CurrentImage == name
		})
		if err != nil {
			return err
		}
		if len(vols) > 0 {
			return api.Conflict("engine image %q is used by volume %q", name, vols[0].Name)
		}
		ok, err := tx.Delete(api.KindEngineImage, name)
		if err != nil {
			return err
		}
		if !ok {
			return api.NotFound(api.KindEngineImage, name)
		}
		return nil
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
