//go:build !cuda

// Command kernelbench checks every CUDA kernel against its CPU twin and times it. It needs the
// CUDA backend: build with -tags cuda (see build.sh).
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "kernelbench needs the CUDA backend: build it with `go build -tags cuda ./cmd/kernelbench` (see build.sh)")
	os.Exit(2)
}
