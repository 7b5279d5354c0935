package local

import (
	"context"
	"net"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// TestStablePorts: a cluster brought up again in its directory keeps its
// manager URL and node ports, and refuses to start, naming the port, when
// another process holds one.
func TestStablePorts(t *testing.T) {
	requireCluster(t)
	dir := t.TempDir()
	up := func() (*Driver, error) {
		d, err := New(Config{Dir: dir, Refengine: refengine, Nodes: 2, DiskSize: 64 << 20, StablePorts: true})
		if err != nil {
			t.Fatal(err)
		}
		return d, d.Up(t.Context())
	}
	d, err := up()
	if err != nil {
		t.Fatal(err)
	}
	url1, nodes1 := d.ManagerURL(), d.Nodes()
	if err := d.Down(context.Background()); err != nil {
		t.Fatal(err)
	}

	d, err = up()
	if err != nil {
		t.Fatal(err)
	}
	if got := d.ManagerURL(); got != url1 {
		t.Errorf("manager URL after a second up: %s, want %s", got, url1)
	}
	if got := d.Nodes(); !slices.Equal(got, nodes1) {
		t.Errorf("nodes after a second up:\n%+v\nwant\n%+v", got, nodes1)
	}
	if err := d.Down(context.Background()); err != nil {
		t.Fatal(err)
	}

	// Something else takes node-2's NBD port, then the manager's.
	for _, addr := range []string{nodes1[1].NBD, mustHost(t, url1)} {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		d, err = up()
		l.Close()
		if err == nil {
			d.Down(context.Background())
			t.Fatalf("up with %s taken: no error", addr)
		}
		if _, port, _ := net.SplitHostPort(addr); !strings.Contains(err.Error(), ":"+port) || !strings.Contains(err.Error(), "is taken") {
			t.Errorf("up with %s taken: error %q does not name the port", addr, err)
		}
	}
}

func mustHost(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}
