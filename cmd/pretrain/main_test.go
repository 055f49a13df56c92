package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/flowtune/flowtune/internal/cli"
)

// -h prints the usage on stdout and is not an error; a stray argument is a usage error.
func TestHelpAndStrayArguments(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"-h"}, &stdout, &stderr)
	if cli.ExitCode(err) != 0 || !bytes.Contains(stdout.Bytes(), []byte("-sample-every")) || stderr.Len() != 0 {
		t.Fatalf("-h: error %v; stdout %q, stderr %q", err, stdout.String(), stderr.String())
	}
	err = run(context.Background(), []string{"-steps", "1", "runs/x"}, &stdout, &stderr)
	if cli.ExitCode(err) != cli.ExitUsage || !bytes.Contains([]byte(err.Error()), []byte(`"runs/x"`)) {
		t.Fatalf("stray argument: error %v, want a usage error naming it", err)
	}
}
