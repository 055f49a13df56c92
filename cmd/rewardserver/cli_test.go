package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// -h prints the usage on stdout and exits 0.
func TestHelpExitsZero(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := runIO(context.Background(), []string{"-help"}, &stdout, &stderr, nil); code != exitOK {
		t.Fatalf("exit %d, want 0; stderr %q", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "usage: rewardserver") || stderr.Len() != 0 {
		t.Fatalf("stdout %q, stderr %q: want the usage on stdout only", stdout.String(), stderr.String())
	}
}

// A log redirected to a file has no ANSI colour codes.
func TestLogFileHasNoColour(t *testing.T) {
	t.Setenv("NO_COLOR", "")
	f, err := os.Create(filepath.Join(t.TempDir(), "server.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx, cancel := context.WithCancel(context.Background())
	code := runIO(ctx, []string{"-reward", "jpeg", "-addr", "127.0.0.1:0"}, &bytes.Buffer{}, f, func(string) { cancel() })
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "serving") || strings.Contains(string(b), "\x1b[") {
		t.Fatalf("log file %q: want plain text", b)
	}
}
