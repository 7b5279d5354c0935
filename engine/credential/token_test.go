package credential

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseRoundTrip(t *testing.T) {
	tok, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(" " + tok.String() + "\n")
	if err != nil {
		t.Fatal(err)
	}
	if !tok.Equal(back) || !tok.EqualString(tok.String()) {
		t.Fatal("a parsed token does not equal the original")
	}
	other, _ := Generate()
	if tok.Equal(other) || tok.EqualString(other.String()) {
		t.Fatal("two generated tokens are equal")
	}
}

func TestParseRejects(t *testing.T) {
	for _, in := range []string{"", "abc", strings.Repeat("zz", Size), strings.Repeat("ab", Size+1)} {
		if _, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) accepted", in)
		}
	}
}

func TestZeroTokenProvesNothing(t *testing.T) {
	var zero Token
	if !zero.IsZero() || zero.Equal(zero) || zero.EqualString("") {
		t.Fatal("the zero token equals something")
	}
	if zero.CheckMAC("p", "m", zero.MAC("p", "m")) {
		t.Fatal("the zero token accepted a MAC")
	}
	if err := zero.WriteFile(filepath.Join(t.TempDir(), "t")); !errors.Is(err, ErrEmpty) {
		t.Fatalf("WriteFile of the zero token: %v, want ErrEmpty", err)
	}
}

func TestMACDomains(t *testing.T) {
	tok, _ := Generate()
	other, _ := Generate()
	mac := tok.MAC("jsonrpc", "nonce")
	for _, c := range []struct {
		name            string
		tok             Token
		purpose, msg, m string
		want            bool
	}{
		{"right", tok, "jsonrpc", "nonce", mac, true},
		{"other purpose", tok, "nbd-export", "nonce", mac, false},
		{"other message", tok, "jsonrpc", "nonce2", mac, false},
		{"other token", other, "jsonrpc", "nonce", mac, false},
		{"empty mac", tok, "jsonrpc", "nonce", "", false},
	} {
		if got := c.tok.CheckMAC(c.purpose, c.msg, c.m); got != c.want {
			t.Errorf("%s: CheckMAC = %v, want %v", c.name, got, c.want)
		}
	}
	if k := tok.ExportKey("r1"); len(k) != 32 || k == tok.ExportKey("r2") || k == other.ExportKey("r1") {
		t.Errorf("export keys do not depend on both the token and the name: %q", k)
	}
}

func TestLoadOrCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cluster.token")
	first, err := LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v, want 0600", fi.Mode().Perm())
	}
	again, err := LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	if !first.Equal(again) {
		t.Fatal("LoadOrCreate on an existing file made a new token")
	}
}

func TestLoadRefusesReadableByOthers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cluster.token")
	tok, _ := Generate()
	if err := os.WriteFile(path, []byte(tok.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if err == nil || !strings.Contains(err.Error(), "0600") {
		t.Fatalf("Load of a 0644 token file: %v, want a refusal naming 0600", err)
	}
}

func TestAPITokensDiffer(t *testing.T) {
	tok, _ := Generate()
	seen := map[string]string{}
	for name, v := range map[string]string{
		"admin": tok.AdminAPIToken(), "node-1": tok.NodeAPIToken("node-1"), "node-2": tok.NodeAPIToken("node-2"),
		"export node-1": tok.ExportKey("node-1"), "token": tok.String(),
	} {
		if other, dup := seen[v]; dup {
			t.Fatalf("%s and %s share a token", name, other)
		}
		seen[v] = name
	}
}
