package nftpart

import (
	"strings"
	"testing"
)

func TestInjectScript(t *testing.T) {
	n1 := Side{Name: "node-1", Addr: "127.0.0.2", Ports: []int{4001, 4000}}
	n2 := Side{Name: "node-2", Addr: "127.0.0.3", Ports: []int{5000}}
	bare := Side{Name: "kind-worker", Addr: "172.18.0.3"}
	tests := []struct {
		name  string
		rules Rules
		want  []string // rule lines, in order
	}{
		{"one way with ports", Rules{Table: "faultline_x", Chain: "p1", Flows: []Flow{{n1, n2}}}, []string{
			`add rule ip faultline_x p1 ip saddr 127.0.0.2 ip daddr 127.0.0.3 tcp dport { 5000 } counter drop comment "faultline partition node_1 to node_2"`,
			`add rule ip faultline_x p1 ip saddr 127.0.0.2 ip daddr 127.0.0.3 tcp sport { 4000, 4001 } counter drop comment "faultline partition node_1 to node_2"`,
		}},
		{"both ways, reject", Rules{Table: "faultline_x", Chain: "p2", Flows: []Flow{{n1, n2}, {n2, n1}}, Reject: true}, []string{
			`add rule ip faultline_x p2 ip saddr 127.0.0.2 ip daddr 127.0.0.3 tcp dport { 5000 } tcp flags & rst == 0 counter reject with tcp reset comment "faultline partition node_1 to node_2"`,
			`add rule ip faultline_x p2 ip saddr 127.0.0.2 ip daddr 127.0.0.3 tcp sport { 4000, 4001 } tcp flags & rst == 0 counter reject with tcp reset comment "faultline partition node_1 to node_2"`,
			`add rule ip faultline_x p2 ip saddr 127.0.0.3 ip daddr 127.0.0.2 tcp dport { 4000, 4001 } tcp flags & rst == 0 counter reject with tcp reset comment "faultline partition node_2 to node_1"`,
			`add rule ip faultline_x p2 ip saddr 127.0.0.3 ip daddr 127.0.0.2 tcp sport { 5000 } tcp flags & rst == 0 counter reject with tcp reset comment "faultline partition node_2 to node_1"`,
		}},
		{"no ports", Rules{Table: "faultline_x", Chain: "p3", Flows: []Flow{{bare, n2}}}, []string{
			`add rule ip faultline_x p3 ip saddr 172.18.0.3 ip daddr 127.0.0.3 tcp dport { 5000 } counter drop comment "faultline partition kind_worker to node_2"`,
		}},
		{"no ports either side", Rules{Table: "faultline_x", Chain: "p4", Flows: []Flow{{bare, Side{Name: "w3", Addr: "172.18.0.4"}}}}, []string{
			`add rule ip faultline_x p4 ip saddr 172.18.0.3 ip daddr 172.18.0.4 meta l4proto tcp counter drop comment "faultline partition kind_worker to w3"`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := tt.rules.InjectScript()
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(s), "\n")
			head := []string{
				"add table ip faultline_x",
				"add chain ip faultline_x " + tt.rules.Chain + " " + hook,
				"flush chain ip faultline_x " + tt.rules.Chain,
			}
			want := append(head, tt.want...)
			if strings.Join(lines, "\n") != strings.Join(want, "\n") {
				t.Errorf("script:\n%s\nwant:\n%s", s, strings.Join(want, "\n"))
			}
			onlyOurTable(t, s, "faultline_x")
		})
	}
}

// onlyOurTable checks that every statement of script addresses table.
func onlyOurTable(t *testing.T, script, table string) {
	t.Helper()
	for _, l := range strings.Split(strings.TrimSpace(script), "\n") {
		f := strings.Fields(l)
		if len(f) < 4 || f[2] != "ip" || f[3] != table {
			t.Errorf("statement outside table %s: %q", table, l)
		}
	}
}

func TestScriptsRejectBadInput(t *testing.T) {
	good := Side{Name: "a", Addr: "127.0.0.2"}
	tests := []struct {
		name  string
		rules Rules
	}{
		{"table with a quote", Rules{Table: `x"; flush ruleset`, Chain: "c", Flows: []Flow{{good, good}}}},
		{"chain with a space", Rules{Table: "t", Chain: "c d", Flows: []Flow{{good, good}}}},
		{"host name", Rules{Table: "t", Chain: "c", Flows: []Flow{{good, Side{Name: "b", Addr: "localhost"}}}}},
		{"IPv6", Rules{Table: "t", Chain: "c", Flows: []Flow{{good, Side{Name: "b", Addr: "::1"}}}}},
		{"port", Rules{Table: "t", Chain: "c", Flows: []Flow{{good, Side{Name: "b", Addr: "127.0.0.3", Ports: []int{70000}}}}}},
		{"no flows", Rules{Table: "t", Chain: "c"}},
	}
	for _, tt := range tests {
		if s, err := tt.rules.InjectScript(); err == nil {
			t.Errorf("%s: InjectScript accepted it:\n%s", tt.name, s)
		}
	}
	if _, err := DeleteTableScript("t;x"); err == nil {
		t.Error("DeleteTableScript accepted t;x")
	}
	if _, err := (Rules{Table: "t", Chain: "c-d"}).HealScript(); err == nil {
		t.Error("HealScript accepted chain c-d")
	}
}

func TestName(t *testing.T) {
	for in, want := range map[string]string{"node-1": "node_1", "kind-worker2": "kind_worker2", "a.b/c": "a_b_c"} {
		if got := Name(in); got != want {
			t.Errorf("Name(%q) = %q, want %q", in, got, want)
		}
	}
	if got := Name("p", "node-1", "manager", "both"); got != "p_node_1_manager_both" {
		t.Errorf("Name(parts) = %q", got)
	}
}
