package target

import (
	"context"
	"errors"
	"syscall"
	"time"

	"github.com/faultline/faultline/engine/jsonrpc"
	"github.com/faultline/faultline/engine/nbd"
)

// remoteDialTimeout bounds the NBD handshake of bdev_remote_attach.
const remoteDialTimeout = 10 * time.Second

type remoteAttachParams struct {
	Name       string `json:"name"`
	Address    string `json:"address"`
	ExportName string `json:"export_name"`
	UUID       string `json:"uuid"`
	// AccessKey opens a protected export (nbd_export_start "access_key")
	// with the key derived from this node's cluster credential, which is
	// the serving node's too.
	AccessKey bool `json:"access_key"`
}

// remoteHandlers are extensions: a remote bdev is another node's NBD
// export, used as a raid1 member or a copy destination.
func (t *Target) remoteHandlers(m map[string]jsonrpc.Handler) {
	m["bdev_remote_attach"] = unlocked(decodeLvol, req("name", "address", "export_name"), func(ctx context.Context, p *remoteAttachParams) (any, error) {
		res, err := t.attachRemote(ctx, p)
		if err == nil {
			t.mu.Lock()
			if !t.closed && len(t.configuring) > 0 {
				t.settleConfiguringLocked() // a raid may wait for this bdev
			}
			t.mu.Unlock()
		}
		return res, err
	})
	m["bdev_remote_detach"] = method(t, decodeLvol, req("name"), func(ctx context.Context, p *nameParams) (any, error) {
		b, ok := t.bdevs[p.Name]
		if !ok || b.product != productRemote {
			return nil, errNoDevice
		}
		if err := t.checkRemovableLocked(baseView(b)); err != nil {
			return nil, err
		}
		t.hotRemoveLocked(baseView(b))
		delete(t.bdevs, p.Name)
		if err := b.dev.Close(); err != nil {
			t.log.Warn("close remote bdev", "name", p.Name, "err", err)
		}
		t.log.Info("remote bdev detached", "name", p.Name)
		return true, nil
	})
}

func (t *Target) attachRemote(ctx context.Context, p *remoteAttachParams) (any, error) {
	if p.UUID != "" && !validUUID(p.UUID) {
		return nil, errInval
	}
	key, err := t.exportKey(p.AccessKey, p.ExportName)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	taken := t.nameTakenLocked(p.Name)
	t.mu.Unlock()
	if taken {
		return nil, errnoError(syscall.EEXIST)
	}
	// Dial without the lock: the peer may be slow or gone.
	dctx, cancel := context.WithTimeout(ctx, remoteDialTimeout)
	defer cancel()
	client, err := nbd.DialWith(dctx, "tcp", p.Address, p.ExportName, nbd.DialOptions{Source: t.source, Key: key})
	if err != nil {
		t.log.Warn("bdev_remote_attach failed", "name", p.Name, "address", p.Address, "export", p.ExportName, "access_key", p.AccessKey, "err", err)
		if e, ok := errnoOf(err); ok {
			return nil, errnoError(e)
		}
		if errors.Is(err, nbd.ErrRefused) {
			return nil, &jsonrpc.Error{Code: -int(syscall.EACCES), Message: err.Error()}
		}
		return nil, &jsonrpc.Error{Code: -int(syscall.ENODEV), Message: err.Error()}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		client.Close()
		return nil, errClosed
	}
	if t.nameTakenLocked(p.Name) {
		client.Close()
		return nil, errnoError(syscall.EEXIST)
	}
	id := p.UUID
	if id == "" {
		id = newUUID()
	}
	address, export, protected := p.Address, p.ExportName, p.AccessKey
	t.addBaseLocked(&baseBdev{name: p.Name, uuid: id, product: productRemote, dev: client, driver: func() map[string]any {
		return map[string]any{"remote": map[string]any{"address": address, "export_name": export, "read_only": client.ReadOnly(), "access_key": protected}}
	}})
	t.log.Info("remote bdev attached", "name", p.Name, "address", address, "export", export, "size", client.Size())
	return p.Name, nil
}
