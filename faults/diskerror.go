package faults

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/engine/jsonrpc"
)

// DiskErrorOptions choose what a disk-error fault breaks. The zero value
// fails every write to the node's first disk until Heal.
type DiskErrorOptions struct {
	// Disk is the node's disk (the aio bdev named by refengine node
	// --disk); "" is the first one that has an error bdev.
	Disk string
	// IOType is read, write, unmap, flush or all; "" is write.
	IOType string
	// Count is how many requests fail; 0 is every one until Heal.
	Count uint32
	// Kind is failure (EIO), corrupt_data (a byte of the data flipped) or
	// nomem (passes; SPDK retries it); "" is failure.
	Kind string
}

// DiskError makes one disk of a node fail I/O, through the error bdev
// (SPDK's bdev_error_inject_error) a node run with --disk-error-injection
// keeps between each disk and its lvstore. Every lvol on the disk, so
// every replica there, sees the errors; what the engines and the control
// plane make of them is what a scenario checks. Heal disarms the rule
// and records, as the window's "fired" detail, how many requests it hit.
func DiskError(d NodeLister, node string, o DiskErrorOptions) Fault {
	if o.IOType == "" {
		o.IOType = "write"
	}
	if o.Kind == "" {
		o.Kind = "failure"
	}
	return &diskError{d: d, node: node, o: o}
}

// NodeLister says how to reach each node; every cluster.Driver is one.
type NodeLister interface {
	Nodes() []cluster.Node
}

var _ NodeLister = cluster.Driver(nil)

type diskError struct {
	d    NodeLister
	node string
	o    DiskErrorOptions

	mu       sync.Mutex
	bdev     string // the armed error bdev, once Inject got that far
	baseline uint64 // its fired count for IOType before arming
	fired    string // how many fired, once healed
}

func (f *diskError) Name() string { return "disk-error" }

func (f *diskError) Params() map[string]string {
	count := "until-healed"
	if f.o.Count > 0 {
		count = strconv.FormatUint(uint64(f.o.Count), 10)
	}
	disk := f.o.Disk
	if disk == "" {
		disk = "first"
	}
	return map[string]string{"node": f.node, "disk": disk, "io_type": f.o.IOType, "count": count, "kind": f.o.Kind}
}

// HealDetail reports how many requests the injection hit.
func (f *diskError) HealDetail() map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fired == "" {
		return nil
	}
	return map[string]string{"fired": f.fired}
}

// errorDisk is an error bdev as bdev_get_bdevs shows it.
type errorDisk struct {
	Name           string `json:"name"`
	DriverSpecific struct {
		ErrorDisk *struct {
			BaseBdev string            `json:"base_bdev"`
			Fired    map[string]uint64 `json:"fired"`
		} `json:"error_disk"`
	} `json:"driver_specific"`
}

// firedFor sums the fired counts an io_type covers.
func (e errorDisk) firedFor(ioType string) uint64 {
	var n uint64
	for t, c := range e.DriverSpecific.ErrorDisk.Fired {
		if ioType == "all" || t == ioType {
			n += c
		}
	}
	return n
}

// ErrNoErrorBdev means the node has no error bdev over the disk: it does
// not run with --disk-error-injection.
var ErrNoErrorBdev = errors.New("no error bdev over the disk (is the node running refengine node --disk-error-injection?)")

// dial connects to the node's JSON-RPC server (cluster.DialNode).
func (f *diskError) dial(ctx context.Context) (*jsonrpc.Client, error) {
	n, err := cluster.NodeNamed(f.d, f.node)
	if err != nil {
		return nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return cluster.DialNode(dctx, f.d, n)
}

// find returns the error bdev over the chosen disk.
func (f *diskError) find(ctx context.Context, c *jsonrpc.Client, disk string) (errorDisk, error) {
	var bdevs []errorDisk
	if err := c.Call(ctx, "bdev_get_bdevs", nil, &bdevs); err != nil {
		return errorDisk{}, fmt.Errorf("list bdevs of node %s: %w", f.node, err)
	}
	for _, b := range bdevs {
		if e := b.DriverSpecific.ErrorDisk; e != nil && (disk == "" || e.BaseBdev == disk) {
			return b, nil
		}
	}
	return errorDisk{}, fmt.Errorf("node %s disk %q: %w", f.node, disk, ErrNoErrorBdev)
}

func (f *diskError) Inject(ctx context.Context) error {
	c, err := f.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	ee, err := f.find(ctx, c, f.o.Disk)
	if err != nil {
		return err
	}
	num := f.o.Count
	if num == 0 {
		num = math.MaxUint32
	}
	params := map[string]any{"name": ee.Name, "io_type": f.o.IOType, "error_type": f.o.Kind, "num": num}
	if f.o.Kind == "corrupt_data" {
		params["corrupt_value"] = 0xff
	}
	f.mu.Lock()
	f.bdev, f.baseline, f.fired = ee.Name, ee.firedFor(f.o.IOType), ""
	f.mu.Unlock()
	if err := c.Call(ctx, "bdev_error_inject_error", params, nil); err != nil {
		return fmt.Errorf("arm %s on node %s: %w", ee.Name, f.node, err)
	}
	return nil
}

// Heal disarms every rule of the error bdev (SPDK v24.09's io_type
// "clear", which still wants an error_type) and counts what fired.
func (f *diskError) Heal(ctx context.Context) error {
	f.mu.Lock()
	name, baseline := f.bdev, f.baseline
	f.mu.Unlock()
	if name == "" {
		return nil // Inject never armed anything
	}
	c, err := f.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	clear := map[string]any{"name": name, "io_type": "clear", "error_type": "failure"}
	if err := c.Call(ctx, "bdev_error_inject_error", clear, nil); err != nil {
		return fmt.Errorf("clear %s on node %s: %w", name, f.node, err)
	}
	var bdevs []errorDisk
	fired := "unknown"
	if err := c.Call(ctx, "bdev_get_bdevs", map[string]any{"name": name}, &bdevs); err == nil && len(bdevs) == 1 && bdevs[0].DriverSpecific.ErrorDisk != nil {
		// A node restarted since Inject has a new error bdev with fresh
		// counters: then how many fired is not known.
		if now := bdevs[0].firedFor(f.o.IOType); now >= baseline {
			fired = strconv.FormatUint(now-baseline, 10)
		}
	}
	f.mu.Lock()
	f.fired = fired
	f.mu.Unlock()
	return nil
}

// Fired is how many requests the injection hit, known once healed.
func (f *diskError) Fired() (uint64, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := strconv.ParseUint(f.fired, 10, 64)
	return n, err == nil
}
