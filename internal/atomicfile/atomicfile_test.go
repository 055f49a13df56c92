package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteReplacesWhole(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.json")
	if err := WriteBytes(p, []byte("first")); err != nil {
		t.Fatal(err)
	}
	if err := WriteBytes(p, []byte("second")); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(p)
	if string(got) != "second" {
		t.Fatalf("got %q", got)
	}
}

// A failing writer leaves the old file untouched and no temporary file behind.
func TestFailedWriteLosesNothing(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "ckpt")
	if err := WriteBytes(p, []byte("good")); err != nil {
		t.Fatal(err)
	}
	err := Write(p, func(w io.Writer) error {
		w.Write([]byte("half"))
		return errors.New("disk full")
	})
	if err == nil {
		t.Fatal("a failing fill was reported as success")
	}
	got, _ := os.ReadFile(p)
	if string(got) != "good" {
		t.Fatalf("old content lost: %q", got)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("temporary files left behind: %v", ents)
	}
}

// RemoveStale deletes the temporary files of the named files only: not the files themselves,
// nor temporaries of other names, nor other hidden files.
func TestRemoveStale(t *testing.T) {
	dir := t.TempDir()
	keep := []string{"ckpt", ".ckpt.bak", ".other.tmp123", "notes.tmp1"}
	gone := []string{".ckpt.tmp123", ".ckpt.tmp-456", ".metrics.jsonl.tmp9"}
	for _, n := range append(append([]string{}, keep...), gone...) {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	removed, err := RemoveStale(dir, func(n string) bool { return n == "ckpt" || n == "metrics.jsonl" })
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != len(gone) {
		t.Fatalf("removed %v, want %v", removed, gone)
	}
	for _, n := range gone {
		if _, err := os.Stat(filepath.Join(dir, n)); !os.IsNotExist(err) {
			t.Fatalf("%s is still there", n)
		}
	}
	for _, n := range keep {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			t.Fatalf("%s was removed", n)
		}
	}
}
