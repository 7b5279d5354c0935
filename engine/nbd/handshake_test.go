package nbd

import (
	"bytes"
	"encoding/binary"
	"slices"
	"testing"
)

func TestHandshakeGo(t *testing.T) {
	ts := startServer(t, "unix")
	ts.addMem(t, "disk", 1<<20, ExportOptions{})
	ts.addMem(t, "ro", 64<<10, ExportOptions{ReadOnly: true})
	tests := []struct {
		name      string
		export    string
		wantSize  uint64
		wantFlags uint16
	}{
		{"read-write", "disk", 1 << 20, 0x016D},
		{"read-only", "ro", 64 << 10, 0x016F},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ts.raw(t)
			c.greet(clientFlagFixedNewstyle | clientFlagNoZeroes)
			size, flags := c.goExport(tt.export)
			if size != tt.wantSize || flags != tt.wantFlags {
				t.Fatalf("GO: size %d flags %#x, want %d %#x", size, flags, tt.wantSize, tt.wantFlags)
			}
			// Transmission has started: a READ is answered.
			c.request(cmdRead, 0, 7, 0, 512, nil)
			if r := c.reply(); r.errno != 0 || r.cookie != 7 {
				t.Fatalf("read reply %+v", r)
			}
			c.read(512)
		})
	}
}

