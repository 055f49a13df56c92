package tensor

import (
	"fmt"
	"math"

	"github.com/flowtune/flowtune/tensor/internal/vec"
)

// Elementwise maps and the two reductions of the CPU backend. The exponential family (exp,
// sigmoid, SiLU, GELU) runs in float32 on expf (cpu_math.go, within 1 ulp), GELU in its
// sigmoid form x·σ(2u), which equals the tanh form ½x(1+tanh u) without its cancellation for
// x ≪ 0. The other transcendental functions are evaluated in float64 and rounded once.

const sqrt2OverPi = 0.7978845608028654 // √(2/π), the GELU tanh-form constant
const geluCubic = 0.044715

// unaryF returns y = f(x; p) for one element.
func unaryF(op UnaryOp, p float32) func(x float32) float32 {
	switch op {
	case OpNeg:
		return func(x float32) float32 { return -x }
	case OpExp:
		return expf
	case OpLog:
		return func(x float32) float32 { return float32(math.Log(float64(x))) }
	case OpSqrt:
		return func(x float32) float32 { return float32(math.Sqrt(float64(x))) }
	case OpSquare:
		return func(x float32) float32 { return x * x }
	case OpAbs:
		return func(x float32) float32 { return float32(math.Abs(float64(x))) }
	case OpTanh:
		return func(x float32) float32 { return float32(math.Tanh(float64(x))) }
	case OpSigmoid:
		return sigmoidf
	case OpSiLU:
		return func(x float32) float32 { return x * sigmoidf(x) }
	case OpGELU:
		return func(x float32) float32 { return x * sigmoidf(2*geluU(x)) }
	case OpReLU:
		return func(x float32) float32 { return max(x, 0) }
	case OpPow:
		return func(x float32) float32 { return float32(math.Pow(float64(x), float64(p))) }
	case OpAddScalar:
		return func(x float32) float32 { return x + p }
	case OpMulScalar:
		return func(x float32) float32 { return x * p }
	case OpClampMin:
		return func(x float32) float32 { return max(x, p) }
	case OpClampMax:
		return func(x float32) float32 { return min(x, p) }
	case OpRecip:
		return func(x float32) float32 { return 1 / x }
	}
	panic(fmt.Sprintf("tensor/cpu: unknown unary op %d", op))
}

// unaryGrad returns f'(x; p) for one element. At the kinks the choices are: |x|' = 0 at 0,
// relu'(0) = 0, and clamp_min (clamp_max) passes the gradient where x ≥ p (x ≤ p), which matches
// Maximum/Minimum sending the gradient to a where a ≥ b.
func unaryGrad(op UnaryOp, p float32) func(x float32) float64 {
	switch op {
	case OpNeg:
		return func(float32) float64 { return -1 }
	case OpExp:
		return func(x float32) float64 { return float64(expf(x)) }
	case OpLog:
		return func(x float32) float64 { return 1 / float64(x) }
	case OpSqrt:
		return func(x float32) float64 { return 0.5 / math.Sqrt(float64(x)) }
	case OpSquare:
		return func(x float32) float64 { return 2 * float64(x) }
	case OpAbs:
		return func(x float32) float64 {
			switch {
			case x > 0:
				return 1
			case x < 0:
				return -1
			}
			return 0
		}
	case OpTanh:
		return func(x float32) float64 { t := math.Tanh(float64(x)); return 1 - t*t }
	case OpSigmoid, OpSiLU, OpGELU:
		return func(x float32) float64 {
			a := x
			if op == OpGELU {
				a = 2 * geluU(x)
			}
			return sigmoidGrad(op, x, sigmoidf(a))
		}
	case OpReLU:
		return func(x float32) float64 { return b2f(x > 0) }
	case OpPow:
		return func(x float32) float64 {
			if p == 0 {
				return 0
			}
			return float64(p) * math.Pow(float64(x), float64(p)-1)
		}
	case OpAddScalar:
		return func(float32) float64 { return 1 }
	case OpMulScalar:
		return func(float32) float64 { return float64(p) }
	case OpClampMin:
		return func(x float32) float64 { return b2f(x >= p) }
	case OpClampMax:
		return func(x float32) float64 { return b2f(x <= p) }
	case OpRecip:
		return func(x float32) float64 { t := float64(x); return -1 / (t * t) }
	}
	panic(fmt.Sprintf("tensor/cpu: unknown unary op %d", op))
}

// geluU is the argument of tanh in the GELU tanh form: √(2/π)(x + 0.044715x³).
func geluU(x float32) float32 { return sqrt2OverPi * (x + geluCubic*x*x*x) }

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (cpuBackend) Unary(op UnaryOp, dst, x Storage, p float32) {
	d, xs := cpuData(dst), cpuData(x)
	loop := unaryLoop(op, p)
	parallelFor(len(d), elemGrain/4, func(lo, hi int) { loop(d[lo:hi], xs[lo:hi]) })
}

