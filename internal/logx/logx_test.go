package logx

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A log written to a file carries no ANSI escape codes.
func TestNoColourInFiles(t *testing.T) {
	t.Setenv("NO_COLOR", "")
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	log := New(f)
	log.Info().Str("k", "v").Msg("hello")
	log.Error().Msg("bad")
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "\x1b[") || !strings.Contains(string(b), "hello") || !strings.Contains(string(b), "k=v") {
		t.Fatalf("file log %q: want plain text with the message and fields", b)
	}
}
