package nbd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// errStopping ends a handshake when the server or export is going away.
var errStopping = errors.New("connection stopping")

// handshake runs fixed-newstyle negotiation. It returns the export chosen
// with GO or EXPORT_NAME, or (nil, nil) when the client aborted. Any error
// means the connection must be dropped.
func (c *conn) handshake() (*export, error) {
	greeting := binary.BigEndian.AppendUint64(make([]byte, 0, greetingLen), nbdMagic)
	greeting = binary.BigEndian.AppendUint64(greeting, optMagic)
	greeting = binary.BigEndian.AppendUint16(greeting, flagFixedNewstyle|flagNoZeroes)
	if _, err := c.nc.Write(greeting); err != nil {
		return nil, fmt.Errorf("send greeting: %w", err)
	}
	var fb [4]byte
	if _, err := io.ReadFull(c.nc, fb[:]); err != nil {
		return nil, fmt.Errorf("read client flags: %w", err)
	}
	cflags := binary.BigEndian.Uint32(fb[:])
	if unknown := cflags &^ (clientFlagFixedNewstyle | clientFlagNoZeroes); unknown != 0 {
		return nil, fmt.Errorf("client flags %#x: unknown bits %#x", cflags, unknown)
	}
	fixed := cflags&clientFlagFixedNewstyle != 0
	noZeroes := cflags&clientFlagNoZeroes != 0

	var hb [optionHeaderLen]byte
	for {
		if c.stopping.Load() {
			return nil, errStopping
		}
		if _, err := io.ReadFull(c.nc, hb[:]); err != nil {
			return nil, fmt.Errorf("read option: %w", err)
		}
		h, err := parseOptionHeader(hb[:])
		if err != nil {
			return nil, err
		}
		if !fixed && h.option != optExportName {
			return nil, fmt.Errorf("option %d from a client without fixed newstyle", h.option)
		}
		if h.length > maxOptionData {
			if h.option == optExportName || h.length > maxDiscardOption {
				return nil, fmt.Errorf("option %d: %d bytes of data", h.option, h.length)
			}
			if _, err := io.CopyN(io.Discard, c.nc, int64(h.length)); err != nil {
				return nil, fmt.Errorf("skip option %d data: %w", h.option, err)
			}
			if err := c.optReply(h.option, repErrTooBig, []byte("option data too large")); err != nil {
				return nil, err
			}
			continue
		}
		data := make([]byte, h.length)
		if _, err := io.ReadFull(c.nc, data); err != nil {
			return nil, fmt.Errorf("read option %d data: %w", h.option, err)
		}
		switch h.option {
		case optExportName:
			return c.exportName(string(data), noZeroes)
		case optAbort:
			// The client may close without reading the ACK.
			_ = c.optReply(h.option, repAck, nil)
			return nil, nil
		case optList:
			err = c.list(data)
		case optInfo, optGo:
			var e *export
			e, err = c.info(h.option, data)
			if err == nil && e != nil {
				return e, nil
			}
		default:
			// STARTTLS, STRUCTURED_REPLY, meta contexts, EXTENDED_HEADERS
			// and options we have never heard of.
			err = c.optReply(h.option, repErrUnsup, fmt.Appendf(nil, "option %d not supported", h.option))
		}
		if err != nil {
			return nil, err
		}
	}
}

// optReply sends one option reply.
func (c *conn) optReply(option, typ uint32, data []byte) error {
	b := appendOptionReply(make([]byte, 0, optionReplyHeaderLen+len(data)), option, typ, data)
	if _, err := c.nc.Write(b); err != nil {
		return fmt.Errorf("send reply to option %d: %w", option, err)
	}
	return nil
}

// exportName answers NBD_OPT_EXPORT_NAME, which cannot report errors: an
// unknown export, or a protected one without its key, drops the connection.
func (c *conn) exportName(wire string, noZeroes bool) (*export, error) {
	r := c.srv.lookup(wire)
	name := r.name
	switch {
	case r.e == nil:
		return nil, fmt.Errorf("export name %q: no such export", name)
	case !r.allowed:
		c.refused(optExportName, r)
		return nil, fmt.Errorf("export name %q: no or wrong access key", name)
	}
	e := r.e
	if !c.srv.attach(c, e) {
		return nil, fmt.Errorf("export name %q: no such export", name)
	}
	b := binary.BigEndian.AppendUint64(make([]byte, 0, exportNameReplyLen+exportNamePaddingLen), uint64(max(e.dev.Size(), 0)))
	b = binary.BigEndian.AppendUint16(b, transmitFlags(e))
	if !noZeroes {
		b = append(b, make([]byte, exportNamePaddingLen)...)
	}
	if _, err := c.nc.Write(b); err != nil {
		return nil, fmt.Errorf("send export %q: %w", name, err)
	}
	return e, nil
}