// unaryLoop returns the loop that sets d[i] = f(x[i]; p), with unaryF's results bit for bit.
// The exponential family runs through expfSlice; the scalar ops have the operation in the loop
// body. The rest call unaryF's function per element.
func unaryLoop(op UnaryOp, p float32) func(d, x []float32) {
	switch op {
	case OpExp:
		return expfSlice
	case OpSigmoid, OpSiLU, OpGELU:
		return func(d, x []float32) { sigmoidFamily(op, d, x) }
	case OpMulScalar:
		return func(d, x []float32) {
			for i, v := range x[:len(d)] {
				d[i] = v * p
			}
		}
	case OpAddScalar:
		return func(d, x []float32) {
			for i, v := range x[:len(d)] {
				d[i] = v + p
			}
		}
	}
	f := unaryF(op, p)
	return func(d, x []float32) {
		for i, v := range x[:len(d)] {
			d[i] = f(v)
		}
	}
}

// expBlock is the block length of sigmoidFamily: its buffer stays in L1.
const expBlock = 256

// sigmoidFamily computes sigmoid, SiLU or GELU over x into d (which may be x) a block at a
// time: σ of the block's arguments (sigmoidBlock), then the op's product. Each op has its own
// loop, so nothing is called per element.
func sigmoidFamily(op UnaryOp, d, x []float32) {
	var buf [expBlock]float32
	x = x[:len(d)]
	for lo := 0; lo < len(d); lo += expBlock {
		hi := min(lo+expBlock, len(d))
		xs, s, out := x[lo:hi], buf[:hi-lo], d[lo:hi]
		sigmoidBlock(op, s, xs)
		if op == OpSigmoid {
			copy(out, s)
		} else { // SiLU and GELU: x·σ
			vec.Mul(out, xs, s)
		}
	}
}

// sigmoidBlock sets s[i] = σ(a_i), a_i = 2u(x_i) for GELU and x_i otherwise, with sigmoidf's
// operations: the exponent −a into s, expfSlice over it, then 1/(1+e).
func sigmoidBlock(op UnaryOp, s, xs []float32) {
	s = s[:len(xs)]
	if op == OpGELU {
		for i := geluArgVector(s, xs); i < len(xs); i++ {
			s[i] = -(2 * geluU(xs[i]))
		}
	} else {
		for i, v := range xs {
			s[i] = -v
		}
	}
	expfSlice(s, s)
	for i := sigmoidTailVector(s); i < len(s); i++ {
		s[i] = 1 / (1 + s[i])
	}
}

func (cpuBackend) UnaryBackward(op UnaryOp, dx, x, dy Storage, p float32) {
	d, xs, g := cpuData(dx), cpuData(x), cpuData(dy)
	if op == OpSigmoid || op == OpSiLU || op == OpGELU {
		parallelFor(len(d), elemGrain/4, func(lo, hi int) { sigmoidFamilyBackward(op, d[lo:hi], xs[lo:hi], g[lo:hi]) })
		return
	}
	df := unaryGrad(op, p)
	parallelFor(len(d), elemGrain/4, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			d[i] = float32(float64(g[i]) * df(xs[i]))
		}
	})
}

// sigmoidFamilyBackward sets d = g·f′(x) for sigmoid, SiLU or GELU a block at a time, with
// unaryGrad's results bit for bit: σ of the block through sigmoidBlock, then sigmoidGrad.
func sigmoidFamilyBackward(op UnaryOp, d, x, g []float32) {
	var buf [expBlock]float32
	x, g = x[:len(d)], g[:len(d)]
	for lo := 0; lo < len(d); lo += expBlock {
		hi := min(lo+expBlock, len(d))
		xs, s := x[lo:hi], buf[:hi-lo]
		sigmoidBlock(op, s, xs)
		for i, v := range xs {
			d[lo+i] = float32(float64(g[lo+i]) * sigmoidGrad(op, v, s[i]))
		}
	}
}

// sigmoidGrad is f′(x) of sigmoid, SiLU or GELU given s, σ of the op's argument.
func sigmoidGrad(op UnaryOp, x, s float32) float64 {
	switch op {
	case OpSigmoid:
		return float64(s * (1 - s))
	case OpSiLU:
		return float64(s * (1 + x*(1-s)))
	}
	// GELU: d/dx x·σ(2u) = σ(2u) + 2x·σ(2u)(1−σ(2u))·u′, with u′ = √(2/π)(1 + 3·0.044715x²).
	return float64(s + 2*x*s*(1-s)*sqrt2OverPi*(1+3*geluCubic*x*x))
}

