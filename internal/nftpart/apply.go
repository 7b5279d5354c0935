package nftpart

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// ErrUnavailable is wrapped by Apply's errors when the partition cannot be
// made at all here: the nft binary is missing or the caller may not change
// the ruleset.
var ErrUnavailable = errors.New("network partition unavailable")

// Apply runs script with `argv[0] argv[1:]... -f -`: ["nft"] on this host,
// ["docker", "exec", "-i", NODE, "nft"] inside a container.
func Apply(ctx context.Context, argv []string, script string) error {
	if len(argv) == 0 {
		return errors.New("nft: no command")
	}
	if _, err := exec.LookPath(argv[0]); err != nil {
		what := argv[0]
		if what == "nft" {
			what = "nft (Debian package nftables)"
		}
		return fmt.Errorf("%w: %s is not installed: %v", ErrUnavailable, what, err)
	}
	args := append(append([]string(nil), argv[1:]...), "-f", "-")
	cmd := exec.CommandContext(ctx, argv[0], args...)
	cmd.Stdin = strings.NewReader(script)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(out.String())
		switch {
		case strings.Contains(msg, "Operation not permitted"):
			return fmt.Errorf("%w: %s needs CAP_NET_ADMIN (run as root): %s", ErrUnavailable, strings.Join(argv, " "), msg)
		case strings.Contains(msg, "executable file not found") || strings.Contains(msg, "nft: not found"):
			return fmt.Errorf("%w: %s: %s", ErrUnavailable, strings.Join(argv, " "), msg)
		}
		return fmt.Errorf("%s -f -: %w: %s", strings.Join(argv, " "), err, msg)
	}
	return nil
}