// list answers NBD_OPT_LIST with every export name.
func (c *conn) list(data []byte) error {
	if len(data) != 0 {
		return c.optReply(optList, repErrInvalid, []byte("LIST takes no data"))
	}
	for _, name := range c.srv.exportNames() {
		b := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(name)), uint32(len(name)))
		b = append(b, name...)
		if err := c.optReply(optList, repServer, b); err != nil {
			return err
		}
	}
	return c.optReply(optList, repAck, nil)
}

// info answers NBD_OPT_INFO and NBD_OPT_GO. For a successful GO it
// returns the export, bound to the connection.
func (c *conn) info(option uint32, data []byte) (*export, error) {
	req, err := parseInfoRequest(data)
	if err != nil {
		return nil, c.optReply(option, repErrInvalid, []byte(err.Error()))
	}
	r := c.srv.lookup(req.name)
	switch {
	case r.e == nil:
		return nil, c.optReply(option, repErrUnknown, fmt.Appendf(nil, "no export %q", r.name))
	case !r.allowed:
		c.refused(option, r)
		return nil, c.optReply(option, repErrPolicy, []byte(refusal(r.name)))
	}
	e := r.e
	if option == optGo && !c.srv.attach(c, e) {
		return nil, c.optReply(option, repErrUnknown, fmt.Appendf(nil, "no export %q", r.name))
	}
	b := binary.BigEndian.AppendUint16(nil, infoExport)
	b = binary.BigEndian.AppendUint64(b, uint64(max(e.dev.Size(), 0)))
	b = binary.BigEndian.AppendUint16(b, transmitFlags(e))
	if err := c.optReply(option, repInfo, b); err != nil {
		return nil, err
	}
	minimum, preferred := blockSizes(e.dev.BlockSize())
	b = binary.BigEndian.AppendUint16(b[:0], infoBlockSize)
	b = binary.BigEndian.AppendUint32(b, minimum)
	b = binary.BigEndian.AppendUint32(b, preferred)
	b = binary.BigEndian.AppendUint32(b, MaxPayload)
	if err := c.optReply(option, repInfo, b); err != nil {
		return nil, err
	}
	for _, t := range req.infos {
		var s string
		switch t {
		case infoName:
			s = e.name
		case infoDescription:
			s = e.opts.Description
			if s == "" {
				continue
			}
		default:
			continue // INFO_EXPORT and INFO_BLOCK_SIZE are always sent
		}
		b = binary.BigEndian.AppendUint16(b[:0], t)
		b = append(b, s...)
		if err := c.optReply(option, repInfo, b); err != nil {
			return nil, err
		}
	}
	if err := c.optReply(option, repAck, nil); err != nil {
		return nil, err
	}
	if option == optGo {
		return e, nil
	}
	return nil, nil
}

// refused logs a client turned away from a protected export; the key it
// presented, if any, is not logged.
func (c *conn) refused(option uint32, r lookupResult) {
	c.log.Warn("nbd: export refused: no or wrong access key", "export", r.name, "option", option, "key_presented", r.keyed)
}

// transmitFlags are the transmission flags advertised for an export.
func transmitFlags(e *export) uint16 {
	f := serverTransmitFlags
	if e.opts.ReadOnly {
		f |= FlagReadOnly
	}
	return f
}

// blockSizes returns the minimum and preferred block sizes to advertise
// for a device: its own block size when sane, never below 512.
func blockSizes(devBlock int) (minimum, preferred uint32) {
	minimum = defaultMinimumBlockSize
	if devBlock > defaultMinimumBlockSize && devBlock <= maxMinimumBlockSize && devBlock&(devBlock-1) == 0 {
		minimum = uint32(devBlock)
	}
	return minimum, max(minimum, defaultPreferredBlockSize)
}
