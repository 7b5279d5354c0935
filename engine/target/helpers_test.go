package target

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/faultline/faultline/engine/jsonrpc"
)

// fixture is a target with one 64 MiB aio disk "disk0" and, unless bare,
// an lvstore "lvs0" with 1 MiB clusters on it.
type fixture struct {
	t    *testing.T
	tgt  *Target
	disk string
}

func newFixture(t *testing.T, withLvstore bool) *fixture {
	t.Helper()
	dir := t.TempDir()
	disk := filepath.Join(dir, "disk0.img")
	f, err := os.Create(disk)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(64 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	fx := &fixture{t: t, tgt: New(Options{}), disk: disk}
	t.Cleanup(func() { fx.tgt.Close() })
	fx.must("bdev_aio_create", map[string]any{"name": "disk0", "filename": disk, "block_size": 512}, nil)
	if withLvstore {
		fx.must("bdev_lvol_create_lvstore", map[string]any{"bdev_name": "disk0", "lvs_name": "lvs0", "cluster_sz": 1 << 20}, nil)
	}
	return fx
}

// call runs a method with params given as a Go value or a raw JSON string.
func (fx *fixture) call(method string, params any, result any) error {
	if s, ok := params.(string); ok {
		params = json.RawMessage(s)
	}
	return fx.tgt.Call(context.Background(), method, params, result)
}

func (fx *fixture) must(method string, params any, result any) {
	fx.t.Helper()
	if err := fx.call(method, params, result); err != nil {
		fx.t.Fatalf("%s %v: %v", method, params, err)
	}
}

// lvol creates a thin lvol of sizeMiB in lvs0 and returns its UUID.
func (fx *fixture) lvol(name string, sizeMiB int) string {
	fx.t.Helper()
	var id string
	fx.must("bdev_lvol_create", map[string]any{"lvs_name": "lvs0", "lvol_name": name, "size_in_mib": sizeMiB, "thin_provision": true}, &id)
	return id
}

// rpcCode returns the JSON-RPC error code and message of err.
func rpcCode(err error) (int, string, bool) {
	var e *jsonrpc.Error
	if errors.As(err, &e) {
		return e.Code, e.Message, true
	}
	return 0, "", false
}

func (fx *fixture) write(bdevName string, off int64, data []byte) {
	fx.t.Helper()
	dev, ok := fx.tgt.Bdev(bdevName)
	if !ok {
		fx.t.Fatalf("bdev %s not found", bdevName)
	}
	if _, err := dev.WriteAt(data, off); err != nil {
		fx.t.Fatalf("write %s: %v", bdevName, err)
	}
	if err := dev.Flush(); err != nil {
		fx.t.Fatalf("flush %s: %v", bdevName, err)
	}
}

func (fx *fixture) read(bdevName string, off int64, n int) []byte {
	fx.t.Helper()
	dev, ok := fx.tgt.Bdev(bdevName)
	if !ok {
		fx.t.Fatalf("bdev %s not found", bdevName)
	}
	buf := make([]byte, n)
	if _, err := dev.ReadAt(buf, off); err != nil {
		fx.t.Fatalf("read %s: %v", bdevName, err)
	}
	return buf
}

func pattern(seed byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7)
	}
	return b
}
