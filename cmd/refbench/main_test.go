package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestBadFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--size", "lots"}, "--size"},
		{[]string{"--bogus"}, "bogus"},
		{[]string{"extra"}, "unexpected"},
		{[]string{"--targets", "nope", "--quiet"}, "unknown target"},
		{[]string{"--runtime", "0s"}, "runtime"},
		{[]string{"--only", "nope", "--quiet"}, "unknown job"},
		{[]string{"--only", " , "}, "--only"},
		{[]string{"--only", "resync", "--resync=false"}, "--only"},
		{[]string{"--backup-size", "big"}, "--backup-size"},
		{[]string{"--repeat", "0"}, "--repeat"},
		{[]string{"--workloads", "seqwrite-1m-qd8,nope"}, "unknown workload \"nope\""},
		{[]string{"--workloads", ","}, "--workloads: none given"},
		{[]string{"--repeat", "many"}, "repeat"},
		{[]string{"--warmup", "500ms", "--quiet"}, "warm-up"},
		{[]string{"--only", "backup", "--backup-size", "3MiB", "--quiet"}, "backup size"},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		if code := run(tt.args, &stdout, &stderr); code != 2 {
			t.Errorf("run(%q) = %d, want 2", tt.args, code)
		}
		if !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("run(%q) said %q, want it to mention %q", tt.args, stderr.String(), tt.want)
		}
	}
}

func TestSplitList(t *testing.T) {
	got := splitList(" a, b,,c ")
	if strings.Join(got, "|") != "a|b|c" {
		t.Fatalf("splitList gave %q", got)
	}
}
