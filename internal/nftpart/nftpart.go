// Package nftpart writes and applies the nftables rules of a network
// partition: packets from one side to the other are dropped (or answered
// with a TCP reset) at the receiver's input hook, so the sender's stack
// sees nothing but loss, as on a real network.
//
// Every rule lives in a table of faultline's own (family ip), one base chain
// per partition; healing deletes the chain and tearing a run down deletes
// the table. Nothing else in the ruleset (Docker's, kube-proxy's, the
// host's) is read or written: nftables evaluates every base chain on a hook,
// so a drop in faultline's chain takes effect whatever other tables accept.
package nftpart

import (
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Side is one end of a partition as its packets show it.
type Side struct {
	Name string // for rule comments
	// Addr is the IPv4 address the side listens on and dials from.
	Addr string
	// Ports are the TCP ports it listens on. They narrow the rules to this
	// cluster's connections when other clusters on the host use the same
	// addresses; none matches every port.
	Ports []int
}

// Flow is one direction of a partition: TCP packets From → To are dropped.
type Flow struct{ From, To Side }

// Rules is one partition: its flows, in chain Chain of table Table.
type Rules struct {
	Table, Chain string
	Flows        []Flow
	// Reject answers each packet with a TCP reset instead of dropping it:
	// connections fail at once rather than time out.
	Reject bool
}

// hook is the base chain every partition's chain is: the input hook, before
// the filter priority, accepting what it does not drop.
const hook = "{ type filter hook input priority -10; policy accept; }"

var ident = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// Name turns a run's identity into a table or chain name nft accepts:
// letters, digits and underscores.
func Name(parts ...string) string {
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteByte('_')
		}
		for _, r := range p {
			if r < 0x80 && (r == '_' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9') {
				b.WriteRune(r)
			} else {
				b.WriteByte('_')
			}
		}
	}
	return b.String()
}

// Check validates names and addresses: they end up in a script that runs as
// root.
func (r Rules) Check() error {
	for _, n := range []string{r.Table, r.Chain} {
		if !ident.MatchString(n) {
			return fmt.Errorf("nftables name %q: want letters, digits and underscores", n)
		}
	}
	if len(r.Flows) == 0 {
		return fmt.Errorf("chain %s: no flows", r.Chain)
	}
	for _, f := range r.Flows {
		for _, s := range []Side{f.From, f.To} {
			if ip := net.ParseIP(s.Addr); ip == nil || ip.To4() == nil {
				return fmt.Errorf("side %s: address %q is not IPv4", s.Name, s.Addr)
			}
			for _, p := range s.Ports {
				if p <= 0 || p > 65535 {
					return fmt.Errorf("side %s: port %d out of range", s.Name, p)
				}
			}
		}
	}
	return nil
}

// InjectScript is the nft script that installs the partition. It is
// idempotent: a chain of the same name left by a crashed run is flushed and
// refilled.
func (r Rules) InjectScript() (string, error) {
	if err := r.Check(); err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "add table ip %s\n", r.Table)
	fmt.Fprintf(&b, "add chain ip %s %s %s\n", r.Table, r.Chain, hook)
	fmt.Fprintf(&b, "flush chain ip %s %s\n", r.Table, r.Chain)
	verdict := "counter drop"
	if r.Reject {
		// The resets the rules send must cross the partition themselves.
		verdict = "tcp flags & rst == 0 counter reject with tcp reset"
	}
	for _, f := range r.Flows {
		comment := strconv.Quote("faultline partition " + Name(f.From.Name) + " to " + Name(f.To.Name))
		match := fmt.Sprintf("ip saddr %s ip daddr %s", f.From.Addr, f.To.Addr)
		if len(f.To.Ports) == 0 && len(f.From.Ports) == 0 {
			fmt.Fprintf(&b, "add rule ip %s %s %s meta l4proto tcp %s comment %s\n", r.Table, r.Chain, match, verdict, comment)
			continue
		}
		// Requests to To's listeners, and replies from From's listeners
		// to connections To opened.
		if len(f.To.Ports) > 0 {
			fmt.Fprintf(&b, "add rule ip %s %s %s tcp dport %s %s comment %s\n", r.Table, r.Chain, match, set(f.To.Ports), verdict, comment)
		}
		if len(f.From.Ports) > 0 {
			fmt.Fprintf(&b, "add rule ip %s %s %s tcp sport %s %s comment %s\n", r.Table, r.Chain, match, set(f.From.Ports), verdict, comment)
		}
	}
	return b.String(), nil
}

// HealScript is the nft script that removes the partition's chain, whether
// or not it exists.
func (r Rules) HealScript() (string, error) {
	if !ident.MatchString(r.Table) || !ident.MatchString(r.Chain) {
		return "", fmt.Errorf("nftables names %q %q: want letters, digits and underscores", r.Table, r.Chain)
	}
	return fmt.Sprintf("add table ip %[1]s\nadd chain ip %[1]s %[2]s %[3]s\nflush chain ip %[1]s %[2]s\ndelete chain ip %[1]s %[2]s\n",
		r.Table, r.Chain, hook), nil
}

// DeleteTableScript is the nft script that removes table and every chain in
// it, whether or not it exists (nft before 1.0.8 has no `destroy`).
func DeleteTableScript(table string) (string, error) {
	if !ident.MatchString(table) {
		return "", fmt.Errorf("nftables name %q: want letters, digits and underscores", table)
	}
	return fmt.Sprintf("add table ip %[1]s\ndelete table ip %[1]s\n", table), nil
}

func set(ports []int) string {
	ps := slices.Clone(ports)
	slices.Sort(ps)
	ps = slices.Compact(ps)
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = strconv.Itoa(p)
	}
	return "{ " + strings.Join(s, ", ") + " }"
}
