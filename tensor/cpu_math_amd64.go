//go:build amd64 && !purego

package tensor

import (
	"math"

	"golang.org/x/sys/cpu"
)

// expfAVX2 sets d[i] = expf(x[i]) for i < n, eight at a time (cpu_math_amd64.s); n is a
// multiple of 8 and c is expfTable. It performs expf's operations in expf's order, unfused,
// so its results are expf's bit for bit.
//
//go:noescape
func expfAVX2(d, x *float32, n int, c *[expfConsts][8]uint32)

// geluArgAVX2 sets s[i] = −(2·geluU(x[i])) and sigmoidTailAVX2 sets s[i] = 1/(1+s[i]) for
// i < n, eight at a time, with the Go code's operations in its order (sigmoidBlock); n is a
// multiple of 8, c and k are geluU's constants as float32.
//
//go:noescape
func geluArgAVX2(s, x *float32, n int, c, k float32)

//go:noescape
func sigmoidTailAVX2(s *float32, n int)

// geluArgVector and sigmoidTailVector run their loops over the longest prefix whose length is a
// multiple of 8 and return that length; the caller does the rest.
func geluArgVector(s, x []float32) int {
	n := len(s) &^ 7
	if !useAVX2 || n == 0 {
		return 0
	}
	geluArgAVX2(&s[0], &x[0], n, sqrt2OverPi, geluCubic)
	return n
}

func sigmoidTailVector(s []float32) int {
	n := len(s) &^ 7
	if !useAVX2 || n == 0 {
		return 0
	}
	sigmoidTailAVX2(&s[0], n)
	return n
}

// normRowAVX2 sets out[i] = float32(((float64(in[i]) − mu)·rs)·float64(w[i])) for i < n, four
// at a time, with w[i] = 1 when w is nil; n is a multiple of 4.
//
//go:noescape
func normRowAVX2(out, in, w *float32, n int, mu, rs float64)

// normRowVector runs normRowAVX2 over the longest prefix whose length is a multiple of 4 and
// returns that length; the caller does the rest.
func normRowVector(out, in, w []float32, mu, rs float64) int {
	n := len(out) &^ 3
	if !useAVX2 || n == 0 {
		return 0
	}
	var wp *float32
	if w != nil {
		wp = &w[0]
	}
	normRowAVX2(&out[0], &in[0], wp, n, mu, rs)
	return n
}

// useAVX2 is whether this CPU and OS run AVX2 (x/sys/cpu checks both): every vector loop
// of this file and cpu_math_amd64.s needs it.
var useAVX2 = cpu.X86.HasAVX2

// expfVector runs expf over the longest prefix of x whose length is a multiple of 8 and
// returns that length; the caller does the rest.
func expfVector(d, x []float32) int {
	n := len(d) &^ 7
	if !useAVX2 || n == 0 {
		return 0
	}
	expfAVX2(&d[0], &x[0], n, &expfTable)
	return n
}

// expfTable holds expf's constants, each repeated across a 256-bit vector so the assembly can
// use it as a memory operand. The order is the assembly's (its offsets are 32·index).
const expfConsts = 16

var expfTable = func() (t [expfConsts][8]uint32) {
	bits := func(v float32) uint32 { return math.Float32bits(v) }
	vals := [expfConsts]uint32{
		bits(expfLog2e), bits(expfRound), bits(expfLn2Hi), bits(expfLn2Lo),
		bits(expfP0), bits(expfP1), bits(expfP2), bits(expfP3), bits(expfP4), bits(expfP5),
		bits(1), bits(2), 127, bits(expfMax), bits(expfMin), bits(float32(math.Inf(1))),
	}
	for i, v := range vals {
		for j := range t[i] {
			t[i][j] = v
		}
	}
	return t
}()

// expfVectorLanes is the width of the vector path (0: none).
func expfVectorLanes() int {
	if useAVX2 {
		return 8
	}
	return 0
}
