// Package device opens the compute backend a command's -device flag names. It lives under cmd/
// because only commands (and tests) import the cuda package.
package device

import (
	"fmt"

	"github.com/flowtune/flowtune/cuda"
	"github.com/flowtune/flowtune/internal/memlimit"
	"github.com/flowtune/flowtune/tensor"
)

// Names are the valid -device values.
const Names = "cpu, cuda"

// Open returns the backend for name: "cpu", or "cuda", which needs a binary built with
// -tags cuda (without it the error says so). For "cpu" it also paces the collector for tensors
// on the Go heap (memlimit.PaceCPU).
func Open(name string) (tensor.Backend, error) {
	switch name {
	case "cpu":
		memlimit.PaceCPU() // tensors on the Go heap: collect by heap size, not by GOGC (a no-op unless memlimit.Apply ran)
		return tensor.CPU(), nil
	case "cuda":
		b, err := cuda.New()
		if err != nil {
			return nil, fmt.Errorf("-device cuda: %w", err)
		}
		return b, nil
	}
	return nil, fmt.Errorf("unknown -device %q (valid: %s)", name, Names)
}

// Describe names the card behind a cuda backend ("" for the CPU).
func Describe(b tensor.Backend) string {
	if b == tensor.CPU() {
		return ""
	}
	return cuda.Describe(b)
}
