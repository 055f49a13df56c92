// Package vec holds the elementwise float32 loops the CPU backend runs most: d = a + b,
// a − b and a · b over whole slices. On amd64 with AVX2 they run eight lanes at a time in
// assembly; elsewhere (or with the purego build tag), and for the last len mod 8 elements, in
// Go. Each lane does the one IEEE operation the Go loop does, so the results are the same bit
// for bit on every path (TestVectorIsScalar).
package vec

import (
	"fmt"
	"math"
)

// Op is one of the elementwise operations.
type Op int

const (
	OpAdd Op = iota // d = a + b
	OpSub           // d = a − b
	OpMul           // d = a · b
)

// Add sets d[i] = a[i] + b[i]. a and b must be at least as long as d; d may be a or b.
func Add(d, a, b []float32) { Apply(OpAdd, d, a, b) }

// Sub sets d[i] = a[i] − b[i].
func Sub(d, a, b []float32) { Apply(OpSub, d, a, b) }

// Mul sets d[i] = a[i] · b[i].
func Mul(d, a, b []float32) { Apply(OpMul, d, a, b) }

// Apply sets d[i] = a[i] op b[i] for i < len(d).
func Apply(op Op, d, a, b []float32) {
	if len(a) < len(d) || len(b) < len(d) {
		panic(fmt.Sprintf("vec: %d outputs from operands of %d and %d", len(d), len(a), len(b)))
	}
	if op < OpAdd || op > OpMul {
		panic(fmt.Sprintf("vec: unknown op %d", op))
	}
	n := vector(op, d, a, b)
	scalar(op, d[n:], a[n:len(d)], b[n:len(d)])
}

// ApplyScalar sets d[i] = a[i] op s for i < len(d) (a broadcast second operand).
func ApplyScalar(op Op, d, a []float32, s float32) {
	if len(a) < len(d) {
		panic(fmt.Sprintf("vec: %d outputs from an operand of %d", len(d), len(a)))
	}
	if op < OpAdd || op > OpMul {
		panic(fmt.Sprintf("vec: unknown op %d", op))
	}
	for i := vectorScalar(op, d, a, s); i < len(d); i++ {
		d[i] = one(op, a[i], s)
	}
}

// one is a op b for one element.
func one(op Op, a, b float32) float32 {
	switch op {
	case OpAdd:
		return a + b
	case OpSub:
		return a - b
	}
	return a * b
}

// Max is the largest value of x that is not a NaN, or −Inf when there is none. It is the loop
// "if v > m { m = v }" from m = −Inf, also in which zero it returns when the largest values
// are zeros of both signs (the first one).
func Max(x []float32) float32 {
	m, n := vectorMax(x)
	m = maxFrom(m, x[n:])
	if m == 0 { // +0 or −0: the loop keeps the first zero it meets, which lanes cannot tell
		m = maxFrom(float32(math.Inf(-1)), x)
	}
	return m
}

// maxFrom is the loop "if v > m { m = v }" over x from m.
func maxFrom(m float32, x []float32) float32 {
	for _, v := range x {
		if v > m {
			m = v
		}
	}
	return m
}

// scalar is Apply in Go alone.
func scalar(op Op, d, a, b []float32) {
	a, b = a[:len(d)], b[:len(d)]
	switch op {
	case OpAdd:
		for i := range d {
			d[i] = a[i] + b[i]
		}
	case OpSub:
		for i := range d {
			d[i] = a[i] - b[i]
		}
	case OpMul:
		for i := range d {
			d[i] = a[i] * b[i]
		}
	}
}
