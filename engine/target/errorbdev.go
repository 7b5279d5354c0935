package target

import (
	"context"
	"syscall"

	"github.com/faultline/faultline/engine/bdev/errinject"
	"github.com/faultline/faultline/engine/jsonrpc"
)

// productError is what SPDK's error module names its bdevs' product.
const productError = "Error Injection Disk"

// errorPrefix names an error bdev after its base, as SPDK does.
const errorPrefix = "EE_"

type errorCreateParams struct {
	BaseName string `json:"base_name"`
	UUID     string `json:"uuid"`
}

type errorInjectParams struct {
	Name          string  `json:"name"`
	IOType        string  `json:"io_type"`
	ErrorType     string  `json:"error_type"`
	Num           *uint32 `json:"num"` // default 1
	QueueDepth    uint64  `json:"queue_depth"`
	CorruptOffset uint64  `json:"corrupt_offset"`
	CorruptValue  uint8   `json:"corrupt_value"`
}

// errorIOTypes are the io_type values SPDK v24.09 decodes; "all" and
// "clear" are handled apart.
var errorIOTypes = map[string]errinject.IOType{
	"read": errinject.Read, "write": errinject.Write, "flush": errinject.Flush, "unmap": errinject.Unmap,
}

// errorKinds are the error_type values; "pending" decodes but is not
// implemented (the request would wait for a bdev reset, which refengine
// has not got).
var errorKinds = map[string]errinject.Kind{
	"failure": errinject.Failure, "corrupt_data": errinject.CorruptData, "nomem": errinject.NoMem, "pending": 0,
}

// errDecode is SPDK's reply to params the error module cannot decode,
// an unknown io_type or error_type included.
var errDecode = &jsonrpc.Error{Code: decodeLvol, Message: jsonrpc.DecodeFailed}

func (t *Target) errorHandlers(m map[string]jsonrpc.Handler) {
	m["bdev_error_create"] = method(t, decodeLvol, req("base_name"), func(ctx context.Context, p *errorCreateParams) (any, error) {
		if p.UUID != "" && !validUUID(p.UUID) {
			return nil, errDecode
		}
		return true, t.createErrorLocked(p.BaseName, p.UUID)
	})
	m["bdev_error_delete"] = method(t, decodeLvol, req("name"), func(ctx context.Context, p *nameParams) (any, error) {
		return true, t.deleteErrorLocked(p.Name)
	})
	m["bdev_error_inject_error"] = method(t, decodeLvol, req("name", "io_type", "error_type"), func(ctx context.Context, p *errorInjectParams) (any, error) {
		return true, t.injectErrorLocked(p)
	})
}

// createErrorLocked remembers that base gets an error bdev and, when base
// exists, makes it at once. As in SPDK, a base that does not exist yet is
// not an error: the error bdev appears with it (layerErrorLocked).
func (t *Target) createErrorLocked(base, uuid string) error {
	if _, dup := t.errConfigs[base]; dup {
		return errnoError(syscall.EEXIST)
	}
	t.errConfigs[base] = uuid
	if _, ok := t.lookupLocked(base); !ok {
		t.log.Info("error bdev deferred until its base appears", "base", base)
		return nil
	}
	if err := t.makeErrorLocked(base); err != nil {
		delete(t.errConfigs, base)
		return err
	}
	return nil
}

// layerErrorLocked puts the configured error bdev on a base bdev that just
// appeared, before anything examines the base, and examines the error bdev
// instead. It reports whether it did.
func (t *Target) layerErrorLocked(b *baseBdev) bool {
	if _, ok := t.errConfigs[b.name]; !ok {
		return false
	}
	if err := t.makeErrorLocked(b.name); err != nil {
		t.log.Error("error bdev on a new base bdev", "base", b.name, "err", err)
		return false
	}
	return true
}

