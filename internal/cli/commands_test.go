package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEveryCommandParsesThroughCLI guards the promise of this package for commands added
// later: every command under cmd/ parses its flags with Parse (so -h exits 0, and bad flags and
// stray arguments exit 2 naming them) and not with a bare FlagSet.Parse or flag.Parse.
// Folders under cmd/ without a main package (cmd/internal) are skipped.
func TestEveryCommandParsesThroughCLI(t *testing.T) {
	dirs, err := filepath.Glob("../../cmd/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no commands found under cmd/ (%v)", err)
	}
	for _, dir := range dirs {
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		var src strings.Builder
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			src.Write(b)
		}
		s := src.String()
		name := filepath.Base(dir)
		if !strings.Contains(s, "package main") {
			continue // not a command: cmd/internal holds packages the commands share
		}
		if !strings.Contains(s, "cli.Parse(") {
			t.Errorf("cmd/%s does not parse its flags with cli.Parse", name)
		}
		if strings.Contains(s, "fs.Parse(") || strings.Contains(s, "flag.Parse()") {
			t.Errorf("cmd/%s calls FlagSet.Parse or flag.Parse directly; use cli.Parse", name)
		}
	}
}
