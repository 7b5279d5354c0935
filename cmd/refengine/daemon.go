package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// flagsFailed says how a daemon subcommand ends when its flags did not
// parse: done is false when err is nil; -h exits 0, anything else prints
// the error and exits 2.
func flagsFailed(cmd string, err error) (code int, done bool) {
	switch {
	case err == nil:
		return 0, false
	case errors.Is(err, flag.ErrHelp):
		return 0, true
	default:
		fmt.Fprintf(os.Stderr, "refengine %s: %v\n", cmd, err)
		return 2, true
	}
}

// serveDaemon runs serve until SIGTERM or SIGINT with a text logger on
// stderr at level whose every line carries key=value, so the lines of a
// manager, its nodes and their engines can be told apart in one log. A
// serve error is logged as "<what> failed" and exits 1.
func serveDaemon(what string, level slog.Level, key, value string, serve func(ctx context.Context, log *slog.Logger) error) int {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})).With(key, value)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := serve(ctx, log); err != nil {
		log.Error(what+" failed", "err", err)
		return 1
	}
	return 0
}

// simpleLevel reads the --log-level of the node and engine daemons, which
// take only the four level names.
func simpleLevel(s string) (slog.Level, error) {
	var level slog.Level
	switch s {
	case "debug", "info", "warn", "error":
		level.UnmarshalText([]byte(s))
		return level, nil
	}
	return level, fmt.Errorf("--log-level %q: want debug, info, warn or error", s)
}

// splitSizeSuffix splits a binary suffix K, M, G or T (any case) off a byte
// count and returns the rest and the multiplier it stands for (1 with no
// suffix).
func splitSizeSuffix(s string) (string, int64) {
	n := len(s)
	if n == 0 {
		return s, 1
	}
	mult := map[string]int64{"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}[strings.ToUpper(s[n-1:])]
	if mult == 0 {
		return s, 1
	}
	return s[:n-1], mult
}
