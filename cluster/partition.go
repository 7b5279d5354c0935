package cluster

import (
	"errors"
	"fmt"
)

// ManagerEndpoint names the manager as one side of a Partition; any other
// side is a node name.
const ManagerEndpoint = "manager"

// Direction says which packets of a Partition are lost.
type Direction string

const (
	// Both loses every packet between A and B.
	Both Direction = "both"
	// AToB loses A's packets to B only. Over TCP this still breaks every
	// connection (B's data goes unacknowledged), but B's requests reach A
	// and are carried out while their answers are lost.
	AToB Direction = "a-to-b"
)

// Partition is a network partition between two endpoints of a cluster.
type Partition struct {
	A         string    `json:"a"`
	B         string    `json:"b"`
	Direction Direction `json:"direction,omitempty"` // "" means Both
	// Reject answers the lost packets with TCP resets, so connections fail
	// at once; by default they are dropped and time out, as in a real
	// partition.
	Reject bool `json:"reject,omitempty"`
}

// Dir returns the direction with the default filled in.
func (p Partition) Dir() Direction {
	if p.Direction == "" {
		return Both
	}
	return p.Direction
}

// Validate checks the sides and the direction (not that the nodes exist).
func (p Partition) Validate() error {
	switch {
	case p.A == "" || p.B == "":
		return errors.New("partition: both sides are required")
	case p.A == p.B:
		return fmt.Errorf("partition: %s from itself", p.A)
	case p.Dir() != Both && p.Dir() != AToB:
		return fmt.Errorf("partition: direction %q: want %s or %s", p.Direction, Both, AToB)
	}
	return nil
}

// String is "A<->B" or "A->B", with "/reject" in reject mode.
func (p Partition) String() string {
	arrow := "<->"
	if p.Dir() == AToB {
		arrow = "->"
	}
	s := p.A + arrow + p.B
	if p.Reject {
		s += "/reject"
	}
	return s
}