// makeErrorLocked creates EE_<base> over an existing, unclaimed base and
// examines it for an lvstore.
func (t *Target) makeErrorLocked(base string) error {
	v, _ := t.lookupLocked(base)
	if t.claimOf(v) != "" {
		// SPDK's part module fails its claim with -1.
		return errnoError(syscall.EPERM)
	}
	name := errorPrefix + base
	if t.nameTakenLocked(name) {
		return errnoError(syscall.EEXIST)
	}
	id := t.errConfigs[base]
	if id == "" {
		id = stableUUID("error:" + v.uuid)
	}
	dev := errinject.New(v.dev)
	b := &baseBdev{name: name, uuid: id, product: productError, dev: dev, under: v.name, driver: func() map[string]any {
		s := dev.Stats()
		return map[string]any{"error_disk": map[string]any{"base_bdev": base, "fired": s.Fired, "armed": s.Armed}}
	}}
	t.claimLocked(v.name, name, claimExclusive)
	t.addBaseLocked(b)
	t.log.Info("error bdev created", "name", name, "base", base)
	t.examineLocked(b)
	return nil
}

// deleteErrorLocked deletes an error bdev, as its lvstore's base bdev would
// be deleted, and releases its base.
func (t *Target) deleteErrorLocked(name string) error {
	b, ok := t.bdevs[name]
	if !ok || b.product != productError {
		return errNoDevice
	}
	if err := t.deleteBaseLocked(name, productError); err != nil {
		return err
	}
	t.forgetErrorLocked(b)
	return nil
}

// dropErrorLocked deletes error bdev b, whose holders have let go, when
// its base goes away. Its configuration goes with it, as in SPDK, whose
// error bdev forgets it when destructed (module/bdev/error/vbdev_error.c
// vbdev_error_destruct), so the error bdev does not come back with its
// base.
func (t *Target) dropErrorLocked(b *baseBdev) {
	delete(t.bdevs, b.name)
	if err := b.dev.Close(); err != nil {
		t.log.Warn("close bdev", "name", b.name, "err", err)
	}
	t.forgetErrorLocked(b)
	t.log.Info("error bdev deleted: its base bdev is going away", "name", b.name, "base", b.under)
}

// forgetErrorLocked releases a deleted error bdev's base and its
// configuration.
func (t *Target) forgetErrorLocked(b *baseBdev) {
	t.releaseLocked(b.under, b.name)
	for base := range t.errConfigs {
		if errorPrefix+base == b.name {
			delete(t.errConfigs, base)
		}
	}
}

// injectErrorLocked arms, or with io_type "clear" disarms, an error bdev.
func (t *Target) injectErrorLocked(p *errorInjectParams) error {
	kind, ok := errorKinds[p.ErrorType]
	if !ok {
		return errDecode
	}
	var types []errinject.IOType
	switch p.IOType {
	case "all":
		types = errinject.IOTypes[:]
	case "clear":
	default:
		typ, ok := errorIOTypes[p.IOType]
		if !ok {
			return errDecode
		}
		types = []errinject.IOType{typ}
	}
	if kind == errinject.CorruptData && p.CorruptValue == 0 {
		return errInval
	}
	b, ok := t.bdevs[p.Name]
	if !ok || b.product != productError {
		return errNoDevice
	}
	dev := b.dev.(*errinject.Device)
	if p.IOType == "clear" {
		dev.Clear()
		t.log.Info("error injection cleared", "name", p.Name)
		return nil
	}
	if kind == 0 {
		return errnoError(syscall.ENOTSUP)
	}
	num := uint32(1)
	if p.Num != nil {
		num = *p.Num
	}
	rule := errinject.Rule{Kind: kind, Num: num, QueueDepth: p.QueueDepth, CorruptOffset: p.CorruptOffset, CorruptValue: p.CorruptValue}
	if err := dev.Arm(rule, types...); err != nil {
		return syncError(err)
	}
	t.log.Info("error injection armed", "name", p.Name, "io_type", p.IOType, "error_type", p.ErrorType, "num", num)
	return nil
}
