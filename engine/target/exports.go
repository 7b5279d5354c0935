package target

import (
	"context"
	"syscall"

	"github.com/faultline/faultline/engine/jsonrpc"
	"github.com/faultline/faultline/engine/nbd"
)

type exportStartParams struct {
	BdevName   string `json:"bdev_name"`
	ExportName string `json:"export_name"`
	ReadOnly   bool   `json:"read_only"`
	// AccessKey protects the export with the key derived from the node's
	// cluster credential (credential.Token.ExportKey of the export name):
	// only holders of the credential (the volume's engine, rebuild peers)
	// may open it. The key itself never travels over JSON-RPC.
	AccessKey bool `json:"access_key"`
}

type exportStopParams struct {
	ExportName string `json:"export_name"`
}

// nbdHandlers are extensions: SPDK's nbd_start_disk hands a bdev to the
// kernel; refengine serves it over the network instead.
func (t *Target) nbdHandlers(m map[string]jsonrpc.Handler) {
	m["nbd_export_start"] = method(t, decodeLvol, req("bdev_name"), func(ctx context.Context, p *exportStartParams) (any, error) {
		v, ok := t.lookupLocked(p.BdevName)
		if !ok {
			return nil, errNoDevice
		}
		name := p.ExportName
		if name == "" {
			name = p.BdevName
		}
		key, err := t.exportKey(p.AccessKey, name)
		if err != nil {
			return nil, err
		}
		if _, dup := t.exports[name]; dup {
			return nil, errnoError(syscall.EEXIST)
		}
		if v.base != nil && v.base.store != nil {
			return nil, errnoError(syscall.EBUSY) // the lvstore owns its base bdev
		}
		// A writer beside a raid or another writer would bypass it; readers
		// are always welcome.
		if !p.ReadOnly && t.claimOf(v) == claimExclusive {
			return nil, errnoError(syscall.EBUSY)
		}
		if err := t.nbd.AddExport(name, v.dev, nbd.ExportOptions{ReadOnly: p.ReadOnly, Description: v.name, Key: key}); err != nil {
			return nil, syncErrorOr(err, syscall.EEXIST)
		}
		typ := claimExclusive
		if p.ReadOnly {
			typ = claimReadOnly
		}
		t.claimLocked(v.name, "nbd:"+name, typ)
		t.exports[name] = v.name
		t.log.Info("nbd export started", "export", name, "bdev", v.name, "read_only", p.ReadOnly, "access_key", p.AccessKey)
		return name, nil
	})
	m["nbd_export_stop"] = method(t, decodeLvol, req("export_name"), func(ctx context.Context, p *exportStopParams) (any, error) {
		if _, ok := t.exports[p.ExportName]; !ok {
			return nil, errNoDevice
		}
		t.stopExportLocked(p.ExportName)
		return true, nil
	})
	m["nbd_get_exports"] = method(t, decodeLvol, nil, func(ctx context.Context, p *struct{}) (any, error) {
		out := []map[string]any{}
		for _, e := range t.nbd.Exports() {
			out = append(out, map[string]any{
				"export_name": e.Name,
				"bdev_name":   t.exports[e.Name],
				"read_only":   e.ReadOnly,
				"size":        e.Size,
				"connections": e.Connections,
				"access_key":  e.Protected,
			})
		}
		return out, nil
	})
}

// exportKey is the access key of the export called name when want is set
// (nbd_export_start and bdev_remote_attach "access_key"), "" otherwise. A
// node without a cluster credential cannot make one: asking is an error
// rather than an export left open or an attach sure to be refused.
func (t *Target) exportKey(want bool, name string) (string, error) {
	if !want {
		return "", nil
	}
	if t.cred.IsZero() {
		return "", &jsonrpc.Error{Code: -int(syscall.EINVAL), Message: "access_key: this node has no cluster credential (--cluster-token-file)"}
	}
	return t.cred.ExportKey(name), nil
}

// stopExportLocked removes an export; live connections finish their
// requests in flight and are closed.
func (t *Target) stopExportLocked(name string) {
	bdevName := t.exports[name]
	if err := t.nbd.RemoveExport(name); err != nil {
		t.log.Warn("remove nbd export", "export", name, "err", err)
	}
	delete(t.exports, name)
	t.releaseLocked(bdevName, "nbd:"+name)
	t.log.Info("nbd export stopped", "export", name, "bdev", bdevName)
}
