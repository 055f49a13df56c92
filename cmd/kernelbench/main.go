//go:build cuda

// Command kernelbench runs each CUDA kernel against its CPU twin (correctness, on a small
// size), then times it on a large one with CUDA events and prints TFLOP/s or GB/s beside the
// device's peak and the device-to-device copy bandwidth measured in the same run.
//
//	go build -tags cuda -o kernelbench ./cmd/kernelbench && ./kernelbench [-only REGEX] [-quick]
package main

import (
	"flag"
	"fmt"
	"math"
	"os"
	"regexp"
	"sort"
	"strings"

	"github.com/flowtune/flowtune/cuda"
	"github.com/flowtune/flowtune/internal/cli"
	"github.com/flowtune/flowtune/tensor"
)

// kcase is one kernel under test.
type kcase struct {
	name string
	// check runs the op on a small problem with fixed inputs on backend be (gpu tells whether
	// be is the CUDA backend) and returns the outputs; the CUDA and CPU results are compared.
	check func(be tensor.Backend, gpu bool) []float32
	tol   float64 // max |gpu − cpu| / max |cpu|
	// bench prepares a large problem and returns the launch, the useful flops and the bytes
	// moved at least once (0 when not meaningful), and a shape label.
	bench func(g *cuda.Backend, quick bool) (run func(), flops, bytes float64, shape string)
	peak  cuda.Precision // which tensor/SIMT peak the flops compare with
}

type row struct {
	name, shape, check string
	us, tflops, gbs    float64
	pct                string
}

func main() {
	only := flag.String("only", "", "run only kernels whose name matches this regular expression")
	quick := flag.Bool("quick", false, "smaller benchmark sizes")
	noBench := flag.Bool("nobench", false, "only check each kernel against its CPU twin (e.g. on the CPU emulator, cuda/emu)")
	flag.CommandLine.Init("kernelbench", flag.ContinueOnError)
	if err := cli.Parse(flag.CommandLine, os.Args[1:], os.Stdout); err != nil {
		os.Exit(cli.Report(os.Stderr, "kernelbench", err))
	}
	re, err := regexp.Compile(*only)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kernelbench: -only:", err)
		os.Exit(2)
	}
	g, err := cuda.Open(cuda.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "kernelbench:", err)
		os.Exit(1)
	}
	info := g.Info()
	fmt.Printf("device: %s\nkernel load: %s image in %v\n", info, info.Image, info.Load)
	fmt.Printf("peaks at boost clock: bf16 %.0f, tf32 %.0f, fp32 %.1f TFLOP/s; DRAM %.0f GB/s\n\n",
		info.PeakTFLOPs(cuda.BF16), info.PeakTFLOPs(cuda.TF32), info.PeakTFLOPs(cuda.FP32), info.PeakGBs())

	copyGBs := 0.0
	if !*noBench {
		copyGBs = measureCopy(g, *quick)
		fmt.Printf("device-to-device copy: %.0f GB/s (read + write), the bandwidth reference below\n\n", copyGBs)
	}

	var rows []row
	failed := 0
	for _, c := range cases() {
		if !re.MatchString(c.name) {
			continue
		}
		r := row{name: c.name}
		r.check, err = runCheck(g, c)
		if err != nil {
			failed++
			r.check = "FAIL " + err.Error()
		}
		if *noBench {
			rows = append(rows, r)
			fmt.Printf("%-22s check %s\n", r.name, r.check)
			continue
		}
		run, flops, bytes, shape := c.bench(g, *quick)
		r.shape = shape
		ms := timeIt(g, run)
		r.us = ms * 1e3
		if flops > 0 {
			r.tflops = flops / (ms * 1e-3) / 1e12
			r.pct = fmt.Sprintf("%.0f%% of %s peak", 100*r.tflops/info.PeakTFLOPs(c.peak), c.peak)
		}
		if bytes > 0 {
			r.gbs = bytes / (ms * 1e-3) / 1e9
			if flops == 0 {
				r.pct = fmt.Sprintf("%.0f%% of copy", 100*r.gbs/copyGBs)
			}
		}
		rows = append(rows, r)
		printRow(r)
	}
	fmt.Println()
	if failed > 0 {
		fmt.Printf("kernelbench: %d kernel(s) disagree with their CPU twin\n", failed)
		os.Exit(1)
	}
	fmt.Println("kernelbench: every kernel matches its CPU twin")
}

func printRow(r row) {
	perf := ""
	if r.tflops > 0 {
		perf = fmt.Sprintf("%8.1f TFLOP/s", r.tflops)
	} else if r.gbs > 0 {
		perf = fmt.Sprintf("%8.0f GB/s   ", r.gbs)
	}
	fmt.Printf("%-22s %-30s %10.1f µs %s  %-20s check %s\n", r.name, r.shape, r.us, perf, r.pct, r.check)
}

// runCheck compares the CUDA and CPU results of a case's small problem.
func runCheck(g *cuda.Backend, c kcase) (string, error) {
	got := c.check(g, true)
	want := c.check(tensor.CPU(), false)
	if len(got) != len(want) {
		return "", fmt.Errorf("%d outputs vs %d", len(got), len(want))
	}
	scale, worst, wi := 0.0, 0.0, 0
	for _, w := range want {
		if a := math.Abs(float64(w)); !math.IsNaN(a) && !math.IsInf(a, 0) {
			scale = math.Max(scale, a)
		}
	}
	for i := range got {
		g, w := float64(got[i]), float64(want[i])
		if g == w || (math.IsNaN(g) && math.IsNaN(w)) {
			continue
		}
		e := math.Abs(g - w)
		if math.IsNaN(e) {
			e = math.Inf(1)
		}
		if e > worst {
			worst, wi = e, i
		}
	}
	rel := worst / math.Max(scale, 1e-30)
	if !(rel <= c.tol) {
		return "", fmt.Errorf("rel err %.2g > %.0g at [%d]: gpu %v cpu %v", rel, c.tol, wi, got[wi], want[wi])
	}
	return fmt.Sprintf("ok (rel err %.1g)", rel), nil
}

// timeIt warms up, picks a repetition count worth ~50 ms, and returns the median of five
// event-timed batches, in ms per run.
func timeIt(g *cuda.Backend, run func()) float64 {
	run()
	g.Synchronize()
	one := g.Time(1, run)
	reps := int(math.Max(1, math.Min(200, 50/math.Max(one, 1e-3))))
	var t []float64
	for i := 0; i < 5; i++ {
		t = append(t, g.Time(reps, run))
	}
	sort.Float64s(t)
	return t[2]
}

func measureCopy(g *cuda.Backend, quick bool) float64 {
	n := 1 << 27 // 512 MiB per buffer
	if quick {
		n = 1 << 24
	}
	a, b := g.Alloc(n, tensor.Float32), g.Alloc(n, tensor.Float32)
	ms := timeIt(g, func() { g.Copy(b, 0, a, 0, n) })
	g.Free(a)
	g.Free(b)
	return 8 * float64(n) / (ms * 1e-3) / 1e9
}

func shapeOf(dims ...int) string {
	s := make([]string, len(dims))
	for i, d := range dims {
		s[i] = fmt.Sprint(d)
	}
	return strings.Join(s, "×")
}
