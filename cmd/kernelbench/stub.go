//go:build !cuda

// Command kernelbench checks every CUDA kernel against its CPU twin and times it. It needs the
// CUDA backend: build with -tags cuda (see build.sh).
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/flowtune/flowtune/internal/cli"
)

const needsCUDA = "kernelbench needs the CUDA backend: build it with `go build -tags cuda ./cmd/kernelbench` (see build.sh)"

func main() { os.Exit(stub(os.Args[1:], os.Stdout, os.Stderr)) }

// stub answers -h with what the command is and how to build it (exit 0), anything else with
// the same on stderr (exit 2).
func stub(args []string, stdout, stderr io.Writer) int {
	for _, a := range args {
		if a == "-h" || a == "-help" || a == "--help" || a == "--h" {
			fmt.Fprintln(stdout, needsCUDA)
			return cli.ExitOK
		}
	}
	fmt.Fprintln(stderr, needsCUDA)
	return cli.ExitUsage
}
