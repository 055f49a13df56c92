package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// -h and -help are requests, not errors: the usage goes to stdout and the exit status is 0.
func TestHelpExitsZero(t *testing.T) {
	for _, arg := range []string{"-h", "-help"} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), []string{arg}, &stdout, &stderr); code != 0 {
			t.Fatalf("%s: exit %d, want 0; stderr %q", arg, code, stderr.String())
		}
		if !strings.Contains(stdout.String(), "usage: finetune") || !strings.Contains(stdout.String(), "-ram.multiplier") || stderr.Len() != 0 {
			t.Fatalf("%s: want the usage with every flag on stdout only; stdout %q, stderr %q", arg, stdout.String(), stderr.String())
		}
	}
}
