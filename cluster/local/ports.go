package local

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"

	"github.com/faultline/faultline/cluster"
)

// previous holds the ports of the previous run in a run directory, for
// Config.StablePorts.
type previous struct {
	dir     string
	manager int                     // 0: pick a free one
	nodes   map[string]cluster.Node // by name
}

// previousPorts reads the ports of the last run in Dir from its
// cluster.json; none when StablePorts is off or there was no run.
func (d *Driver) previousPorts() (previous, error) {
	p := previous{dir: d.cfg.Dir, nodes: map[string]cluster.Node{}}
	if !d.cfg.StablePorts {
		return p, nil
	}
	st, err := ReadState(d.cfg.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return p, nil
	}
	if err != nil {
		return p, fmt.Errorf("local cluster: ports of the previous run: %w", err)
	}
	if u, err := url.Parse(st.ManagerURL); err == nil {
		p.manager = portOf(u.Host)
	}
	for _, n := range st.Nodes {
		p.nodes[n.Name] = n
	}
	return p, nil
}

// pick returns port when it is set and free on host, an error naming it
// when it is taken, and a free port when it is 0.
func (p previous) pick(what, host string, port int) (int, error) {
	if port == 0 {
		return freePort(host)
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return 0, fmt.Errorf("local cluster: %s port %s:%d, kept from the previous run in %s, is taken (%w); stop what holds it, or use another directory", what, host, port, p.dir, err)
	}
	l.Close()
	return port, nil
}

// portOf returns the port of a host:port address, 0 when there is none.
func portOf(addr string) int {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		return 0
	}
	return n
}
