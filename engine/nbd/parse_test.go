package nbd

import (
	"bytes"
	"errors"
	"net"
	"testing"
	"time"
)

func TestParseRequestHeader(t *testing.T) {
	valid := appendRequestHeader(nil, request{flags: 1, cmd: cmdWrite, cookie: 0x0102030405060708, offset: 4096, length: 512})
	tests := []struct {
		name    string
		in      []byte
		want    request
		wantErr error
	}{
		{"valid", valid, request{flags: 1, cmd: cmdWrite, cookie: 0x0102030405060708, offset: 4096, length: 512}, nil},
		{"short", valid[:27], request{}, nil},
		{"empty", nil, request{}, nil},
		{"bad magic", append([]byte{0x25, 0x60, 0x95, 0x14}, valid[4:]...), request{}, errBadMagic},
		{"reply magic", append([]byte{0x67, 0x44, 0x66, 0x98}, valid[4:]...), request{}, errBadMagic},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseRequestHeader(tt.in)
			if tt.want == (request{}) {
				if err == nil {
					t.Fatalf("parsed %+v, want an error", got)
				}
				if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Fatalf("err %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestParseInfoRequest(t *testing.T) {
	tests := []struct {
		name   string
		in     []byte
		want   string
		nInfos int
		ok     bool
	}{
		{"name and two infos", appendInfoRequest(nil, infoRequest{name: "disk", infos: []uint16{1, 3}}), "disk", 2, true},
		{"default export", appendInfoRequest(nil, infoRequest{}), "", 0, true},
		{"empty", nil, "", 0, false},
		{"name length beyond data", []byte{0, 0, 0, 10, 'a', 0, 0}, "", 0, false},
		{"huge name length", []byte{0xff, 0xff, 0xff, 0xff, 0, 0}, "", 0, false},
		{"missing count", []byte{0, 0, 0, 1, 'a'}, "", 0, false},
		{"count beyond data", []byte{0, 0, 0, 0, 0, 2, 0, 1}, "", 0, false},
		{"trailing data", []byte{0, 0, 0, 0, 0, 0, 9}, "", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseInfoRequest(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
			if tt.ok && (got.name != tt.want || len(got.infos) != tt.nInfos) {
				t.Fatalf("got %+v", got)
			}
		})
	}
}

func TestClientValidateBlockSizes(t *testing.T) {
	tests := []struct {
		name              string
		in                exportDetails
		wantMin, wantPref uint32
		wantMax           uint32
		wantErr           bool
	}{
		{"advertised", exportDetails{flags: 1, minBlock: 512, prefBlock: 4096, maxPayload: 1 << 20}, 512, 4096, 1 << 20, false},
		{"none", exportDetails{flags: 1}, 1, 4096, MaxPayload, false},
		{"not a power of two", exportDetails{flags: 1, minBlock: 768, prefBlock: 3000, maxPayload: 100}, 1, 4096, 100, false},
		{"max not multiple of min", exportDetails{flags: 1, minBlock: 4096, prefBlock: 4096, maxPayload: 10000}, 4096, 4096, 8192, false},
		{"no HAS_FLAGS", exportDetails{}, 0, 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.in.validate()
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			if !tt.wantErr && (got.minBlock != tt.wantMin || got.prefBlock != tt.wantPref || got.maxPayload != tt.wantMax) {
				t.Fatalf("got %+v", got)
			}
		})
	}
}

func FuzzRequestHeader(f *testing.F) {
	f.Add(appendRequestHeader(nil, request{cmd: cmdRead, cookie: 1, offset: 0, length: 4096}))
	f.Add(appendRequestHeader(nil, request{flags: cmdFlagFUA, cmd: cmdWrite, cookie: ^uint64(0), offset: 1 << 40, length: MaxPayload}))
	f.Add(appendRequestHeader(nil, request{cmd: cmdDisc}))
	f.Add([]byte{0x25, 0x60, 0x95, 0x13})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseRequestHeader(b)
		if err != nil {
			return
		}
		if len(b) < requestHeaderLen {
			t.Fatalf("parsed %d bytes", len(b))
		}
		if again := appendRequestHeader(nil, r); !bytes.Equal(again, b[:requestHeaderLen]) {
			t.Fatalf("round trip %x -> %+v -> %x", b[:requestHeaderLen], r, again)
		}
	})
}