// binaryF returns z = op(a, b) for one element.
func binaryF(op BinaryOp) func(a, b float32) float32 {
	switch op {
	case OpAdd:
		return func(a, b float32) float32 { return a + b }
	case OpSub:
		return func(a, b float32) float32 { return a - b }
	case OpMul:
		return func(a, b float32) float32 { return a * b }
	case OpDiv:
		return func(a, b float32) float32 { return a / b }
	case OpMax:
		return func(a, b float32) float32 {
			if a >= b {
				return a
			}
			return b
		}
	case OpMin:
		return func(a, b float32) float32 {
			if a <= b {
				return a
			}
			return b
		}
	case OpGE:
		return func(a, b float32) float32 {
			if a >= b {
				return 1
			}
			return 0
		}
	}
	panic(fmt.Sprintf("tensor/cpu: unknown binary op %d", op))
}

// Binary walks the 4-axis output in rows of its last axis; a row's start in a and b comes from
// the strides of the three outer axes.
func (cpuBackend) Binary(op BinaryOp, dst, a Storage, sa Strides4, b Storage, sb Strides4, shape [MaxBroadcastDims]int) {
	d, as, bs := cpuData(dst), cpuData(a), cpuData(b)
	f := binaryF(op)
	cols := shape[3]
	rows := shape[0] * shape[1] * shape[2]
	if cols == 0 || rows == 0 {
		return
	}
	parallelFor(rows, rowGrain(cols)/2, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			i2 := r % shape[2]
			i1 := (r / shape[2]) % shape[1]
			i0 := r / (shape[2] * shape[1])
			ia := i0*sa[0] + i1*sa[1] + i2*sa[2]
			ib := i0*sb[0] + i1*sb[1] + i2*sb[2]
			out := d[r*cols : (r+1)*cols]
			if sa[3] == 1 && sb[3] == 1 {
				binaryContiguous(op, f, out, as[ia:ia+cols], bs[ib:ib+cols])
				continue
			}
			for j := range out {
				out[j] = f(as[ia+j*sa[3]], bs[ib+j*sb[3]])
			}
		}
	})
}

// binaryContiguous is the unit-stride row of Binary, the common case. The arithmetic ops get
// loops of their own, free of the per-element call through f.
func binaryContiguous(op BinaryOp, f func(a, b float32) float32, out, a, b []float32) {
	a, b = a[:len(out)], b[:len(out)]
	switch op {
	case OpAdd:
		vec.Add(out, a, b)
	case OpSub:
		vec.Sub(out, a, b)
	case OpMul:
		vec.Mul(out, a, b)
	default:
		for j := range out {
			out[j] = f(a[j], b[j])
		}
	}
}

func (cpuBackend) Axpby(dst Storage, alpha float32, x Storage, beta float32, y Storage) {
	d, xs, ys := cpuData(dst), cpuData(x), cpuData(y)
	parallelFor(len(d), elemGrain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			d[i] = alpha*xs[i] + beta*ys[i]
		}
	})
}

// sumBlock is how many inner positions one work item of Sum accumulates at once.
const sumBlock = 256

// Sum views x as [outer, n, inner] and adds along n in float64. A work item is one outer index
// and a block of up to sumBlock inner positions, so both the row-sum (inner = 1) and the
// column-sum (outer = 1) cases split across goroutines.
func (cpuBackend) Sum(dst, x Storage, outer, n, inner int) {
	d, xs := cpuData(dst), cpuData(x)
	if outer == 0 || inner == 0 {
		return
	}
	blocks := (inner + sumBlock - 1) / sumBlock
	width := min(inner, sumBlock)
	parallelFor(outer*blocks, max(1, elemGrain/max(1, n*width)), func(lo, hi int) {
		acc := make([]float64, width)
		for item := lo; item < hi; item++ {
			o, blk := item/blocks, item%blocks
			i0 := blk * sumBlock
			w := min(sumBlock, inner-i0)
			acc := acc[:w]
			clear(acc)
			base := o*n*inner + i0
			for j := 0; j < n; j++ {
				vec.Accumulate(acc, xs[base+j*inner:base+j*inner+w])
			}
			out := d[o*inner+i0 : o*inner+i0+w]
			for i := range out {
				out[i] = float32(acc[i])
			}
		}
	})
}

// SumSquares adds x² in float64, one partial per chunk, and the partials in chunk order.
func (cpuBackend) SumSquares(x Storage) float64 {
	xs := cpuData(x)
	_, count := chunking(len(xs), elemGrain)
	partial := make([]float64, count)
	parallelChunks(len(xs), elemGrain, func(c, lo, hi int) {
		var s float64
		for _, v := range xs[lo:hi] {
			s += float64(v) * float64(v)
		}
		partial[c] = s
	})
	var s float64
	for _, p := range partial {
		s += p
	}
	return s
}
