package target

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"syscall"

	"github.com/faultline/faultline/engine/bdev"
	"github.com/faultline/faultline/engine/bdev/aio"
	"github.com/faultline/faultline/engine/bdev/malloc"
	"github.com/faultline/faultline/engine/jsonrpc"
	"github.com/faultline/faultline/engine/lvstore"
)

type aioCreateParams struct {
	Name      string `json:"name"`
	Filename  string `json:"filename"`
	BlockSize int    `json:"block_size"`
	ReadOnly  bool   `json:"readonly"`
	Fallocate bool   `json:"fallocate"`
	UUID      string `json:"uuid"`

	// defaultBlockSize lets refengine's own disks (CreateAio with block
	// size 0) keep aio's 512-byte default where SPDK would refuse a
	// regular file without block_size.
	defaultBlockSize bool
}

type mallocCreateParams struct {
	NumBlocks         uint64 `json:"num_blocks"`
	BlockSize         int    `json:"block_size"`
	Name              string `json:"name"`
	UUID              string `json:"uuid"`
	OptimalIOBoundary uint32 `json:"optimal_io_boundary"`
	MDSize            uint32 `json:"md_size"`
	MDInterleave      bool   `json:"md_interleave"`
	DIFType           int    `json:"dif_type"`
	DIFIsHeadOfMD     bool   `json:"dif_is_head_of_md"`
	PhysicalBlockSize uint32 `json:"physical_block_size"`
	DIFPIFormat       int    `json:"dif_pi_format"`
	NumaID            int    `json:"numa_id"`
}

type nameParams struct {
	Name string `json:"name"`
}

func (t *Target) baseHandlers(m map[string]jsonrpc.Handler) {
	m["bdev_aio_create"] = method(t, decodeLvol, req("name", "filename"), func(ctx context.Context, p *aioCreateParams) (any, error) {
		if err := t.createAioLocked(p); err != nil {
			return nil, err
		}
		return p.Name, nil
	})
	m["bdev_aio_delete"] = method(t, decodeLvol, req("name"), func(ctx context.Context, p *nameParams) (any, error) {
		return true, t.deleteBaseLocked(p.Name, productAio)
	})
	m["bdev_malloc_create"] = method(t, decodeLvol, req("num_blocks", "block_size"), func(ctx context.Context, p *mallocCreateParams) (any, error) {
		return t.createMallocLocked(p)
	})
	m["bdev_malloc_delete"] = method(t, decodeLvol, req("name"), func(ctx context.Context, p *nameParams) (any, error) {
		return true, t.deleteBaseLocked(p.Name, productMalloc)
	})
}

// CreateAio registers an aio bdev over filename (as bdev_aio_create) and
// examines it for an lvstore.
func (t *Target) CreateAio(name, filename string, blockSize int) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.createAioLocked(&aioCreateParams{Name: name, Filename: filename, BlockSize: blockSize, defaultBlockSize: true}); err != nil {
		return fmt.Errorf("create aio bdev %s over %s: %w", name, filename, err)
	}
	return nil
}

func (t *Target) createAioLocked(p *aioCreateParams) error {
	if p.Name == "" || p.Filename == "" {
		return errInval
	}
	if t.nameTakenLocked(p.Name) {
		return errnoError(syscall.EEXIST)
	}
	// The resolved path is opened: what was checked, unless a directory of
	// it is swapped in between (which takes write access to an allowed
	// directory).
	path, err := t.CheckHostPath(p.Filename)
	if err != nil {
		t.log.Warn("bdev_aio_create refused", "name", p.Name, "filename", p.Filename, "err", err)
		return err
	}
	id := p.UUID
	if id == "" {
		abs, err := filepath.Abs(p.Filename)
		if err != nil {
			abs = p.Filename
		}
		id = stableUUID("aio:" + abs)
	} else if !validUUID(id) {
		return errInval
	}
	// SPDK (module/bdev/aio/bdev_aio.c) takes the block size of a block
	// device when none is given and refuses a regular file (EINVAL); a
	// given size must not be below the device's.
	override := p.BlockSize != 0
	if !p.defaultBlockSize {
		detected, err := aio.DetectBlockSize(path)
		if err != nil {
			t.log.Warn("bdev_aio_create failed", "name", p.Name, "filename", p.Filename, "err", err)
			return syncError(err)
		}
		switch {
		case p.BlockSize == 0 && detected == 0:
			t.log.Warn("bdev_aio_create: block size could not be auto-detected", "name", p.Name, "filename", p.Filename)
			return errInval
		case p.BlockSize == 0:
			p.BlockSize = detected
		case p.BlockSize < detected:
			return errInval
		}
	}
	dev, err := aio.Open(path, aio.Options{BlockSize: p.BlockSize, ReadOnly: p.ReadOnly})
	if err != nil {
		t.log.Warn("bdev_aio_create failed", "name", p.Name, "filename", p.Filename, "err", err)
		if _, ok := errnoOf(err); ok {
			return syncError(err)
		}
		return errInval
	}
	filename, blockSize, readOnly, fallocate := p.Filename, dev.BlockSize(), p.ReadOnly, p.Fallocate
	b := &baseBdev{name: p.Name, uuid: id, product: productAio, dev: dev, driver: func() map[string]any {
		return map[string]any{"aio": map[string]any{
			"filename": filename, "block_size_override": override, "readonly": readOnly,
			"fallocate": fallocate,
		}}
	}}
	t.addBaseLocked(b)
	t.log.Info("aio bdev created", "name", p.Name, "filename", p.Filename, "size", dev.Size(), "block_size", blockSize)
	t.examineLocked(b)
	return nil
}

