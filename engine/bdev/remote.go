package bdev

// Remote is implemented by devices that may reach their data over a
// network, as an NBD client over TCP does. A mirror treats such a member
// as md treats a write-mostly one: it gets every write but serves reads
// only when no member on this machine can. A read a local member serves
// costs neither the network round trip nor the CPU of two more sockets.
type Remote interface {
	// Remote reports whether the device's requests cross a network.
	Remote() bool
}

// IsRemote reports whether d says it is Remote.
func IsRemote(d Device) bool {
	r, ok := d.(Remote)
	return ok && r.Remote()
}
