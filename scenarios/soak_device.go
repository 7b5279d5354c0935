package scenarios

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/faultline/faultline/engine/api"
	"github.com/faultline/faultline/engine/client"
	"github.com/faultline/faultline/engine/nbd"
	"github.com/faultline/faultline/workload"
)

// errNoFrontend is the error of a write issued while the volume has no
// frontend to connect to (detached, attaching, its node down).
var errNoFrontend = errors.New("volume has no frontend to connect to")

// reconnectingDevice is a volume's frontend that outlives the frontend: a
// workload writes through it across engine crashes and node stops. When
// the connection dies, the next request looks up the volume's current
// endpoint and connects again; requests fail (and the workload records
// them as failed) while there is none.
//
// It also keeps what the workload's history cannot know: a flush vouches
// only for writes acknowledged on its own connection. A write acknowledged
// on a connection that died before a flush covered it may be gone with
// the engine or node that acknowledged it, whatever a later flush on a new
// connection says; Orphaned lists those writes, and orphansUnknown makes
// them unknown-outcome writes for the history checker.
type reconnectingDevice struct {
	endpoint func(context.Context) (string, error)
	ctx      context.Context
	size     int64

	mu         sync.Mutex
	conn       *nbd.Client
	reconnects int
	closed     bool
	seq        uint64
	pending    map[writeKey]uint64 // acknowledged on conn, not yet flushed → seq
	orphaned   map[writeKey]bool
}

// writeKey names one write: write ids are unique within a workload's
// history, and its writer id tells workloads apart.
type writeKey struct {
	Writer  uint32
	WriteID uint64
}

// reconnectDialTimeout bounds one connection attempt; a request that
// cannot connect fails with errNoFrontend and the workload backs off.
const reconnectDialTimeout = 5 * time.Second

// newReconnectingDevice returns a device of size bytes that connects to
// whatever endpoint returns, for as long as ctx lasts.
func newReconnectingDevice(ctx context.Context, size int64, endpoint func(context.Context) (string, error)) *reconnectingDevice {
	return &reconnectingDevice{endpoint: endpoint, ctx: ctx, size: size, pending: map[writeKey]uint64{}, orphaned: map[writeKey]bool{}}
}

// volumeEndpoint looks a volume's frontend up in the manager: its endpoint
// while it is attached, errNoFrontend otherwise.
func volumeEndpoint(c *client.Client, volume string) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		v, err := c.GetVolume(ctx, volume)
		if err != nil {
			return "", fmt.Errorf("%w: %w", errNoFrontend, err)
		}
		if v.Status.State != api.VolumeAttached || v.Status.Endpoint == "" {
			return "", fmt.Errorf("%w: volume %s is %s", errNoFrontend, volume, v.Status.State)
		}
		return v.Status.Endpoint, nil
	}
}

func (d *reconnectingDevice) Size() int64 { return d.size }

// current returns the live connection, connecting first when there is
// none. Concurrent callers wait for one attempt.
func (d *reconnectingDevice) current() (*nbd.Client, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, fmt.Errorf("%w: device closed", errNoFrontend)
	}
	if d.conn != nil {
		return d.conn, nil
	}
	ctx, cancel := context.WithTimeout(d.ctx, reconnectDialTimeout)
	defer cancel()
	ep, err := d.endpoint(ctx)
	if err != nil {
		return nil, err
	}
	c, err := dialEndpoint(ctx, ep)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errNoFrontend, err)
	}
	if c.Size() != d.size {
		c.Close()
		return nil, fmt.Errorf("%w: %s has %d bytes, want %d", errNoFrontend, ep, c.Size(), d.size)
	}
	d.conn = c
	d.reconnects++
	return c, nil
}

