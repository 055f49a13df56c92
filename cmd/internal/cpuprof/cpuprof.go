// Package cpuprof gives the commands their -cpuprofile flag: a pprof CPU profile of the whole
// run (`go tool pprof -top BINARY FILE`), the CPU-side counterpart of nsys on the GPU.
package cpuprof

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"

	"github.com/flowtune/flowtune/internal/atomicfile"
)

// Start begins profiling when path is not empty and returns the function that stops it and
// writes the profile to path, atomically. The profile is held in memory until then (a few
// hundred kB for an hour's run), so an interrupted run leaves no partial file; a directory that
// cannot take the file is reported here, before the run, not after it.
func Start(path string) (stop func() error, err error) {
	if path == "" {
		return func() error { return nil }, nil
	}
	probe, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return nil, fmt.Errorf("-cpuprofile %s: %w (give a path in a writable directory)", path, err)
	}
	probe.Close()
	os.Remove(probe.Name())
	var buf bytes.Buffer
	if err := pprof.StartCPUProfile(&buf); err != nil {
		return nil, fmt.Errorf("-cpuprofile %s: %w", path, err)
	}
	return func() error {
		pprof.StopCPUProfile()
		if err := atomicfile.WriteBytes(path, buf.Bytes()); err != nil {
			return fmt.Errorf("-cpuprofile: %w", err)
		}
		return nil
	}, nil
}
