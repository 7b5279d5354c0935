package nbd

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// errBadMagic reports a message that does not start with the expected
// magic number. The stream cannot be resynchronised after it.
var errBadMagic = errors.New("bad magic")

// request is one transmission-phase request header.
type request struct {
	flags  uint16
	cmd    uint16
	cookie uint64
	offset uint64
	length uint32
}

// parseRequestHeader decodes the 28-byte request header at the start of b.
func parseRequestHeader(b []byte) (request, error) {
	if len(b) < requestHeaderLen {
		return request{}, fmt.Errorf("request header: %d bytes, want %d", len(b), requestHeaderLen)
	}
	if m := binary.BigEndian.Uint32(b[0:4]); m != requestMagic {
		return request{}, fmt.Errorf("request header: %w %#x", errBadMagic, m)
	}
	return request{
		flags:  binary.BigEndian.Uint16(b[4:6]),
		cmd:    binary.BigEndian.Uint16(b[6:8]),
		cookie: binary.BigEndian.Uint64(b[8:16]),
		offset: binary.BigEndian.Uint64(b[16:24]),
		length: binary.BigEndian.Uint32(b[24:28]),
	}, nil
}

// appendRequestHeader appends the wire form of r to b.
func appendRequestHeader(b []byte, r request) []byte {
	b = binary.BigEndian.AppendUint32(b, requestMagic)
	b = binary.BigEndian.AppendUint16(b, r.flags)
	b = binary.BigEndian.AppendUint16(b, r.cmd)
	b = binary.BigEndian.AppendUint64(b, r.cookie)
	b = binary.BigEndian.AppendUint64(b, r.offset)
	return binary.BigEndian.AppendUint32(b, r.length)
}

// reply is a simple reply header.
type reply struct {
	errno  uint32
	cookie uint64
}

// parseReplyHeader decodes the 16-byte simple reply header at the start of b.
func parseReplyHeader(b []byte) (reply, error) {
	if len(b) < replyHeaderLen {
		return reply{}, fmt.Errorf("reply header: %d bytes, want %d", len(b), replyHeaderLen)
	}
	if m := binary.BigEndian.Uint32(b[0:4]); m != simpleReplyMagic {
		return reply{}, fmt.Errorf("reply header: %w %#x", errBadMagic, m)
	}
	return reply{
		errno:  binary.BigEndian.Uint32(b[4:8]),
		cookie: binary.BigEndian.Uint64(b[8:16]),
	}, nil
}

// appendReplyHeader appends the wire form of a simple reply to b.
func appendReplyHeader(b []byte, r reply) []byte {
	b = binary.BigEndian.AppendUint32(b, simpleReplyMagic)
	b = binary.BigEndian.AppendUint32(b, r.errno)
	return binary.BigEndian.AppendUint64(b, r.cookie)
}

// optionHeader is the fixed part of a handshake option request.
type optionHeader struct {
	option uint32
	length uint32
}

// parseOptionHeader decodes the 16-byte option request header at the start of b.
func parseOptionHeader(b []byte) (optionHeader, error) {
	if len(b) < optionHeaderLen {
		return optionHeader{}, fmt.Errorf("option header: %d bytes, want %d", len(b), optionHeaderLen)
	}
	if m := binary.BigEndian.Uint64(b[0:8]); m != optMagic {
		return optionHeader{}, fmt.Errorf("option header: %w %#x", errBadMagic, m)
	}
	return optionHeader{
		option: binary.BigEndian.Uint32(b[8:12]),
		length: binary.BigEndian.Uint32(b[12:16]),
	}, nil
}

// appendOption appends a complete option request to b.
func appendOption(b []byte, option uint32, data []byte) []byte {
	b = binary.BigEndian.AppendUint64(b, optMagic)
	b = binary.BigEndian.AppendUint32(b, option)
	b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
	return append(b, data...)
}

// infoRequest is the payload of NBD_OPT_INFO and NBD_OPT_GO.
type infoRequest struct {
	name  string
	infos []uint16
}

// parseInfoRequest decodes the data of an INFO or GO option: name length
// (u32), name, count (u16), count info types (u16 each), and nothing more.
func parseInfoRequest(data []byte) (infoRequest, error) {
	if len(data) < 4 {
		return infoRequest{}, errors.New("info request: too short for the name length")
	}
	n := binary.BigEndian.Uint32(data[0:4])
	if n > maxStringLen {
		return infoRequest{}, fmt.Errorf("info request: export name of %d bytes exceeds %d", n, maxStringLen)
	}
	rest := data[4:]
	if uint32(len(rest)) < n+2 {
		return infoRequest{}, errors.New("info request: truncated export name or request count")
	}
	name := string(rest[:n])
	rest = rest[n:]
	count := int(binary.BigEndian.Uint16(rest[0:2]))
	rest = rest[2:]
	if len(rest) != 2*count {
		return infoRequest{}, fmt.Errorf("info request: %d info types announced, %d bytes follow", count, len(rest))
	}
	if count > handshakeInfoRequestsLimit {
		return infoRequest{}, fmt.Errorf("info request: %d info types, at most %d", count, handshakeInfoRequestsLimit)
	}
	infos := make([]uint16, count)
	for i := range infos {
		infos[i] = binary.BigEndian.Uint16(rest[2*i:])
	}
	return infoRequest{name: name, infos: infos}, nil
}

// appendInfoRequest appends the data of an INFO or GO option to b.
func appendInfoRequest(b []byte, r infoRequest) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.name)))
	b = append(b, r.name...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(r.infos)))
	for _, t := range r.infos {
		b = binary.BigEndian.AppendUint16(b, t)
	}
	return b
}

// optionReply is the fixed part of a handshake option reply.
type optionReply struct {
	option uint32
	typ    uint32
	length uint32
}

// parseOptionReplyHeader decodes the 20-byte option reply header at the start of b.
func parseOptionReplyHeader(b []byte) (optionReply, error) {
	if len(b) < optionReplyHeaderLen {
		return optionReply{}, fmt.Errorf("option reply: %d bytes, want %d", len(b), optionReplyHeaderLen)
	}
	if m := binary.BigEndian.Uint64(b[0:8]); m != optReplyMagic {
		return optionReply{}, fmt.Errorf("option reply: %w %#x", errBadMagic, m)
	}
	return optionReply{
		option: binary.BigEndian.Uint32(b[8:12]),
		typ:    binary.BigEndian.Uint32(b[12:16]),
		length: binary.BigEndian.Uint32(b[16:20]),
	}, nil
}

// appendOptionReply appends a complete option reply to b.
func appendOptionReply(b []byte, option, typ uint32, data []byte) []byte {
	b = binary.BigEndian.AppendUint64(b, optReplyMagic)
	b = binary.BigEndian.AppendUint32(b, option)
	b = binary.BigEndian.AppendUint32(b, typ)
	b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
	return append(b, data...)
}