func TestHandshakeInfoReplies(t *testing.T) {
	ts := startServer(t, "tcp")
	ts.addMem(t, "disk", 1<<20, ExportOptions{Description: "test disk"})
	c := ts.raw(t)
	c.greet(clientFlagFixedNewstyle)
	c.option(optInfo, appendInfoRequest(nil, infoRequest{name: "disk", infos: []uint16{infoName, infoDescription, infoBlockSize, 99}}))
	got := map[uint16][]byte{}
	for {
		typ, data := c.optReply(optInfo)
		if typ == repAck {
			break
		}
		if typ != repInfo {
			t.Fatalf("reply type %#x %q", typ, data)
		}
		got[binary.BigEndian.Uint16(data)] = data[2:]
	}
	want := map[uint16][]byte{
		infoExport:      binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint64(nil, 1<<20), 0x016D),
		infoName:        []byte("disk"),
		infoDescription: []byte("test disk"),
		infoBlockSize:   binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, 512), 4096), MaxPayload),
	}
	for k, v := range want {
		if !bytes.Equal(got[k], v) {
			t.Errorf("info %d = %x, want %x", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d info replies, want %d", len(got), len(want))
	}
	// INFO leaves the client negotiating: GO still works.
	if size, _ := c.goExport("disk"); size != 1<<20 {
		t.Fatalf("GO after INFO: size %d", size)
	}
}

func TestHandshakeExportName(t *testing.T) {
	for _, noZeroes := range []bool{true, false} {
		t.Run(map[bool]string{true: "no-zeroes", false: "padded"}[noZeroes], func(t *testing.T) {
			ts := startServer(t, "unix")
			ts.addMem(t, "disk", 1<<20, ExportOptions{})
			c := ts.raw(t)
			flags := clientFlagFixedNewstyle
			if noZeroes {
				flags |= clientFlagNoZeroes
			}
			c.greet(flags)
			c.option(optExportName, []byte("disk"))
			b := c.read(exportNameReplyLen)
			if size, tf := binary.BigEndian.Uint64(b), binary.BigEndian.Uint16(b[8:]); size != 1<<20 || tf != 0x016D {
				t.Fatalf("export: size %d flags %#x", size, tf)
			}
			if !noZeroes {
				if pad := c.read(exportNamePaddingLen); !bytes.Equal(pad, make([]byte, exportNamePaddingLen)) {
					t.Fatalf("padding %x", pad)
				}
			}
			c.request(cmdFlush, 0, 1, 0, 0, nil)
			if r := c.reply(); r.errno != 0 || r.cookie != 1 {
				t.Fatalf("flush reply %+v", r)
			}
		})
	}
}

func TestHandshakeList(t *testing.T) {
	ts := startServer(t, "unix")
	for _, n := range []string{"b", "a", "c"} {
		ts.addMem(t, n, 4096, ExportOptions{})
	}
	c := ts.raw(t)
	c.greet(clientFlagFixedNewstyle)
	c.option(optList, []byte("junk"))
	if typ, _ := c.optReply(optList); typ != repErrInvalid {
		t.Fatalf("LIST with data: reply %#x, want ERR_INVALID", typ)
	}
	c.option(optList, nil)
	var names []string
	for {
		typ, data := c.optReply(optList)
		if typ == repAck {
			break
		}
		if typ != repServer {
			t.Fatalf("reply %#x", typ)
		}
		n := binary.BigEndian.Uint32(data)
		names = append(names, string(data[4:4+n]))
	}
	if want := []string{"a", "b", "c"}; !slices.Equal(names, want) {
		t.Fatalf("LIST = %q, want %q", names, want)
	}
	// The high-level List agrees.
	got, err := List(t.Context(), ts.network, ts.addr)
	if err != nil || !slices.Equal(got, names) {
		t.Fatalf("List = %q, %v", got, err)
	}
}

func TestHandshakeAbort(t *testing.T) {
	ts := startServer(t, "unix")
	c := ts.raw(t)
	c.greet(clientFlagFixedNewstyle)
	c.option(optAbort, nil)
	if typ, data := c.optReply(optAbort); typ != repAck || len(data) != 0 {
		t.Fatalf("ABORT reply %#x %q", typ, data)
	}
	c.expectClosed()
}

func TestHandshakeRefusedOptionsKeepSync(t *testing.T) {
	ts := startServer(t, "tcp")
	ts.addMem(t, "disk", 1<<20, ExportOptions{})
	tests := []struct {
		name string
		opt  uint32
		data []byte
		want uint32
	}{
		{"structured reply", optStructuredReply, nil, repErrUnsup},
		{"starttls", optStartTLS, nil, repErrUnsup},
		{"extended headers", optExtendedHeaders, nil, repErrUnsup},
		{"list meta context", optListMetaContext, []byte{0, 0, 0, 0, 0, 0, 0, 0}, repErrUnsup},
		{"set meta context", optSetMetaContext, []byte{0, 0, 0, 0, 0, 0, 0, 0}, repErrUnsup},
		{"unknown option", 0xdead, []byte("whatever"), repErrUnsup},
		{"too big", 0xdead, make([]byte, maxOptionData+1), repErrTooBig},
		{"unknown export GO", optGo, appendInfoRequest(nil, infoRequest{name: "nope"}), repErrUnknown},
		{"unknown export INFO", optInfo, appendInfoRequest(nil, infoRequest{name: "nope"}), repErrUnknown},
		{"truncated INFO", optInfo, []byte{0, 0, 0, 9, 'd'}, repErrInvalid},
		{"INFO with trailing bytes", optInfo, append(appendInfoRequest(nil, infoRequest{name: "disk"}), 1), repErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ts.raw(t)
			c.greet(clientFlagFixedNewstyle | clientFlagNoZeroes)
			c.option(tt.opt, tt.data)
			if typ, msg := c.optReply(tt.opt); typ != tt.want {
				t.Fatalf("reply %#x (%q), want %#x", typ, msg, tt.want)
			}
			if size, _ := c.goExport("disk"); size != 1<<20 {
				t.Fatalf("GO after refusal: size %d", size)
			}
		})
	}
}

func TestHandshakeDropsConnection(t *testing.T) {
	ts := startServer(t, "unix")
	ts.addMem(t, "disk", 4096, ExportOptions{})
	tests := []struct {
		name string
		run  func(c *rawConn)
	}{
		{"unknown client flag", func(c *rawConn) { c.greet(clientFlagFixedNewstyle | 1<<7) }},
		{"bad option magic", func(c *rawConn) {
			c.greet(clientFlagFixedNewstyle)
			b := appendOption(nil, optList, nil)
			b[0] ^= 0xff
			c.write(b)
		}},
		{"unknown export by name", func(c *rawConn) {
			c.greet(clientFlagFixedNewstyle)
			c.option(optExportName, []byte("nope"))
		}},
		{"export name too long", func(c *rawConn) {
			c.greet(clientFlagFixedNewstyle)
			c.write(binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint64(nil, optMagic), optExportName), maxOptionData+1))
		}},
		{"option from non-fixed client", func(c *rawConn) {
			c.greet(0)
			c.option(optList, nil)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ts.raw(t)
			tt.run(c)
			c.expectClosed()
		})
	}
}
