package bdev

// FUAWriter is implemented by devices that can make one write durable
// without flushing every other write, as NBD and NVMe FUA do. On a disk
// whose page cache holds other dirty data a flush has to write all of it
// out, so a small durable write (a write-intent bitmap update) is far
// cheaper this way.
type FUAWriter interface {
	// WriteAtFUA writes p at off and returns once those bytes are on
	// stable storage. It says nothing about other writes.
	WriteAtFUA(p []byte, off int64) (int, error)
}

// WriteAtFUA writes p at off on d and returns once it is durable: through
// d's own WriteAtFUA when it has one, else as WriteAt then Flush.
func WriteAtFUA(d Device, p []byte, off int64) (int, error) {
	if fw, ok := d.(FUAWriter); ok {
		return fw.WriteAtFUA(p, off)
	}
	n, err := d.WriteAt(p, off)
	if err != nil {
		return n, err
	}
	if err := d.Flush(); err != nil {
		return 0, err
	}
	return n, nil
}
