package main

import (
	"fmt"
	"strings"
)

// knownDefects are the defect switches DESIGN.md lists; anything else is a
// typo. Every refengine process accepts all of them and honours its own.
func knownDefects() []string {
	return []string{
		"im-restart-stale-head-cache", "im-restart-stale-head-cache-intermittent", "rebuild-bi-parent-by-full-name", "upgrade-crash-loses-attachment",
		"cleanup-discards-replicas", "dr-restore-no-resume", "sysbackup-stale-last-backup",
		"no-resync-after-crash", "rebuild-snapshot-kept", "rebuild-leftovers-kept",
	}
}

// parseDefects splits a comma-separated list of defect switches and
// refuses names it does not know.
func parseDefects(list string) ([]string, error) {
	var out []string
	for _, d := range strings.Split(list, ",") {
		if d = strings.TrimSpace(d); d == "" {
			continue
		}
		known := false
		for _, k := range knownDefects() {
			known = known || k == d
		}
		if !known {
			return nil, fmt.Errorf("unknown defect %q (known: %s)", d, strings.Join(knownDefects(), ", "))
		}
		out = append(out, d)
	}
	return out, nil
}
