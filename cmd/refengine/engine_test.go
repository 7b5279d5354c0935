package main

import (
	"io"
	"strings"
	"testing"

	"github.com/faultline/faultline/engine/engineproc"
)

func TestEngineFlags(t *testing.T) {
	base := []string{"--name", "e", "--size", "16M", "--control-socket", "/tmp/c", "--nbd-socket", "/tmp/n"}
	for _, tc := range []struct {
		name string
		args []string
		err  string
	}{
		{"ok", append(base, "--replica", "r1,127.0.0.1:1,r1", "--replica", "r2,127.0.0.2:1,r2"), ""},
		{"no replica", base, "--replica"},
		{"bad replica", append(base, "--replica", "r1,127.0.0.1:1"), "NAME,ADDRESS,EXPORT"},
		{"empty part", append(base, "--replica", "r1,,r1"), "NAME,ADDRESS,EXPORT"},
		{"bad size", []string{"--name", "e", "--size", "x", "--control-socket", "c", "--nbd-socket", "n", "--replica", "a,b,c"}, "size"},
		{"missing socket", []string{"--name", "e", "--size", "1M", "--replica", "a,b,c"}, "--control-socket"},
		{"extra args", append(base, "--replica", "a,b,c", "more"), "unexpected"},
		{"five parts", append(base, "--replica", "a,b,c,d,e"), "NAME,ADDRESS,EXPORT"},
		{"bitmap on one replica only", append(base, "--replica", "a,b,c,c-bitmap", "--replica", "d,e,f"), "all or none"},
		{"unknown defect", append(base, "--replica", "a,b,c", "--defects", "no-such"), "unknown defect"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseEngineFlags(tc.args, io.Discard)
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				if c.cfg.Size != 16<<20 || len(c.cfg.Replicas) != 2 || c.cfg.Replicas[1].Address != "127.0.0.2:1" {
					t.Fatalf("config %+v", c.cfg)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.err)
			}
		})
	}
}

func FuzzReplicaFlag(f *testing.F) {
	for _, s := range []string{"r,127.0.0.1:1,r", "", ",,", "a,b,c,d", "a,b,c,", "a,b,c,d,e", "r,/tmp/s,e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var l replicaList
		if err := l.Set(s); err != nil {
			return
		}
		r := l[0]
		back := r.Name + "," + r.Address + "," + r.Export
		if r.Bitmap != "" {
			back += "," + r.Bitmap
		}
		if r.Name == "" || r.Address == "" || r.Export == "" || back != s {
			t.Fatalf("Set(%q) accepted %+v", s, r)
		}
	})
}

func TestEngineKeysFromEnv(t *testing.T) {
	args := []string{"--name", "e", "--size", "16M", "--control-socket", "/tmp/c", "--nbd-socket", "/tmp/n",
		"--replica", "r1,127.0.0.1:1,r1,r1-bitmap", "--replica", "r2,127.0.0.2:1,r2,r2-bitmap"}
	t.Setenv(engineproc.KeysEnv, `{"r1":"k1","r1-bitmap":"k1b","r2-bitmap":"k2b"}`)
	c, err := parseEngineFlags(args, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	r := c.cfg.Replicas
	if r[0].Key != "k1" || r[0].BitmapKey != "k1b" || r[1].Key != "" || r[1].BitmapKey != "k2b" {
		t.Fatalf("replicas %+v", r)
	}
	t.Setenv(engineproc.KeysEnv, "not json")
	if _, err := parseEngineFlags(args, io.Discard); err == nil || !strings.Contains(err.Error(), engineproc.KeysEnv) {
		t.Fatalf("bad keys: %v", err)
	}
}
