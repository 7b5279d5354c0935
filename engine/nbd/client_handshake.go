package nbd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// exportDetails is what a client learns about an export while negotiating.
type exportDetails struct {
	size       int64
	flags      uint16
	minBlock   uint32
	prefBlock  uint32
	maxPayload uint32
}

// clientGreeting reads the server greeting and answers with the client
// flags. It reports whether NO_ZEROES was agreed.
func clientGreeting(rw io.ReadWriter) (noZeroes bool, err error) {
	var g [greetingLen]byte
	if _, err := io.ReadFull(rw, g[:]); err != nil {
		return false, fmt.Errorf("read greeting: %w", err)
	}
	if m := binary.BigEndian.Uint64(g[0:8]); m != nbdMagic {
		return false, fmt.Errorf("greeting: %w %#x", errBadMagic, m)
	}
	if m := binary.BigEndian.Uint64(g[8:16]); m != optMagic {
		return false, fmt.Errorf("greeting: not a newstyle server (magic %#x)", m)
	}
	hflags := binary.BigEndian.Uint16(g[16:18])
	if hflags&flagFixedNewstyle == 0 {
		return false, errors.New("greeting: server does not speak fixed newstyle")
	}
	cflags := clientFlagFixedNewstyle
	if hflags&flagNoZeroes != 0 {
		cflags |= clientFlagNoZeroes
		noZeroes = true
	}
	if _, err := rw.Write(binary.BigEndian.AppendUint32(nil, cflags)); err != nil {
		return false, fmt.Errorf("send client flags: %w", err)
	}
	return noZeroes, nil
}

// readOptReply reads one option reply to option and returns its type and data.
func readOptReply(r io.Reader, option uint32) (uint32, []byte, error) {
	var hb [optionReplyHeaderLen]byte
	if _, err := io.ReadFull(r, hb[:]); err != nil {
		return 0, nil, fmt.Errorf("read reply to option %d: %w", option, err)
	}
	h, err := parseOptionReplyHeader(hb[:])
	if err != nil {
		return 0, nil, err
	}
	if h.option != option {
		return 0, nil, fmt.Errorf("reply to option %d while waiting for option %d", h.option, option)
	}
	if h.length > maxOptionData {
		return 0, nil, fmt.Errorf("reply to option %d: %d bytes of data", option, h.length)
	}
	data := make([]byte, h.length)
	if _, err := io.ReadFull(r, data); err != nil {
		return 0, nil, fmt.Errorf("read reply to option %d: %w", option, err)
	}
	return h.typ, data, nil
}

// optError turns an error reply into a Go error.
func optError(option, typ uint32, data []byte, export string) error {
	msg := string(data)
	switch typ {
	case repErrUnknown:
		return fmt.Errorf("%w %q: %s", ErrUnknownExport, export, msg)
	case repErrUnsup:
		return fmt.Errorf("option %d unsupported: %s", option, msg)
	case repErrPolicy:
		return fmt.Errorf("option %d: %w: %s", option, ErrRefused, msg)
	case repErrInvalid:
		return fmt.Errorf("option %d invalid: %s", option, msg)
	case repErrShutdown:
		return fmt.Errorf("option %d: server shutting down: %s", option, msg)
	case repErrTooBig:
		return fmt.Errorf("option %d too big: %s", option, msg)
	}
	return fmt.Errorf("option %d: error reply %#x: %s", option, typ, msg)
}

