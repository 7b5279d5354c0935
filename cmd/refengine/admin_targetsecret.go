package main

import (
	"errors"
	"os"
	"strings"

	"github.com/faultline/faultline/engine/api"
)

// rawValues collects a repeatable flag's values as given. They are parsed
// after flag parsing, so that no message, not even package flag's "invalid
// value", ever repeats a secret key.
type rawValues []string

func (r *rawValues) String() string {
	if r == nil || len(*r) == 0 {
		return ""
	}
	return "(set)"
}

func (r *rawValues) Set(v string) error { *r = append(*r, v); return nil }

// parseTargetSecrets builds a system restore's targetSecrets (target name →
// secret key) from --target-secret TARGET=SECRETKEY and --target-secret-file
// TARGET=FILE values; a file's content without trailing line ends is the
// key. A malformed value, an invalid target name, an empty key, an
// unreadable file or a target given twice (either way) is a usage error
// that names the target, never the key. Nil when neither flag was given.
func parseTargetSecrets(literal, files []string) (map[string]string, error) {
	var secrets map[string]string
	add := func(flagName, want, v string, read func(string) (string, error)) error {
		target, arg, ok := strings.Cut(v, "=")
		if !ok || target == "" || arg == "" {
			return usagef("--%s: want TARGET=%s with both parts set", flagName, want)
		}
		if err := api.ValidateName("backup target", target); err != nil {
			var e *api.Error
			if errors.As(err, &e) {
				err = errors.New(e.Message) // without "400 Bad Request": nothing was sent
			}
			return usagef("--%s: %v", flagName, err)
		}
		if _, dup := secrets[target]; dup {
			return usagef("--%s: target %s given twice", flagName, target)
		}
		key, err := read(arg)
		if err != nil {
			return usagef("--%s: target %s: %v", flagName, target, err)
		}
		if key == "" {
			return usagef("--%s: target %s: the secret key is empty", flagName, target)
		}
		if secrets == nil {
			secrets = map[string]string{}
		}
		secrets[target] = key
		return nil
	}
	asIs := func(s string) (string, error) { return s, nil }
	readFile := func(path string) (string, error) {
		b, err := os.ReadFile(path)
		return strings.TrimRight(string(b), "\r\n"), err
	}
	for _, v := range literal {
		if err := add("target-secret", "SECRETKEY", v, asIs); err != nil {
			return nil, err
		}
	}
	for _, v := range files {
		if err := add("target-secret-file", "FILE", v, readFile); err != nil {
			return nil, err
		}
	}
	return secrets, nil
}
