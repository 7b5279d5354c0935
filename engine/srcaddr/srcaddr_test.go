package srcaddr

import (
	"net"
	"testing"
)

func TestDialerBindsTCPOnly(t *testing.T) {
	tests := []struct {
		source, network string
		want            string // local IP bound; "" for none
		wantErr         bool
	}{
		{"127.0.0.3", "tcp", "127.0.0.3", false},
		{"127.0.0.3", "unix", "", false},
		{"", "tcp", "", false},
		{"node-1", "tcp", "", true},
	}
	for _, tt := range tests {
		d, err := Dialer(tt.source, tt.network)
		if (err != nil) != tt.wantErr {
			t.Errorf("Dialer(%q, %q) error = %v, want error %t", tt.source, tt.network, err, tt.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		got := ""
		if a, ok := d.LocalAddr.(*net.TCPAddr); ok {
			got = a.IP.String()
		}
		if got != tt.want {
			t.Errorf("Dialer(%q, %q) binds %q, want %q", tt.source, tt.network, got, tt.want)
		}
	}
}

// TestDialerSourceSeenByPeer checks on loopback what the package exists for:
// the peer sees the bound address, not 127.0.0.1.
func TestDialerSourceSeenByPeer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("no 127.0.0.2 on this host: %v", err)
	}
	defer l.Close()
	accepted := make(chan net.Addr, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		accepted <- c.RemoteAddr()
		c.Close()
	}()
	d, err := Dialer("127.0.0.3", "tcp")
	if err != nil {
		t.Fatal(err)
	}
	c, err := d.DialContext(t.Context(), "tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	remote := <-accepted
	if a, ok := remote.(*net.TCPAddr); !ok || a.IP.String() != "127.0.0.3" {
		t.Fatalf("peer sees %v, want 127.0.0.3", remote)
	}
}
