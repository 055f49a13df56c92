package cpuprof

import (
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A profile is written on stop, as pprof's gzipped protobuf, with no temporary file left.
func TestStartWritesProfileOnStop(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cpu.pprof")
	stop, err := Start(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("profile exists before stop (%v)", err)
	}
	x := 1.0
	for i := 0; i < 1e7; i++ {
		x = x*1.0000001 + 1e-9
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("profile is not gzip (pprof's format): %v", err)
	}
	if n, err := io.Copy(io.Discard, zr); err != nil || n == 0 {
		t.Fatalf("profile body: %d bytes, %v", n, err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("directory holds %d entries, want only the profile (x=%g)", len(ents), x)
	}
}

// A directory that cannot take the profile is an error before the run starts.
func TestStartRejectsMissingDirectory(t *testing.T) {
	_, err := Start(filepath.Join(t.TempDir(), "no", "such", "cpu.pprof"))
	if err == nil || !strings.Contains(err.Error(), "-cpuprofile") {
		t.Fatalf("err = %v, want a -cpuprofile error", err)
	}
}

// No path, no profile, and stop is harmless.
func TestStartEmptyPath(t *testing.T) {
	stop, err := Start("")
	if err != nil || stop() != nil {
		t.Fatal("empty path should be a no-op")
	}
}
