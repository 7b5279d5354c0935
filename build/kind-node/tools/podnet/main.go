// Command podnet is the kind node image's pod network daemon, run under the name of kind's
// kindnetd image (whose source is not served by the module proxy). On every node it writes a CNI
// configuration (ptp with IP masquerade, host-local addresses from the node's PodCIDR, portmap) and
// keeps a route to every other node's PodCIDR through that node's InternalIP. IPv4 only; no
// NetworkPolicy.
package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

const confPath = "/etc/cni/net.d/10-kindnet.conflist"

const confTemplate = `{
  "cniVersion": "0.4.0",
  "name": "kindnet",
  "plugins": [
    {
      "type": "ptp",
      "ipMasq": true,
      "mtu": %d,
      "ipam": {
        "type": "host-local",
        "dataDir": "/run/cni-ipam-state",
        "routes": [{"dst": "0.0.0.0/0"}],
        "ranges": [[{"subnet": "%s"}]]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
`

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, log, os.Getenv("HOST_IP")); err != nil && ctx.Err() == nil {
		log.Error("podnet", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger, hostIP string) error {
	if net.ParseIP(hostIP) == nil {
		return fmt.Errorf("HOST_IP %q is not an IP address", hostIP)
	}
	cfg, err := rest.InClusterConfig()
	if err != nil {
		return fmt.Errorf("in-cluster config: %w", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	mtu := linkMTU(hostIP)
	for {
		if err := sync(ctx, log, cs, hostIP, mtu); err != nil {
			log.Warn("sync", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Second):
		}
	}
}

// sync writes this node's CNI configuration and routes to the other nodes' pod ranges.
func sync(ctx context.Context, log *slog.Logger, cs kubernetes.Interface, hostIP string, mtu int) error {
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list nodes: %w", err)
	}
	for i := range nodes.Items {
		n := &nodes.Items[i]
		ip, cidr := internalIPv4(n), n.Spec.PodCIDR
		if ip == "" || cidr == "" {
			continue
		}
		if ip == hostIP {
			if err := writeConf(fmt.Sprintf(confTemplate, mtu, cidr)); err != nil {
				return err
			}
			continue
		}
		_, dst, err := net.ParseCIDR(cidr)
		if err != nil {
			log.Warn("bad PodCIDR", "node", n.Name, "cidr", cidr)
			continue
		}
		if err := netlink.RouteReplace(&netlink.Route{Dst: dst, Gw: net.ParseIP(ip)}); err != nil {
			log.Warn("route", "dst", cidr, "via", ip, "err", err)
		}
	}
	return nil
}

func writeConf(conf string) error {
	if have, err := os.ReadFile(confPath); err == nil && bytes.Equal(have, []byte(conf)) {
		return nil
	}
	tmp := confPath + ".tmp"
	if err := os.WriteFile(tmp, []byte(conf), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, confPath)
}

func internalIPv4(n *corev1.Node) string {
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP && net.ParseIP(a.Address).To4() != nil {
			return a.Address
		}
	}
	return ""
}

// linkMTU is the MTU of the interface holding hostIP; pods inherit it so that encapsulation-free
// routing between node containers does not fragment.
func linkMTU(hostIP string) int {
	links, err := netlink.LinkList()
	if err != nil {
		return 1500
	}
	for _, l := range links {
		addrs, _ := netlink.AddrList(l, netlink.FAMILY_V4)
		for _, a := range addrs {
			if a.IP.String() == hostIP {
				return l.Attrs().MTU
			}
		}
	}
	return 1500
}