// examineLocked loads the lvstore on a new base bdev, if it holds one, and
// so brings its lvols back as bdevs (SPDK's "examine"). A base that
// bdev_error_create named is claimed by its error bdev first, and the
// lvstore is looked for there.
func (t *Target) examineLocked(b *baseBdev) {
	if t.layerErrorLocked(b) {
		return
	}
	s, err := lvstore.Open(b.dev, t.resolverLocked(), lvstore.WithLogger(t.log.With("lvstore_bdev", b.name)))
	if errors.Is(err, lvstore.ErrNotFound) {
		return
	}
	if err != nil {
		t.log.Error("examine: lvstore on bdev cannot be loaded", "bdev", b.name, "err", err)
		return
	}
	if _, dup := t.storeByNameLocked(s.Name()); dup || t.stores[s.UUID()] != nil {
		t.log.Error("examine: lvstore name or uuid already loaded; not loading this one", "bdev", b.name, "lvstore", s.Name(), "uuid", s.UUID())
		s.Close()
		return
	}
	t.stores[s.UUID()] = s
	b.store = s
	n := 0
	for _, lv := range s.Lvols() {
		n++
		t.announceLocked(lv.UUID(), lv)
	}
	t.log.Info("examine: lvstore loaded", "bdev", b.name, "lvstore", s.Name(), "uuid", s.UUID(), "lvols", n)
}

func (t *Target) createMallocLocked(p *mallocCreateParams) (string, error) {
	if p.BlockSize < 512 || p.BlockSize%512 != 0 || p.NumBlocks == 0 {
		return "", errInval
	}
	if p.MDSize != 0 || p.DIFType != 0 {
		return "", errnoError(syscall.ENOTSUP)
	}
	name := p.Name
	if name == "" {
		for i := 0; ; i++ {
			name = fmt.Sprintf("Malloc%d", i)
			if !t.nameTakenLocked(name) {
				break
			}
		}
	}
	if t.nameTakenLocked(name) {
		return "", errnoError(syscall.EEXIST)
	}
	id := p.UUID
	if id == "" {
		id = newUUID()
	} else if !validUUID(id) {
		return "", errInval
	}
	dev, err := malloc.New(p.NumBlocks, p.BlockSize)
	if err != nil {
		return "", syncErrorOr(err, syscall.EINVAL)
	}
	b := &baseBdev{name: name, uuid: id, product: productMalloc, dev: dev, ioBoundary: p.OptimalIOBoundary}
	t.addBaseLocked(b)
	t.log.Info("malloc bdev created", "name", name, "size", dev.Size())
	t.layerErrorLocked(b)
	return name, nil
}

// syncErrorOr is syncError with a fallback errno for errors without one.
func syncErrorOr(err error, fallback syscall.Errno) *jsonrpc.Error {
	if _, ok := errnoOf(err); ok {
		return syncError(err)
	}
	return errnoError(fallback)
}

// deleteBaseLocked deletes an aio, malloc or error bdev. Whatever holds it
// lets go first (hotRemoveLocked): its lvstore, if any, is unloaded (not
// destroyed), a raid loses the member, an export stops.
func (t *Target) deleteBaseLocked(name, product string) error {
	b, ok := t.bdevs[name]
	if !ok || b.product != product {
		return errNoDevice
	}
	if err := t.checkRemovableLocked(baseView(b)); err != nil {
		return err
	}
	t.hotRemoveLocked(baseView(b))
	delete(t.bdevs, name)
	if err := b.dev.Close(); err != nil {
		t.log.Warn("close bdev", "name", name, "err", err)
	}
	t.log.Info("bdev deleted", "name", name)
	return nil
}

// Bdev returns the device of a bdev by name, alias or UUID, for in-process
// users (the instance manager).
func (t *Target) Bdev(name string) (bdev.Device, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	v, ok := t.lookupLocked(name)
	if !ok {
		return nil, false
	}
	return v.dev, true
}
