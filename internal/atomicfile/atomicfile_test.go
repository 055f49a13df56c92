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
