//go:build amd64 && !purego

package vec

import (
	"math"

	"golang.org/x/sys/cpu"
)

// applyAVX2 sets d[i] = a[i] op b[i] for i < n, eight at a time (vec_amd64.s); n is a
// multiple of 8.
//
//go:noescape
func applyAVX2(op Op, d, a, b *float32, n int)

// useAVX2 is whether this CPU and OS run AVX2 (x/sys/cpu checks both).
var useAVX2 = cpu.X86.HasAVX2

// vector runs op over the longest prefix of d whose length is a multiple of 8 and returns
// that length; the caller does the rest.
func vector(op Op, d, a, b []float32) int {
	n := len(d) &^ 7
	if !useAVX2 || n == 0 {
		return 0
	}
	applyAVX2(op, &d[0], &a[0], &b[0], n)
	return n
}

// applyScalarAVX2 sets d[i] = a[i] op s for i < n, eight at a time; n is a multiple of 8.
//
//go:noescape
func applyScalarAVX2(op Op, d, a *float32, s float32, n int)

// maxAVX2 writes to lanes the lane-wise maximum over x[8j+lane] (n a multiple of 8, ≥ 8),
// each lane keeping its running maximum when it meets a NaN, as "if v > m" does.
//
//go:noescape
func maxAVX2(lanes *[8]float32, x *float32, n int)

func vectorScalar(op Op, d, a []float32, s float32) int {
	n := len(d) &^ 7
	if !useAVX2 || n == 0 {
		return 0
	}
	applyScalarAVX2(op, &d[0], &a[0], s, n)
	return n
}

// vectorMax is the maximum (by "if v > m") over the longest prefix of x whose length is a
// multiple of 8, and that length. Zeros of either sign may come back as either: Max checks.
func vectorMax(x []float32) (float32, int) {
	m := float32(math.Inf(-1))
	n := len(x) &^ 7
	if !useAVX2 || n == 0 {
		return m, 0
	}
	var lanes [8]float32
	maxAVX2(&lanes, &x[0], n)
	for _, v := range lanes {
		if v > m {
			m = v
		}
	}
	return m, n
}

// accumulateAVX2 adds x[i] into acc[i] in float64 for i < n, eight at a time; n is a multiple
// of 8.
//
//go:noescape
func accumulateAVX2(acc *float64, x *float32, n int)

func vectorAccumulate(acc []float64, x []float32) int {
	n := len(acc) &^ 7
	if !useAVX2 || n == 0 {
		return 0
	}
	accumulateAVX2(&acc[0], &x[0], n)
	return n
}

// adamwAVX2 is AdamW.Step over the first n elements, four at a time (n a multiple of 4); k
// holds the step's ten constants, each repeated in four lanes, in AdamW's field order.
//
//go:noescape
func adamwAVX2(k *[10][4]float64, param, grad, m1, m2 *float32, n int)

func vectorAdamW(a *AdamW, p, g, m, v []float32) int {
	n := len(p) &^ 3
	if !useAVX2 || n == 0 {
		return 0
	}
	var k [10][4]float64
	for i, c := range [10]float64{a.Scale, a.B1, a.C1, a.B2, a.C2, a.BC1, a.BC2, a.Eps, a.Decay, a.LR} {
		k[i] = [4]float64{c, c, c, c}
	}
	adamwAVX2(&k, &p[0], &g[0], &m[0], &v[0], n)
	return n
}
