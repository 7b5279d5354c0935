package api

import (
	"encoding/json"
	"time"
)

// Event types.
const (
	EventCreated = "created"
	EventUpdated = "updated"
	EventDeleted = "deleted"
)

// Event is one committed change. Seq increases by exactly one per change,
// with no gaps, across manager restarts, so a reader that remembers the last
// Seq it saw never misses a change.
type Event struct {
	Seq  uint64    `json:"seq"`
	Time time.Time `json:"time"`
	Kind string    `json:"kind"`
	Name string    `json:"name"`
	Type string    `json:"type"`
	// Object is the resource after the change (before it, for deletions).
	Object json.RawMessage `json:"object"`
}

// EventList is the body of GET /v1/events: the events with seq > since, in
// order, and Next, the since to ask for the following page.
type EventList struct {
	Events []Event `json:"events"`
	Next   uint64  `json:"next"`
	// Last is the newest seq the manager has assigned when it answered.
	Last uint64 `json:"last"`
}