// session builds a client byte stream for the options fuzz seeds.
func session(parts ...[]byte) []byte {
	b := []byte{0, 0, 0, 3} // FIXED_NEWSTYLE | NO_ZEROES
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func FuzzOptions(f *testing.F) {
	goDisk := appendOption(nil, optGo, appendInfoRequest(nil, infoRequest{name: "disk", infos: []uint16{infoBlockSize, infoName}}))
	f.Add(session(goDisk, appendRequestHeader(nil, request{cmd: cmdRead, length: 512}), appendRequestHeader(nil, request{cmd: cmdDisc})))
	f.Add(session(appendOption(nil, optList, nil), appendOption(nil, optAbort, nil)))
	f.Add(session(appendOption(nil, optInfo, appendInfoRequest(nil, infoRequest{name: "disk", infos: []uint16{infoDescription}})), goDisk))
	f.Add(session(appendOption(nil, optStructuredReply, nil), appendOption(nil, optExportName, []byte("disk")),
		appendRequestHeader(nil, request{cmd: cmdWrite, flags: cmdFlagFUA, offset: 512, length: 512}), make([]byte, 512),
		appendRequestHeader(nil, request{cmd: cmdFlush}), appendRequestHeader(nil, request{cmd: cmdTrim, length: 1024}),
		appendRequestHeader(nil, request{cmd: cmdWriteZeroes, offset: 1 << 20, length: 512})))
	f.Add(session(appendOption(nil, optGo, appendInfoRequest(nil, infoRequest{name: "nope"})), appendOption(nil, 0xffff, []byte("x"))))
	f.Add(session(goDisk, appendRequestHeader(nil, request{cmd: cmdWrite, length: MaxPayload + 1})))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	// The protected export "rep" (key "k"): refused, opened with its key,
	// refused to EXPORT_NAME.
	goRep := func(name string) []byte {
		return appendOption(nil, optGo, appendInfoRequest(nil, infoRequest{name: name, infos: []uint16{infoName}}))
	}
	f.Add(session(goRep("rep"), goRep("rep?key=x"), goRep("disk?key=k"), goRep("rep?key=k"),
		appendRequestHeader(nil, request{cmd: cmdWrite, length: 512}), make([]byte, 512)))
	f.Add(session(appendOption(nil, optInfo, appendInfoRequest(nil, infoRequest{name: "rep?key=k?key=k"})), appendOption(nil, optExportName, []byte("rep?key="))))
	f.Add(session(appendOption(nil, optExportName, []byte("rep?key=k")), appendRequestHeader(nil, request{cmd: cmdRead, length: 512})))
	f.Add(session(appendOption(nil, optExportName, []byte("rep?key=j")), appendRequestHeader(nil, request{cmd: cmdRead, length: 512})))
	f.Add(session(goRep("rep"), appendRequestHeader(nil, request{cmd: cmdFlush})))
	f.Fuzz(func(t *testing.T, in []byte) {
		s := NewServer(nil)
		if err := s.AddExport("disk", newMemDevice(64<<10, 512), ExportOptions{Description: "fuzz"}); err != nil {
			t.Fatal(err)
		}
		rep := newMemDevice(64<<10, 512)
		if err := s.AddExport("rep", rep, ExportOptions{Key: "k"}); err != nil {
			t.Fatal(err)
		}
		client, server := net.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.handle(server)
		}()
		drained := make(chan struct{})
		go func() {
			defer close(drained)
			buf := make([]byte, 64<<10)
			for {
				if _, err := client.Read(buf); err != nil {
					return
				}
			}
		}()
		deadline := time.Now().Add(5 * time.Second)
		client.SetWriteDeadline(deadline)
		client.Write(in) // the server may close early; that is fine
		client.Close()
		select {
		case <-done:
		case <-time.After(time.Until(deadline) + 5*time.Second):
			t.Fatal("server did not finish the session")
		}
		<-drained
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		// Only a session that named "rep" with its key may have written.
		if n := rep.ios.Load(); n != 0 && !bytes.Contains(in, []byte("rep?key=k")) {
			t.Fatalf("a session without the key made %d requests to the protected export", n)
		}
	})
}