// drop forgets c after it failed with a lost connection: the writes it
// acknowledged and no flush covered become orphans.
func (d *reconnectingDevice) drop(c *nbd.Client, err error) {
	if !errors.Is(err, nbd.ErrDisconnected) {
		return // the server answered: the connection is fine
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.conn != c {
		return
	}
	c.Close()
	d.conn = nil
	for id := range d.pending {
		d.orphaned[id] = true
	}
	clear(d.pending)
}

func (d *reconnectingDevice) WriteAt(p []byte, off int64) (int, error) {
	c, err := d.current()
	if err != nil {
		return 0, err
	}
	n, err := c.WriteAt(p, off)
	if err != nil {
		d.drop(c, err)
		return n, err
	}
	h, derr := workload.Decode(p)
	if derr != nil {
		return n, nil // not a workload block: nothing to track
	}
	key := writeKey{h.Writer, h.WriteID}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.conn != c {
		// The connection died while this write was being acknowledged.
		d.orphaned[key] = true
		return n, nil
	}
	d.seq++
	d.pending[key] = d.seq
	return n, nil
}

// Flush flushes the current connection; on success every write it
// acknowledged before the flush began is durable.
func (d *reconnectingDevice) Flush() error {
	c, err := d.current()
	if err != nil {
		return err
	}
	d.mu.Lock()
	mark := d.seq
	d.mu.Unlock()
	if err := c.Flush(); err != nil {
		d.drop(c, err)
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.conn == c {
		for id, s := range d.pending {
			if s <= mark {
				delete(d.pending, id)
			}
		}
	}
	return nil
}

// Reconnects is how many connections the device has opened.
func (d *reconnectingDevice) Reconnects() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.reconnects
}

// Orphaned returns the writes acknowledged on a connection that died
// before a flush on it covered them.
func (d *reconnectingDevice) Orphaned() map[writeKey]bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return maps.Clone(d.orphaned)
}

// Close closes the connection; later requests fail.
func (d *reconnectingDevice) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	if d.conn == nil {
		return nil
	}
	err := d.conn.Close()
	d.conn = nil
	return err
}

// writeGate holds a workload's requests at a quiescent point without
// ending its run (a run that starts again would draw the same offsets
// again): hold waits for the requests in flight and blocks new ones until
// release. Requests held at the gate are pending in the history, which
// the history checker allows to land at any time.
type writeGate struct {
	mu       sync.Mutex
	cond     *sync.Cond
	held     bool
	inflight int
}

func newWriteGate() *writeGate {
	g := &writeGate{}
	g.cond = sync.NewCond(&g.mu)
	return g
}

func (g *writeGate) enter() {
	g.mu.Lock()
	for g.held {
		g.cond.Wait()
	}
	g.inflight++
	g.mu.Unlock()
}

func (g *writeGate) leave() {
	g.mu.Lock()
	g.inflight--
	g.cond.Broadcast()
	g.mu.Unlock()
}

// hold blocks new requests and returns once none is in flight.
func (g *writeGate) hold() {
	g.mu.Lock()
	g.held = true
	for g.inflight > 0 {
		g.cond.Wait()
	}
	g.mu.Unlock()
}

func (g *writeGate) release() {
	g.mu.Lock()
	g.held = false
	g.cond.Broadcast()
	g.mu.Unlock()
}

// gatedDevice is what a workload writes through: every request passes the
// gate. The soak's own flush at a quiescent point uses the device behind
// it directly.
type gatedDevice struct {
	gate *writeGate
	dev  workload.Device
}

func (d gatedDevice) WriteAt(p []byte, off int64) (int, error) {
	d.gate.enter()
	defer d.gate.leave()
	return d.dev.WriteAt(p, off)
}

func (d gatedDevice) Flush() error {
	d.gate.enter()
	defer d.gate.leave()
	return d.dev.Flush()
}

func (d gatedDevice) Size() int64 { return d.dev.Size() }

// orphansUnknown returns a copy of h in which the acknowledged writes in
// orphaned have an unknown outcome: they may have landed or not, and a
// flush on a later connection does not make them durable.
func orphansUnknown(h *workload.History, orphaned map[writeKey]bool) (*workload.History, error) {
	b, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("copy history: %w", err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("copy history: %w", err)
	}
	var ops []workload.Op
	if err := json.Unmarshal(doc["ops"], &ops); err != nil {
		return nil, fmt.Errorf("copy history: %w", err)
	}
	for i, op := range ops {
		if op.Kind == workload.OpWrite && op.Outcome == workload.OK && orphaned[writeKey{op.Writer, op.WriteID}] {
			ops[i].Outcome = workload.Unknown
			ops[i].Error = "acknowledged on a connection that died before a flush covered it"
		}
	}
	if doc["ops"], err = json.Marshal(ops); err != nil {
		return nil, fmt.Errorf("copy history: %w", err)
	}
	if b, err = json.Marshal(doc); err != nil {
		return nil, fmt.Errorf("copy history: %w", err)
	}
	out := workload.NewHistory(h.Volume(), h.BlockSize())
	if err := out.UnmarshalJSON(b); err != nil {
		return nil, fmt.Errorf("copy history: %w", err)
	}
	return out, nil
}
