package manager

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/faultline/faultline/engine/api"
	bolt "go.etcd.io/bbolt"
)

// bucketEvents holds the change stream: key = 8-byte big-endian seq.
const bucketEvents = "events"

// bucketSecrets holds backup target secret keys by target name. It is not a
// resource kind, so its writes make no events: a secret never reaches the
// change stream or an API answer.
const bucketSecrets = "backupTargetSecrets"

// DefaultEventRetention is how many events the store keeps; older ones are
// pruned and a reader asking for them gets 410 Gone.
const DefaultEventRetention = 1 << 20

// Store is the manager's state in bbolt: one bucket per resource kind
// (JSON values keyed by name) and the event log. Every Update appends one
// event per changed object in the same transaction, so the log and the
// objects can never disagree, not even after a crash.
type Store struct {
	db        *bolt.DB
	retention uint64

	mu      sync.Mutex
	changed chan struct{} // closed and replaced after every commit with events
	hooks   []func([]api.Event)
}

// OpenStore opens (creating if needed) the bbolt file at path.
func OpenStore(path string) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open manager store %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, k := range append([]string{bucketEvents, bucketSecrets}, api.Kinds...) {
			if _, err := tx.CreateBucketIfNotExists([]byte(k)); err != nil {
				return fmt.Errorf("create bucket %s: %w", k, err)
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("init manager store %s: %w", path, err)
	}
	return &Store{db: db, retention: DefaultEventRetention, changed: make(chan struct{})}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// OnCommit registers fn to be called (synchronously, after the commit) with
// the events of every successful Update that changed something.
func (s *Store) OnCommit(fn func([]api.Event)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hooks = append(s.hooks, fn)
}

// Changed returns a channel that is closed at the next commit with events.
func (s *Store) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// View runs fn in a read-only transaction.
func (s *Store) View(fn func(*Tx) error) error {
	return s.db.View(func(btx *bolt.Tx) error { return fn(&Tx{btx: btx}) })
}

// Update runs fn in a read-write transaction. If fn returns an error
// nothing is written. Events are published only after the commit.
func (s *Store) Update(fn func(*Tx) error) error {
	var events []api.Event
	err := s.db.Update(func(btx *bolt.Tx) error {
		tx := &Tx{btx: btx, write: true, now: time.Now().UTC(), retention: s.retention}
		if err := fn(tx); err != nil {
			return err
		}
		events = tx.events
		return nil
	})
	if err != nil || len(events) == 0 {
		return err
	}
	s.mu.Lock()
	close(s.changed)
	s.changed = make(chan struct{})
	hooks := s.hooks
	s.mu.Unlock()
	for _, h := range hooks {
		h(events)
	}
	return nil
}

// Tx is one store transaction.
type Tx struct {
	btx       *bolt.Tx
	write     bool
	now       time.Time
	retention uint64
	events    []api.Event
}

// Now is the transaction's timestamp (UTC), the same for all its events.
func (t *Tx) Now() time.Time {
	if t.now.IsZero() {
		return time.Now().UTC()
	}
	return t.now
}

func (t *Tx) bucket(kind string) (*bolt.Bucket, error) {
	b := t.btx.Bucket([]byte(kind))
	if b == nil {
		return nil, fmt.Errorf("store: no bucket for kind %q", kind)
	}
	return b, nil
}

// getRaw returns the stored JSON of kind/name, or nil.
func (t *Tx) getRaw(kind, name string) ([]byte, error) {
	b, err := t.bucket(kind)
	if err != nil {
		return nil, err
	}
	return b.Get([]byte(name)), nil
}

// Put stores obj under kind/name and appends a created or updated event.
// Storing an identical value is a no-op and produces no event.
func (t *Tx) Put(kind, name string, obj any) error {
	b, err := t.bucket(kind)
	if err != nil {
		return err
	}
	data, err := json.Marshal(obj)
	if err != nil {
		return fmt.Errorf("encode %s %s: %w", kind, name, err)
	}
	old := b.Get([]byte(name))
	if old != nil && bytes.Equal(old, data) {
		return nil
	}
	if err := b.Put([]byte(name), data); err != nil {
		return fmt.Errorf("store %s %s: %w", kind, name, err)
	}
	typ := api.EventUpdated
	if old == nil {
		typ = api.EventCreated
	}
	return t.appendEvent(kind, name, typ, data)
}

// Delete removes kind/name and appends a deleted event carrying the last
// value. It reports whether the object existed.
func (t *Tx) Delete(kind, name string) (bool, error) {
	b, err := t.bucket(kind)
	if err != nil {
		return false, err
	}
	old := b.Get([]byte(name))
	if old == nil {
		return false, nil
	}
	last := bytes.Clone(old)
	if err := b.Delete([]byte(name)); err != nil {
		return false, fmt.Errorf("delete %s %s: %w", kind, name, err)
	}
	return true, t.appendEvent(kind, name, api.EventDeleted, last)
}

func (t *Tx) appendEvent(kind, name, typ string, obj []byte) error {
	b, err := t.bucket(bucketEvents)
	if err != nil {
		return err
	}
	seq, err := b.NextSequence()
	if err != nil {
		return fmt.Errorf("next event seq: %w", err)
	}
	ev := api.Event{Seq: seq, Time: t.Now(), Kind: kind, Name: name, Type: typ, Object: json.RawMessage(obj)}
	data, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode event %d: %w", seq, err)
	}
	if err := b.Put(seqKey(seq), data); err != nil {
		return fmt.Errorf("store event %d: %w", seq, err)
	}
	if t.retention > 0 && seq > t.retention {
		if err := b.Delete(seqKey(seq - t.retention)); err != nil {
			return fmt.Errorf("prune event %d: %w", seq-t.retention, err)
		}
	}
	t.events = append(t.events, ev)
	return nil
}

