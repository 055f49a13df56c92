package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowtune/flowtune/internal/cli"
)

func TestHelpExitsZero(t *testing.T) {
	var stdout bytes.Buffer
	err := run([]string{"-h"}, &stdout)
	if cli.ExitCode(err) != 0 || !strings.Contains(stdout.String(), "-export") || !strings.Contains(stdout.String(), "-run") {
		t.Fatalf("-h: error %v (exit %d), usage %q", err, cli.ExitCode(err), stdout.String())
	}
}

// Non-finite and out-of-range values, stray arguments and jobs too big for the memory are refused
// before any work, naming the flag (or the estimate), with exit status 2 and no file written.
func TestRefusesBadValuesBeforeWork(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-cfg", "NaN"}, "-cfg NaN"},
		{[]string{"-cfg", "-1"}, "-cfg -1"},
		{[]string{"-cfg", "Inf"}, "-cfg +Inf"},
		{[]string{"-sde", "-noise", "NaN"}, "-noise NaN"},
		{[]string{"-noise", "0"}, "-noise 0"},
		{[]string{"-scale", "0"}, "-scale 0 is out of range"},
		{[]string{"-scale", "-3"}, "-scale -3 is out of range"},
		{[]string{"-scale", "100000"}, "-scale 100000 is out of range"},
		{[]string{"-n", "1000000000"}, "-n 1000000000 is out of range"},
		{[]string{"-steps", "1000000000"}, "-steps 1000000000 is out of range"},
		{[]string{"-steps", "1e9"}, `invalid value "1e9" for flag -steps`},
		{[]string{"-max-mem", "NaN"}, "-max-mem NaN"},
		{[]string{"stray", "words"}, `unexpected arguments "stray" "words"`},
		// one row of 1024 cells of 1024 px: (1024·1026+2) × (34 title + 32 caption + 1026 + 2) px,
		// 4 bytes each, twice (image and PNG encoding) = 8.56 GiB
		{[]string{"-n", "1024", "-scale", "32", "-max-mem", "1"}, "grid 8.56 GiB"},
		// 1000 images × 1001 latents of 3·32·32 floats (+ log-probs), twice for the collector = 22.9 GiB
		{[]string{"-n", "1000", "-steps", "1000", "-sde", "-max-mem", "1"}, "SDE trajectory 22.9 GiB"},
	} {
		dir := t.TempDir()
		args := append([]string{"-prompt", "two red circles", "-out", dir}, tc.args...)
		err := run(args, &bytes.Buffer{})
		if cli.ExitCode(err) != cli.ExitUsage || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v (exit %d), want a usage error containing %q", tc.args, err, cli.ExitCode(err), tc.want)
		}
		if files, _ := os.ReadDir(dir); len(files) > 0 {
			t.Errorf("%q: wrote %v before refusing", tc.args, files)
		}
	}
	// The estimate is checked against the machine's memory when -max-mem is not given.
	many := []string{"-n", "1024", "-scale", "32", "-steps", "1", "-out", t.TempDir()}
	for i := 0; i < 64; i++ {
		many = append(many, "-prompt", "two red circles")
	}
	if err := run(many, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "GiB allowed (80% of the memory available now") {
		t.Errorf("a 550 GB grid: error %v, want a refusal against the available memory", err)
	}
}

// The grid goes into a folder with the rows' prompts beside it; nothing is overwritten without
// -force, in folder or file mode.
func TestOutputFolderNeverOverwritesSilently(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	args := []string{"-prompt", "two red circles", "-prompt", "a blue square", "-n", "1", "-steps", "1", "-scale", "1", "-out", dir}
	if err := run(args, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	checkPNG(t, filepath.Join(dir, "samples.png"), 1, 2, 1)
	if b, err := os.ReadFile(filepath.Join(dir, promptsFile)); err != nil || string(b) != "two red circles\na blue square\n" {
		t.Fatalf("%s: %q, %v", promptsFile, b, err)
	}
	err := run(args, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "samples.png already exists") || !strings.Contains(err.Error(), "-force") {
		t.Fatalf("second run into the same folder: %v, want a refusal pointing at -force", err)
	}
	if err := run(append(args, "-force"), &bytes.Buffer{}); err != nil {
		t.Fatalf("with -force: %v", err)
	}

	file := filepath.Join(t.TempDir(), "mine.png")
	if err := os.WriteFile(file, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run([]string{"-prompt", "two red circles", "-n", "1", "-steps", "1", "-out", file}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("existing -out file: %v", err)
	}
	if b, _ := os.ReadFile(file); string(b) != "precious" {
		t.Fatal("the existing file was overwritten")
	}
}
