// Package srcaddr sets up a node's outgoing TCP connections as a network
// would see them: bound to the address the node serves at, and aborted when
// their peer stops acknowledging (SetUserTimeout).
//
// On a single host every node listens on its own loopback address
// (127.0.0.N), but an unbound dial to any 127.0.0.0/8 address leaves with
// source 127.0.0.1, the route's preferred source. Seen from the network,
// every node would then speak as 127.0.0.1, and a packet filter that
// partitions one node from another (faultline's network-partition fault)
// could not tell them apart. A node that binds its dials to its own address
// looks on loopback as it does on a real network.
package srcaddr

import (
	"fmt"
	"net"
)

// Env is the environment variable that carries the source address to the
// engine processes a node starts (an environment variable rather than a
// flag, so that an engine image that predates it still starts).
const Env = "REFENGINE_SOURCE_ADDRESS"

// Dialer returns a dialer for network whose TCP connections leave from
// source, an IP address. An empty source, or a network other than TCP
// (Unix sockets), gives a plain dialer.
func Dialer(source, network string) (*net.Dialer, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return &net.Dialer{}, nil
	}
	if source == "" {
		return &net.Dialer{}, nil
	}
	ip := net.ParseIP(source)
	if ip == nil {
		return nil, fmt.Errorf("source address %q is not an IP address", source)
	}
	return &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}}, nil
}
