package nbd

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/faultline/faultline/internal/testtool"
)

// Keys of the protected exports the access tests serve.
const (
	repKey    = "0123456789abcdef0123456789abcdef"
	bitmapKey = "fedcba9876543210fedcba9876543210"
	wrongKey  = "00000000000000000000000000000000"
)

// lockedBuffer collects a server's log lines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// accessServer serves protected exports "rep" and "rep-bitmap" and the
// open export "front", logging into the returned buffer.
func accessServer(t *testing.T) (*testServer, map[string]*memDevice, *lockedBuffer) {
	t.Helper()
	logs := &lockedBuffer{}
	ts := startServer(t, "tcp", func(s *Server) {
		s.log = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	devs := map[string]*memDevice{
		"rep":        ts.addMem(t, "rep", 1<<20, ExportOptions{Key: repKey}),
		"rep-bitmap": ts.addMem(t, "rep-bitmap", 64<<10, ExportOptions{Key: bitmapKey}),
		"front":      ts.addMem(t, "front", 1<<20, ExportOptions{}),
	}
	return ts, devs, logs
}

// assertNoKeys fails when a text holds any of the test keys.
func assertNoKeys(t *testing.T, what, s string) {
	t.Helper()
	for _, k := range []string{repKey, bitmapKey, wrongKey} {
		if strings.Contains(s, k) {
			t.Fatalf("%s holds key %s:\n%s", what, k, s)
		}
	}
}

func TestProtectedExportDial(t *testing.T) {
	ts, _, logs := accessServer(t)
	tests := []struct {
		name, export, key string
		want              error // nil: opens
	}{
		{"no key", "rep", "", ErrRefused},
		{"wrong key", "rep", wrongKey, ErrRefused},
		{"key of another export", "rep", bitmapKey, ErrRefused},
		{"truncated key", "rep", repKey[:31], ErrRefused},
		{"bitmap without key", "rep-bitmap", "", ErrRefused},
		{"bitmap with the head's key", "rep-bitmap", repKey, ErrRefused},
		{"unknown export with a key", "nope", repKey, ErrUnknownExport},
		{"right key", "rep", repKey, nil},
		{"bitmap's key", "rep-bitmap", bitmapKey, nil},
		{"open export", "front", "", nil},
		{"open export with a key", "front", repKey, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			c, err := DialWith(ctx, ts.network, ts.addr, tt.export, DialOptions{Key: tt.key})
			if tt.want != nil {
				if err == nil {
					c.Close()
					t.Fatalf("opened %s with key %q; want %v", tt.export, tt.key, tt.want)
				}
				if !errors.Is(err, tt.want) {
					t.Fatalf("error %v, want %v", err, tt.want)
				}
				if tt.want == ErrRefused && !strings.Contains(err.Error(), "only its engine and rebuild peers may open it") {
					t.Fatalf("refusal does not say why: %v", err)
				}
				assertNoKeys(t, "error", err.Error())
				return
			}
			if err != nil {
				t.Fatalf("open %s: %v", tt.export, err)
			}
			defer c.Close()
			if _, err := c.WriteAt(bytes.Repeat([]byte{7}, 512), 0); err != nil {
				t.Fatalf("write: %v", err)
			}
		})
	}
	// Every client has closed; refused ones never attached.
	waitUntil(t, func() bool {
		for _, e := range ts.Exports() {
			if e.Connections != 0 {
				return false
			}
		}
		return true
	})
	for _, e := range ts.Exports() {
		if want := e.Name != "front"; e.Protected != want {
			t.Errorf("export %s: Protected %v, want %v", e.Name, e.Protected, want)
		}
	}
	if !strings.Contains(logs.String(), "export refused") {
		t.Errorf("refusals not logged:\n%s", logs)
	}
	assertNoKeys(t, "server log", logs.String())
}

func FuzzWireName(f *testing.F) {
	f.Add("rep", repKey, "rep?key="+repKey)
	f.Add("rep", "", "rep")
	f.Add("a?key=b", "c", "a?key=b?key=c")
	f.Add("", "", "?key=")
	f.Fuzz(func(t *testing.T, name, key, wire string) {
		// Any name the server is asked for splits into parts that put
		// back together give it again.
		n, k, keyed := splitWireName(wire)
		if keyed && wireName(n, k) != wire && k != "" {
			t.Fatalf("%q split into %q and %q", wire, n, k)
		}
		if !keyed && n != wire {
			t.Fatalf("%q without a key became %q", wire, n)
		}
		// A name and key a client sends arrive as they were sent.
		if strings.Contains(key, keySuffix) {
			return
		}
		n, k, keyed = splitWireName(wireName(name, key))
		if key != "" && (n != name || k != key || !keyed) {
			t.Fatalf("(%q, %q) arrived as (%q, %q, %v)", name, key, n, k, keyed)
		}
	})
}

func TestProtectedExportRaw(t *testing.T) {
	ts, devs, logs := accessServer(t)
	keyed := func(name, key string) string { return name + keySuffix + key }
	t.Run("GO without key is refused by policy and nothing attaches", func(t *testing.T) {
		c := ts.raw(t)
		c.greet(clientFlagFixedNewstyle | clientFlagNoZeroes)
		for _, opt := range []uint32{optInfo, optGo} {
			for _, name := range []string{"rep", keyed("rep", wrongKey), keyed("rep", bitmapKey)} {
				c.option(opt, appendInfoRequest(nil, infoRequest{name: name}))
				typ, msg := c.optReply(opt)
				if typ != repErrPolicy || !strings.Contains(string(msg), `export "rep" is a replica export`) {
					t.Fatalf("option %d %q: reply %#x %q, want NBD_REP_ERR_POLICY", opt, name, typ, msg)
				}
				assertNoKeys(t, "refusal", string(msg))
			}
		}
		// Still in the handshake: a write request is no option and ends it.
		c.request(cmdWrite, 0, 1, 0, 512, bytes.Repeat([]byte{9}, 512))
		c.expectClosed()
		if n := devs["rep"].ios.Load(); n != 0 {
			t.Fatalf("a refused client made %d requests to the export", n)
		}
	})
	t.Run("EXPORT_NAME without the key drops the connection", func(t *testing.T) {
		for _, name := range []string{"rep", keyed("rep", wrongKey), keyed("rep-bitmap", repKey)} {
			c := ts.raw(t)
			c.greet(clientFlagFixedNewstyle | clientFlagNoZeroes)
			c.option(optExportName, []byte(name))
			c.expectClosed()
		}
	})
	t.Run("EXPORT_NAME with the key opens", func(t *testing.T) {
		c := ts.raw(t)
		c.greet(clientFlagFixedNewstyle | clientFlagNoZeroes)
		c.option(optExportName, []byte(keyed("rep", repKey)))
		b := c.read(exportNameReplyLen)
		if size := binary.BigEndian.Uint64(b); size != 1<<20 {
			t.Fatalf("size %d", size)
		}
	})
	t.Run("INFO with the key names the export without it", func(t *testing.T) {
		c := ts.raw(t)
		c.greet(clientFlagFixedNewstyle | clientFlagNoZeroes)
		c.option(optInfo, appendInfoRequest(nil, infoRequest{name: keyed("rep", repKey), infos: []uint16{infoName}}))
		for {
			typ, data := c.optReply(optInfo)
			if typ == repAck {
				break
			}
			if typ != repInfo {
				t.Fatalf("reply %#x %q", typ, data)
			}
			assertNoKeys(t, "INFO reply", string(data))
		}
	})
	t.Run("LIST lists names, never keys", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		names, err := List(ctx, ts.network, ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(names, ",") != "front,rep,rep-bitmap" {
			t.Fatalf("LIST: %q", names)
		}
	})
	assertNoKeys(t, "server log", logs.String())
}

// TestProtectedExportNbdinfo checks the refusal as a stock client sees it.
func TestProtectedExportNbdinfo(t *testing.T) {
	nbdinfo := testtool.Require(t, "nbdinfo", "libnbd-bin")
	ts, _, _ := accessServer(t)
	// The key rides in the export name; '?' and '=' are escaped in a URI.
	uri := func(name, key string) string {
		if key != "" {
			name = url.PathEscape(name + keySuffix + key)
		}
		return "nbd://" + ts.addr + "/" + name
	}
	for _, tt := range []struct {
		name, uri string
		ok        bool
	}{
		{"no key", uri("rep", ""), false},
		{"wrong key", uri("rep", wrongKey), false},
		{"another export's key", uri("rep", bitmapKey), false},
		{"right key", uri("rep", repKey), true},
		{"open export", uri("front", ""), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// libnbd prints the server's message only when debugging.
			cmd := exec.Command(nbdinfo, tt.uri)
			cmd.Env = append(cmd.Environ(), "LIBNBD_DEBUG=1")
			out, err := cmd.CombinedOutput()
			if tt.ok {
				if err != nil || !strings.Contains(string(out), "export-size: 1048576") {
					t.Fatalf("nbdinfo: %v\n%s", err, out)
				}
				return
			}
			if err == nil || !strings.Contains(string(out), "only its engine and rebuild peers may open it") {
				t.Fatalf("nbdinfo opened a protected export or did not say why (%v):\n%s", err, out)
			}
		})
	}
}
