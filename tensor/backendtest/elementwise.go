package backendtest

import (
	"fmt"
	"math"

	"github.com/flowtune/flowtune/tensor"
)

// Elementwise primitives: every UnaryOp forward and backward (against analytic derivatives,
// which are themselves checked by finite differences), every BinaryOp under broadcast strides,
// and Axpby.

// unaryCase is one op with its parameter, an input domain where it is smooth enough to test,
// and the float64 definition of f and f'.
type unaryCase struct {
	op      tensor.UnaryOp
	p       float32
	domain  func(s *suite, n int) []float32
	f, df   func(x, p float64) float64
	kink    float64 // a point where f' jumps (checked for the backend's convention, skipped by FD)
	hasKink bool
}

func normalDomain(scale float64) func(s *suite, n int) []float32 {
	return func(s *suite, n int) []float32 { return s.normal(n, scale) }
}

func positiveDomain(lo, hi float64) func(s *suite, n int) []float32 {
	return func(s *suite, n int) []float32 { return s.uniform(n, lo, hi) }
}

// withTies makes every 7th element exactly equal to the kink, so the backward's choice at the
// kink is pinned down (Maximum/Minimum send the gradient to a where a ≥ b, clamps follow).
func withTies(kink float32, d func(s *suite, n int) []float32) func(s *suite, n int) []float32 {
	return func(s *suite, n int) []float32 {
		v := d(s, n)
		for i := 0; i < n; i += 7 {
			v[i] = kink
		}
		return v
	}
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

const geluK = 0.7978845608028654 // √(2/π)

func geluRef(x float64) float64 {
	return 0.5 * x * (1 + math.Tanh(geluK*(x+0.044715*x*x*x)))
}

func geluGradRef(x float64) float64 {
	u := geluK * (x + 0.044715*x*x*x)
	th := math.Tanh(u)
	return 0.5*(1+th) + 0.5*x*(1-th*th)*geluK*(1+3*0.044715*x*x)
}

func step(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

var unaryCases = []unaryCase{
	{op: tensor.OpNeg, domain: normalDomain(2),
		f: func(x, _ float64) float64 { return -x }, df: func(_, _ float64) float64 { return -1 }},
	{op: tensor.OpExp, domain: normalDomain(3),
		f: func(x, _ float64) float64 { return math.Exp(x) }, df: func(x, _ float64) float64 { return math.Exp(x) }},
	{op: tensor.OpLog, domain: positiveDomain(0.01, 50),
		f: func(x, _ float64) float64 { return math.Log(x) }, df: func(x, _ float64) float64 { return 1 / x }},
	{op: tensor.OpSqrt, domain: positiveDomain(0.01, 50),
		f: func(x, _ float64) float64 { return math.Sqrt(x) }, df: func(x, _ float64) float64 { return 0.5 / math.Sqrt(x) }},
	{op: tensor.OpSquare, domain: normalDomain(3),
		f: func(x, _ float64) float64 { return x * x }, df: func(x, _ float64) float64 { return 2 * x }},
	{op: tensor.OpAbs, domain: withTies(0, normalDomain(2)), hasKink: true,
		f: func(x, _ float64) float64 { return math.Abs(x) }, df: func(x, _ float64) float64 { return step(x > 0) - step(x < 0) }},
	{op: tensor.OpTanh, domain: normalDomain(2),
		f:  func(x, _ float64) float64 { return math.Tanh(x) },
		df: func(x, _ float64) float64 { return 1 - math.Tanh(x)*math.Tanh(x) }},
	{op: tensor.OpSigmoid, domain: normalDomain(4),
		f:  func(x, _ float64) float64 { return sigmoid(x) },
		df: func(x, _ float64) float64 { return sigmoid(x) * (1 - sigmoid(x)) }},
	{op: tensor.OpSiLU, domain: normalDomain(3),
		f:  func(x, _ float64) float64 { return x * sigmoid(x) },
		df: func(x, _ float64) float64 { return sigmoid(x) + x*sigmoid(x)*(1-sigmoid(x)) }},
	{op: tensor.OpGELU, domain: normalDomain(2),
		f: func(x, _ float64) float64 { return geluRef(x) }, df: func(x, _ float64) float64 { return geluGradRef(x) }},
	{op: tensor.OpReLU, domain: withTies(0, normalDomain(2)), hasKink: true,
		f: func(x, _ float64) float64 { return math.Max(x, 0) }, df: func(x, _ float64) float64 { return step(x > 0) }},
	{op: tensor.OpPow, p: 2.5, domain: positiveDomain(0.01, 4),
		f: math.Pow, df: func(x, p float64) float64 { return p * math.Pow(x, p-1) }},
	{op: tensor.OpPow, p: 3, domain: normalDomain(2),
		f: math.Pow, df: func(x, p float64) float64 { return p * math.Pow(x, p-1) }},
	{op: tensor.OpPow, p: -0.5, domain: positiveDomain(0.05, 20),
		f: math.Pow, df: func(x, p float64) float64 { return p * math.Pow(x, p-1) }},
	{op: tensor.OpAddScalar, p: -1.25, domain: normalDomain(2),
		f: func(x, p float64) float64 { return x + p }, df: func(_, _ float64) float64 { return 1 }},
	{op: tensor.OpMulScalar, p: 0.3, domain: normalDomain(2),
		f: func(x, p float64) float64 { return x * p }, df: func(_, p float64) float64 { return p }},
	{op: tensor.OpClampMin, p: 0.25, domain: withTies(0.25, normalDomain(1)), kink: 0.25, hasKink: true,
		f: math.Max, df: func(x, p float64) float64 { return step(x >= p) }},
	{op: tensor.OpClampMax, p: -0.5, domain: withTies(-0.5, normalDomain(1)), kink: -0.5, hasKink: true,
		f: math.Min, df: func(x, p float64) float64 { return step(x <= p) }},
	{op: tensor.OpRecip, domain: func(s *suite, n int) []float32 { return s.awayFromZero(n, 0.05, 20) },
		f: func(x, _ float64) float64 { return 1 / x }, df: func(x, _ float64) float64 { return -1 / (x * x) }},
}

func (c unaryCase) name() string {
	if c.p != 0 {
		return fmt.Sprintf("%v(p=%g)", c.op, c.p)
	}
	return c.op.String()
}

func testUnary(s *suite) {
	for _, c := range unaryCases {
		for _, n := range sizes {
			s.sub(fmt.Sprintf("%s/n=%d", c.name(), n), func(s *suite) {
				x := c.domain(s, n)
				ref := make([]float64, n)
				for i, v := range x {
					ref[i] = c.f(float64(v), float64(c.p))
				}
				y := s.poisoned(n)
				s.b.Unary(c.op, y, s.put(x), c.p)
				s.near(c.name(), s.get(y), ref, 1e-7*s.opt.Tol, 2e-6*s.opt.Tol)
			})
		}
	}
}

func testUnaryBackward(s *suite) {
	for _, c := range unaryCases {
		s.sub(c.name()+"/reference-vs-FD", func(s *suite) {
			// The analytic derivative above is what judges the backend: check it first, away
			// from the kink, against central differences of f.
			x := f64(c.domain(s, 64))
			var pts, grad []float64
			for _, v := range x {
				if c.hasKink && math.Abs(v-c.kink) < 1e-3 {
					continue
				}
				pts = append(pts, v)
				grad = append(grad, c.df(v, float64(c.p)))
			}
			s.checkFD(c.name()+"'", func(x []float64) float64 {
				sum := 0.0
				for _, v := range x {
					sum += c.f(v, float64(c.p))
				}
				return sum
			}, pts, grad)
		})
		for _, n := range sizes {
			s.sub(fmt.Sprintf("%s/n=%d", c.name(), n), func(s *suite) {
				x, dy := c.domain(s, n), s.normal(n, 1)
				ref := make([]float64, n)
				for i := range x {
					ref[i] = float64(dy[i]) * c.df(float64(x[i]), float64(c.p))
				}
				dx := s.poisoned(n)
				s.b.UnaryBackward(c.op, dx, s.put(x), s.put(dy), c.p)
				s.near(c.name()+" backward", s.get(dx), ref, 1e-6*s.opt.Tol*maxAbs(ref), 1e-5*s.opt.Tol)
			})
		}
	}
}

var binaryRef = map[tensor.BinaryOp]func(a, b float64) float64{
	tensor.OpAdd: func(a, b float64) float64 { return a + b },
	tensor.OpSub: func(a, b float64) float64 { return a - b },
	tensor.OpMul: func(a, b float64) float64 { return a * b },
	tensor.OpDiv: func(a, b float64) float64 { return a / b },
	tensor.OpMax: math.Max,
	tensor.OpMin: math.Min,
	tensor.OpGE:  func(a, b float64) float64 { return step(a >= b) },
}

// binaryLayout is one broadcast pattern: the output shape and each operand's strides (and how
// many elements the operand holds).
type binaryLayout struct {
	name   string
	shape  [tensor.MaxBroadcastDims]int
	sa, sb tensor.Strides4
	na, nb int
}

// bcast returns the strides of a contiguous operand whose shape is the output shape with the
// axes in keep present and the others of size 1 (stride 0), and its element count.
func bcast(shape [4]int, keep [4]bool) (tensor.Strides4, int) {
	var st tensor.Strides4
	acc := 1
	for i := 3; i >= 0; i-- {
		if keep[i] {
			st[i] = acc
			acc *= shape[i]
		}
	}
	return st, acc
}

func binaryLayouts() []binaryLayout {
	var ls []binaryLayout
	add := func(name string, shape [4]int, ka, kb [4]bool) {
		sa, na := bcast(shape, ka)
		sb, nb := bcast(shape, kb)
		ls = append(ls, binaryLayout{name, shape, sa, sb, na, nb})
	}
	all := [4]bool{true, true, true, true}
	for _, n := range sizes {
		add(fmt.Sprintf("same/n=%d", n), [4]int{1, 1, 1, n}, all, all)
	}
	add("row-bias/[33,257]+[257]", [4]int{1, 1, 33, 257}, all, [4]bool{false, false, false, true})
	add("col-scale/[257,33]*[257,1]", [4]int{1, 1, 257, 33}, all, [4]bool{false, false, true, false})
	add("scalar/[3,31]op[]", [4]int{1, 1, 3, 31}, all, [4]bool{})
	add("scalar-left/[]op[1025]", [4]int{1, 1, 1, 1025}, [4]bool{}, all)
	add("alternating/[2,3,5,7]op[1,3,1,7]", [4]int{2, 3, 5, 7}, all, [4]bool{false, true, false, true})
	add("outer/[2,1,5,1]op[1,3,1,7]", [4]int{2, 3, 5, 7}, [4]bool{true, false, true, false}, [4]bool{false, true, false, true})
	add("big/[300,1025]op[1025]", [4]int{1, 1, 300, 1025}, all, [4]bool{false, false, false, true})
	// A transposed operand: a is stored [7,5] and read as [5,7] (strides need not be
	// contiguous or decreasing).
	ls = append(ls, binaryLayout{"transposed/[5,7]", [4]int{1, 1, 5, 7},
		tensor.Strides4{0, 0, 1, 5}, tensor.Strides4{0, 0, 7, 1}, 35, 35})
	return ls
}

func testBinary(s *suite) {
	ops := []tensor.BinaryOp{tensor.OpAdd, tensor.OpSub, tensor.OpMul, tensor.OpDiv, tensor.OpMax, tensor.OpMin, tensor.OpGE}
	for _, op := range ops {
		for _, l := range binaryLayouts() {
			s.sub(fmt.Sprintf("%v/%s", op, l.name), func(s *suite) {
				a := s.normal(l.na, 2)
				var b []float32
				if op == tensor.OpDiv {
					b = s.awayFromZero(l.nb, 0.1, 3)
				} else {
					b = s.normal(l.nb, 2)
				}
				// Ties (a == b) matter for max, min and ge: plant some.
				sh := l.shape
				n := sh[0] * sh[1] * sh[2] * sh[3]
				ref := make([]float64, n)
				i := 0
				for i0 := 0; i0 < sh[0]; i0++ {
					for i1 := 0; i1 < sh[1]; i1++ {
						for i2 := 0; i2 < sh[2]; i2++ {
							for i3 := 0; i3 < sh[3]; i3++ {
								ia := i0*l.sa[0] + i1*l.sa[1] + i2*l.sa[2] + i3*l.sa[3]
								ib := i0*l.sb[0] + i1*l.sb[1] + i2*l.sb[2] + i3*l.sb[3]
								if i%5 == 0 && op != tensor.OpDiv {
									a[ia] = b[ib]
								}
								i++
							}
						}
					}
				}
				i = 0
				for i0 := 0; i0 < sh[0]; i0++ {
					for i1 := 0; i1 < sh[1]; i1++ {
						for i2 := 0; i2 < sh[2]; i2++ {
							for i3 := 0; i3 < sh[3]; i3++ {
								ia := i0*l.sa[0] + i1*l.sa[1] + i2*l.sa[2] + i3*l.sa[3]
								ib := i0*l.sb[0] + i1*l.sb[1] + i2*l.sb[2] + i3*l.sb[3]
								ref[i] = binaryRef[op](float64(a[ia]), float64(b[ib]))
								i++
							}
						}
					}
				}
				dst := s.poisoned(n)
				s.b.Binary(op, dst, s.put(a), l.sa, s.put(b), l.sb, l.shape)
				// One float32 rounding of the exact result (division gets a little more room).
				s.near(op.String(), s.get(dst), ref, 0, 3e-7*s.opt.Tol)
			})
		}
	}
}

func testAxpby(s *suite) {
	for _, n := range sizes {
		s.sub(fmt.Sprintf("n=%d", n), func(s *suite) {
			x, y := s.normal(n, 1), s.normal(n, 3)
			const alpha, beta = 0.7, -1.3
			ref := make([]float64, n)
			for i := range ref {
				ref[i] = float64(float32(alpha))*float64(x[i]) + float64(float32(beta))*float64(y[i])
			}
			dst := s.poisoned(n)
			s.b.Axpby(dst, alpha, s.put(x), beta, s.put(y))
			s.within("Axpby", s.get(dst), ref, func(i int) float64 {
				// Two products and a sum in float32: error relative to the terms, not the result.
				mag := math.Abs(alpha*float64(x[i])) + math.Abs(beta*float64(y[i]))
				return 5e-7 * s.opt.Tol * mag
			})
		})
	}
}