func seqKey(seq uint64) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, seq)
	return k
}

// errGone reports events that were pruned.
var errGone = errors.New("events pruned")

// Events returns up to limit events with seq > since, and the last seq the
// store has assigned.
func (t *Tx) Events(since uint64, limit int) ([]api.Event, uint64, error) {
	b, err := t.bucket(bucketEvents)
	if err != nil {
		return nil, 0, err
	}
	last := b.Sequence()
	c := b.Cursor()
	if k, _ := c.First(); k != nil && since+1 < binary.BigEndian.Uint64(k) {
		return nil, last, fmt.Errorf("%w: oldest kept event is %d, asked for events after %d", errGone, binary.BigEndian.Uint64(k), since)
	}
	var out []api.Event
	for k, v := c.Seek(seqKey(since + 1)); k != nil && len(out) < limit; k, v = c.Next() {
		var ev api.Event
		if err := json.Unmarshal(v, &ev); err != nil {
			return nil, last, fmt.Errorf("decode event %d: %w", binary.BigEndian.Uint64(k), err)
		}
		out = append(out, ev)
	}
	return out, last, nil
}

// get decodes kind/name into a T; ok is false when it does not exist.
func get[T any](t *Tx, kind, name string) (obj T, ok bool, err error) {
	raw, err := t.getRaw(kind, name)
	if err != nil || raw == nil {
		return obj, false, err
	}
	if err := json.Unmarshal(raw, &obj); err != nil {
		return obj, false, fmt.Errorf("decode %s %s: %w", kind, name, err)
	}
	return obj, true, nil
}

// list decodes every object of a kind, in name order, keeping those for
// which keep (if not nil) returns true.
func list[T any](t *Tx, kind string, keep func(T) bool) ([]T, error) {
	b, err := t.bucket(kind)
	if err != nil {
		return nil, err
	}
	out := []T{}
	err = b.ForEach(func(k, v []byte) error {
		var obj T
		if err := json.Unmarshal(v, &obj); err != nil {
			return fmt.Errorf("decode %s %s: %w", kind, k, err)
		}
		if keep == nil || keep(obj) {
			out = append(out, obj)
		}
		return nil
	})
	return out, err
}

// LastSeq returns the newest event seq assigned (0 when none yet).
func (s *Store) LastSeq() (uint64, error) {
	var last uint64
	err := s.View(func(tx *Tx) error {
		b, err := tx.bucket(bucketEvents)
		if err == nil {
			last = b.Sequence()
		}
		return err
	})
	return last, err
}
