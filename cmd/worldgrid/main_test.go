package main

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowtune/flowtune/internal/cli"
)

func TestHelpStrayArgumentsAndAGrid(t *testing.T) {
	var stdout bytes.Buffer
	if err := runArgs([]string{"-h"}, &stdout); cli.ExitCode(err) != 0 || !strings.Contains(stdout.String(), "-pretrain") {
		t.Fatalf("-h: error %v, stdout %q", err, stdout.String())
	}
	if err := runArgs([]string{"grid.png"}, &stdout); cli.ExitCode(err) != cli.ExitUsage || !strings.Contains(err.Error(), `"grid.png"`) {
		t.Fatalf("stray argument: error %v, want a usage error naming it", err)
	}
	out := filepath.Join(t.TempDir(), "g.png")
	if err := runArgs([]string{"-out", out, "-cols", "2", "-rows", "1", "-zoom", "1"}, &stdout); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.DecodeConfig(f); err != nil {
		t.Fatal(err)
	}
}