// clientOpen negotiates export, presenting key when not empty, with
// NBD_OPT_GO, falling back to NBD_OPT_EXPORT_NAME when the server does not
// know GO. Errors name the export, never the key.
func clientOpen(rw io.ReadWriter, export, key string) (exportDetails, error) {
	noZeroes, err := clientGreeting(rw)
	if err != nil {
		return exportDetails{}, err
	}
	wire := wireName(export, key)
	if len(wire) > maxStringLen {
		return exportDetails{}, fmt.Errorf("export name of %d bytes exceeds %d", len(wire), maxStringLen)
	}
	req := appendInfoRequest(nil, infoRequest{name: wire, infos: []uint16{infoBlockSize}})
	if _, err := rw.Write(appendOption(nil, optGo, req)); err != nil {
		return exportDetails{}, fmt.Errorf("send GO: %w", err)
	}
	var d exportDetails
	gotExport := false
	for {
		typ, data, err := readOptReply(rw, optGo)
		if err != nil {
			return exportDetails{}, err
		}
		switch {
		case typ == repAck:
			if !gotExport {
				return exportDetails{}, errors.New("GO acknowledged without NBD_INFO_EXPORT")
			}
			return d.validate()
		case typ == repInfo:
			if len(data) < 2 {
				return exportDetails{}, errors.New("NBD_REP_INFO without an info type")
			}
			switch binary.BigEndian.Uint16(data) {
			case infoExport:
				if len(data) != infoExportReplyLen {
					return exportDetails{}, fmt.Errorf("NBD_INFO_EXPORT of %d bytes", len(data))
				}
				size := binary.BigEndian.Uint64(data[2:10])
				if size > math.MaxInt64 {
					return exportDetails{}, fmt.Errorf("export size %d too large", size)
				}
				d.size, d.flags, gotExport = int64(size), binary.BigEndian.Uint16(data[10:12]), true
			case infoBlockSize:
				if len(data) != infoBlockSizeReplyLen {
					return exportDetails{}, fmt.Errorf("NBD_INFO_BLOCK_SIZE of %d bytes", len(data))
				}
				d.minBlock = binary.BigEndian.Uint32(data[2:6])
				d.prefBlock = binary.BigEndian.Uint32(data[6:10])
				d.maxPayload = binary.BigEndian.Uint32(data[10:14])
			}
		case typ == repErrUnsup:
			return clientExportName(rw, export, wire, noZeroes)
		case typ&(1<<31) != 0:
			return exportDetails{}, optError(optGo, typ, data, export)
		default:
			return exportDetails{}, fmt.Errorf("unexpected reply type %d to GO", typ)
		}
	}
}

// clientExportName negotiates with the old NBD_OPT_EXPORT_NAME, whose only
// error report is a dropped connection. wire is the name sent (with the
// key), export the one errors show.
func clientExportName(rw io.ReadWriter, export, wire string, noZeroes bool) (exportDetails, error) {
	if _, err := rw.Write(appendOption(nil, optExportName, []byte(wire))); err != nil {
		return exportDetails{}, fmt.Errorf("send EXPORT_NAME: %w", err)
	}
	n := exportNameReplyLen
	if !noZeroes {
		n += exportNamePaddingLen
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(rw, b); err != nil {
		return exportDetails{}, fmt.Errorf("EXPORT_NAME %q (%w, or a protected export and no or a wrong key?): %w", export, ErrUnknownExport, err)
	}
	size := binary.BigEndian.Uint64(b[0:8])
	if size > math.MaxInt64 {
		return exportDetails{}, fmt.Errorf("export size %d too large", size)
	}
	d := exportDetails{size: int64(size), flags: binary.BigEndian.Uint16(b[8:10])}
	return d.validate()
}

// validate checks the transmission flags and replaces unusable block
// size constraints with the protocol defaults.
func (d exportDetails) validate() (exportDetails, error) {
	if d.flags&FlagHasFlags == 0 {
		return d, fmt.Errorf("transmission flags %#x without NBD_FLAG_HAS_FLAGS", d.flags)
	}
	pow2 := func(v uint32) bool { return v != 0 && v&(v-1) == 0 }
	if !pow2(d.minBlock) || d.minBlock > maxMinimumBlockSize {
		d.minBlock = 1
	}
	if !pow2(d.prefBlock) || d.prefBlock < d.minBlock {
		d.prefBlock = max(defaultPreferredBlockSize, d.minBlock)
	}
	if d.maxPayload < d.minBlock || d.maxPayload > MaxPayload {
		d.maxPayload = MaxPayload
	}
	d.maxPayload -= d.maxPayload % d.minBlock
	return d, nil
}
