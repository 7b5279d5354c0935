package nftpart

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// RulesetWithout lists this host's whole ruleset except the table named
// table, without counters (`nft -s`): what a partition must leave as it
// was. Counters are left out because other tables' (Docker's) keep moving
// while a test runs.
func RulesetWithout(ctx context.Context, table string) (string, error) {
	out, err := exec.CommandContext(ctx, "nft", "-s", "list", "ruleset").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("nft -s list ruleset: %w: %s", err, out)
	}
	var keep []string
	skip := false
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "table ip "+table+" "):
			skip = true
		case skip && l == "}":
			skip = false
		case !skip:
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n"), sc.Err()
}
