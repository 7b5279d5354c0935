package faults

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/cluster/local"
	"github.com/faultline/faultline/internal/nftpart"
)

// TestPartitionCleanup checks what the rules touch and who removes them:
// injecting a partition whose chain a crashed run left behind works and
// does not duplicate its rules; another driver for the same run directory
// (what `faultline cluster down` or the next run is after a crash) removes
// the table in Down without ever having been up; and the rest of the
// ruleset (Docker's tables among it) is the same before and after.
func TestPartitionCleanup(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	d, _ := partitionCluster(t, ctx, 2)
	table := d.PartitionTable()
	before := rulesetWithout(t, table)
	p := cluster.Partition{A: "node-1", B: "node-2"}
	if err := d.Partition(ctx, p); err != nil {
		t.Fatal(err)
	}
	first := ruleCount(t, table)
	if first != 4 {
		t.Fatalf("%d rules for a two-way partition, want 4 (2 per direction):\n%s", first, listTable(t, table))
	}
	// The chain is there as a crashed run would have left it.
	if err := d.Partition(ctx, p); err != nil {
		t.Fatalf("inject over a stale chain: %v", err)
	}
	if n := ruleCount(t, table); n != first {
		t.Fatalf("re-inject left %d rules, want %d", n, first)
	}
	if got := rulesetWithout(t, table); got != before {
		t.Fatalf("the partition changed the ruleset outside %s:\nbefore:\n%s\nafter:\n%s", table, before, got)
	}

	other, err := local.New(local.Config{Dir: d.Dir(), Refengine: "/bin/true"})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Down(ctx); err != nil {
		t.Fatalf("down of a driver that was never up: %v", err)
	}
	if tableExists(table) {
		t.Fatalf("table %s survived Down of another driver of the same run directory:\n%s", table, listTable(t, table))
	}
	if got := rulesetWithout(t, table); got != before {
		t.Fatalf("cleanup changed the ruleset outside %s:\nbefore:\n%s\nafter:\n%s", table, before, got)
	}
	// Healing what is gone is no error.
	if err := d.HealPartition(ctx, p); err != nil {
		t.Fatalf("heal after cleanup: %v", err)
	}
}

func listTable(t *testing.T, table string) string {
	t.Helper()
	out, err := exec.Command("nft", "list", "table", "ip", table).CombinedOutput()
	if err != nil {
		t.Fatalf("nft list table %s: %v: %s", table, err, out)
	}
	return string(out)
}

func ruleCount(t *testing.T, table string) int {
	return strings.Count(listTable(t, table), " counter packets ")
}

// rulesetWithout lists the whole ruleset without table (nftpart.RulesetWithout).
func rulesetWithout(t *testing.T, table string) string {
	t.Helper()
	r, err := nftpart.RulesetWithout(t.Context(), table)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
