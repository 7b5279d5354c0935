package nftpart

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// live skips unless this process may change the ruleset; as root a missing
// nft fails the test instead.
func live(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (CAP_NET_ADMIN) to change the nftables ruleset")
	}
}

// pair is a TCP connection on loopback between two addresses, as two nodes
// of the local cluster make: the server on 127.0.0.2, the client dialling
// from 127.0.0.3.
type pair struct {
	server, client net.Conn
	port           int
}

func newPair(t *testing.T) *pair {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	p := &pair{port: l.Addr().(*net.TCPAddr).Port}
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		accepted <- c
	}()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.3")}}
	if p.client, err = d.DialContext(t.Context(), "tcp", l.Addr().String()); err != nil {
		t.Fatal(err)
	}
	if p.server = <-accepted; p.server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { p.client.Close(); p.server.Close() })
	return p
}

// ruleset lists the whole ruleset without table (nftpart.RulesetWithout).
func ruleset(t *testing.T, table string) string {
	t.Helper()
	r, err := RulesetWithout(t.Context(), table)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// counters sums the packets that table's rules matched.
func counters(t *testing.T, table string) int {
	t.Helper()
	out, err := exec.Command("nft", "list", "table", "ip", table).CombinedOutput()
	if err != nil {
		t.Fatalf("nft list table: %v: %s", err, out)
	}
	n := 0
	for _, f := range strings.Split(string(out), "counter packets ")[1:] {
		var p int
		fmt.Sscan(f, &p)
		n += p
	}
	return n
}

// apply runs the script that make returns.
func apply(t *testing.T, make func() (string, error)) {
	t.Helper()
	script, err := make()
	if err != nil {
		t.Fatal(err)
	}
	if err := Apply(t.Context(), []string{"nft"}, script); err != nil {
		t.Fatal(err)
	}
}

// arrives reads len(want) bytes from c within d.
func arrives(c net.Conn, want string, d time.Duration) error {
	c.SetReadDeadline(time.Now().Add(d))
	defer c.SetReadDeadline(time.Time{})
	buf := make([]byte, len(want))
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != want {
		return fmt.Errorf("read %q, want %q", buf, want)
	}
	return nil
}

// TestLiveDropStopsEstablishedConnection partitions an established
// connection one way and checks that no byte crosses, that the rules
// counted the packets they dropped, and that the connection carries the
// same bytes again after the heal, as after a real network outage.
func TestLiveDropStopsEstablishedConnection(t *testing.T) {
	live(t)
	table := Name("faultline_test", fmt.Sprint(os.Getpid()))
	t.Cleanup(func() { s, _ := DeleteTableScript(table); Apply(context.Background(), []string{"nft"}, s) })
	p := newPair(t)
	r := Rules{Table: table, Chain: "client_to_server", Flows: []Flow{{
		From: Side{Name: "client", Addr: "127.0.0.3"},
		To:   Side{Name: "server", Addr: "127.0.0.2", Ports: []int{p.port}},
	}}}
	before := ruleset(t, table)
	apply(t, r.InjectScript)
	if got := ruleset(t, table); got != before {
		t.Fatalf("inject changed the ruleset outside table %s:\nbefore:\n%s\nafter:\n%s", table, before, got)
	}
	if _, err := p.client.Write([]byte("ping")); err != nil {
		t.Fatalf("write under partition: %v (a drop must look like loss, not an error)", err)
	}
	var ne net.Error
	if err := arrives(p.server, "ping", time.Second); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("server read under partition: %v, want a timeout", err)
	}
	// The other way is open: a one-way partition.
	if _, err := p.server.Write([]byte("pong")); err != nil {
		t.Fatal(err)
	}
	if err := arrives(p.client, "pong", 5*time.Second); err != nil {
		t.Fatalf("server to client under a client-to-server partition: %v", err)
	}
	if n := counters(t, table); n == 0 {
		t.Fatal("the rules counted no packet")
	}
	apply(t, r.HealScript)
	if got := ruleset(t, table); got != before {
		t.Fatalf("heal changed the ruleset outside table %s:\nbefore:\n%s\nafter:\n%s", table, before, got)
	}
	if err := arrives(p.server, "ping", 20*time.Second); err != nil {
		t.Fatalf("server read after heal: %v (TCP should retransmit)", err)
	}
	apply(t, func() (string, error) { return DeleteTableScript(table) })
	if out, err := exec.Command("nft", "list", "table", "ip", table).CombinedOutput(); err == nil {
		t.Fatalf("table %s still there after teardown:\n%s", table, out)
	}
	if got := ruleset(t, table); got != before {
		t.Fatalf("ruleset after teardown differs from before:\nbefore:\n%s\nafter:\n%s", before, got)
	}
}

// TestLiveRejectResetsConnections checks the reject mode: new connections
// are refused and established ones reset, at once.
func TestLiveRejectResetsConnections(t *testing.T) {
	live(t)
	table := Name("faultline_test", fmt.Sprint(os.Getpid()))
	t.Cleanup(func() { s, _ := DeleteTableScript(table); Apply(context.Background(), []string{"nft"}, s) })
	p := newPair(t)
	r := Rules{Table: table, Chain: "both", Reject: true, Flows: []Flow{
		{From: Side{Name: "client", Addr: "127.0.0.3"}, To: Side{Name: "server", Addr: "127.0.0.2", Ports: []int{p.port}}},
		{From: Side{Name: "server", Addr: "127.0.0.2", Ports: []int{p.port}}, To: Side{Name: "client", Addr: "127.0.0.3"}},
	}}
	apply(t, r.InjectScript)
	p.client.Write([]byte("ping"))
	p.client.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := p.client.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("established connection under reject: %v, want ECONNRESET", err)
	}
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.3")}, Timeout: 10 * time.Second}
	if c, err := d.Dial("tcp", net.JoinHostPort("127.0.0.2", fmt.Sprint(p.port))); err == nil {
		c.Close()
		t.Fatal("new connection under reject succeeded")
	} else if !errors.Is(err, syscall.ECONNREFUSED) && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("new connection under reject: %v, want refused", err)
	}
	apply(t, r.HealScript)
	c, err := d.Dial("tcp", net.JoinHostPort("127.0.0.2", fmt.Sprint(p.port)))
	if err != nil {
		t.Fatalf("dial after heal: %v", err)
	}
	c.Close()
}
