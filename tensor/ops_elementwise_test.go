package tensor_test

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/flowtune/flowtune/tensor"
)

// broadcastCases covers every broadcasting pattern the models use, plus awkward ones.
var broadcastCases = []struct{ a, b []int }{
	{[]int{1, 3, 5}, []int{1, 3, 5}},             // same shape with a size-1 axis
	{[]int{2, 7, 1, 3}, []int{}},                 // scalar (0-d) right
	{[]int{}, []int{2, 7, 1, 3}},                 // scalar left
	{[]int{2, 3, 5}, []int{5}},                   // trailing bias
	{[]int{5}, []int{2, 3, 5}},                   // bias on the left
	{[]int{2, 3, 5}, []int{2, 1, 5}},             // middle [B,1,C] (adaLN shift/scale)
	{[]int{2, 3, 5}, []int{2, 3, 1}},             // per-row scale
	{[]int{3, 1}, []int{1, 4}},                   // outer product: both stretch
	{[]int{2, 7, 1, 3}, []int{7, 4, 1}},          // leading and trailing mixed
	{[]int{2, 1, 3, 1}, []int{1, 4, 1, 5}},       // four alternations: the most Binary takes
	{[]int{2, 3, 2, 2, 3}, []int{2, 3}},          // five axes that merge into two
	{[]int{1, 1, 4}, []int{3, 1, 1, 1}},          // size-1 axes everywhere
	{[]int{2, 1, 1, 3, 2}, []int{1, 3, 2, 1, 2}}, // alternation hidden behind size-1 axes
}

// binaryRefs are float64 references of the broadcasting ops.
var binaryRefs = []struct {
	name string
	op   func(a, b *tensor.Tensor) *tensor.Tensor
	ref  func(a, b float64) float64
}{
	{"Add", tensor.Add, func(a, b float64) float64 { return a + b }},
	{"Sub", tensor.Sub, func(a, b float64) float64 { return a - b }},
	{"Mul", tensor.Mul, func(a, b float64) float64 { return a * b }},
	{"Div", tensor.Div, func(a, b float64) float64 { return a / b }},
	{"Maximum", tensor.Maximum, math.Max},
	{"Minimum", tensor.Minimum, math.Min},
}

// refBroadcast applies op elementwise under NumPy broadcasting, in float64.
func refBroadcast(op func(a, b float64) float64, a, b *tensor.Tensor) ([]float64, []int) {
	as, bs := a.Shape(), b.Shape()
	n := max(len(as), len(bs))
	pad := func(s []int) []int {
		out := make([]int, n)
		for i := range out {
			out[i] = 1
			if j := i - (n - len(s)); j >= 0 {
				out[i] = s[j]
			}
		}
		return out
	}
	pa, pb := pad(as), pad(bs)
	shape := make([]int, n)
	for i := range shape {
		shape[i] = max(pa[i], pb[i])
	}
	av, bv := a.Data(), b.Data()
	out := make([]float64, numel(shape))
	idx := make([]int, n)
	for k := range out {
		rem := k
		for i := n - 1; i >= 0; i-- {
			idx[i] = rem % shape[i]
			rem /= shape[i]
		}
		ia, ib := 0, 0
		for i := 0; i < n; i++ {
			ia = ia*pa[i] + idx[i]%pa[i]
			ib = ib*pb[i] + idx[i]%pb[i]
		}
		out[k] = op(float64(av[ia]), float64(bv[ib]))
	}
	return out, shape
}

// gridValues makes values on a grid offset by off (so two grids with different offsets never
// come closer than their offset difference: max/min stay away from ties).
func gridValues(rng *rand.Rand, off float64, shape ...int) *tensor.Tensor {
	v := make([]float32, numel(shape))
	for i := range v {
		v[i] = float32(0.5*float64(rng.Intn(9)-4) + off)
	}
	return tensor.New(cpu, v, shape...)
}

func TestBinaryBroadcastForward(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	for _, c := range broadcastCases {
		for _, op := range binaryRefs {
			a, b := randNormal(rng, c.a...), randAway(rng, 0.3, c.b...)
			got := op.op(a, b)
			want, shape := refBroadcast(op.ref, a, b)
			what := fmt.Sprintf("%s %v %v", op.name, c.a, c.b)
			assertShape(t, what, got, shape...)
			assertClose(t, what, got, want, literalTol)
		}
	}
}

func TestBinaryBroadcastGrad(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	for _, c := range broadcastCases {
		for _, op := range binaryRefs {
			t.Run(fmt.Sprintf("%s%v%v", op.name, c.a, c.b), func(t *testing.T) {
				var a, b *tensor.Tensor
				switch op.name {
				case "Div":
					a, b = randNormal(rng, c.a...), randAway(rng, 0.5, c.b...)
				case "Maximum", "Minimum":
					a, b = gridValues(rng, 0.2, c.a...), gridValues(rng, 0, c.b...)
				default:
					a, b = randNormal(rng, c.a...), randNormal(rng, c.b...)
				}
				checkGrad(t, func(in []*tensor.Tensor) *tensor.Tensor { return op.op(in[0], in[1]) }, a, b)
			})
		}
	}
}

// Five alternations between "present" and "stretched" cannot be merged into four axes.
func TestBroadcastTooManyGroupsPanics(t *testing.T) {
	a, b := tensor.Zeros(cpu, 2, 1, 2, 1, 2), tensor.Zeros(cpu, 1, 2, 1, 2, 1)
	mustPanic(t, func() { tensor.Add(a, b) }, "tensor.Add", "[2 1 2 1 2]", "[1 2 1 2 1]", "at most 4")
	mustPanic(t, func() { tensor.Mul(tensor.Zeros(cpu, 2, 3), tensor.Zeros(cpu, 4, 3)) },
		"tensor.Mul", "do not broadcast")
}

// Hand-computed values, including the tie rules of Maximum/Minimum.
func TestBinaryLiterals(t *testing.T) {
	a := tensor.New(cpu, []float32{1, 2, 3, 4, 5, 6}, 2, 3)
	bias := tensor.New(cpu, []float32{10, 20, 30}, 3)
	col := tensor.New(cpu, []float32{2, -1}, 2, 1)
	assertClose(t, "a+bias", tensor.Add(a, bias), []float64{11, 22, 33, 14, 25, 36}, literalTol)
	assertClose(t, "a*col", tensor.Mul(a, col), []float64{2, 4, 6, -4, -5, -6}, literalTol)
	assertClose(t, "bias/a", tensor.Div(bias, a), []float64{10, 10, 10, 2.5, 4, 5}, literalTol)
	assertClose(t, "a-3", tensor.Sub(a, tensor.Scalar(cpu, 3)), []float64{-2, -1, 0, 1, 2, 3}, literalTol)

	x := tensor.New(cpu, []float32{1, 2, 5}, 3).SetRequiresGrad(true)
	y := tensor.New(cpu, []float32{1, 3, 4}, 3).SetRequiresGrad(true)
	m := tensor.Maximum(x, y)
	assertClose(t, "max", m, []float64{1, 3, 5}, literalTol)
	tensor.Sum(m).Backward()
	assertClose(t, "max grad a (ties go to a)", x.Grad(), []float64{1, 0, 1}, literalTol)
	assertClose(t, "max grad b", y.Grad(), []float64{0, 1, 0}, literalTol)
	x.ZeroGrad()
	y.ZeroGrad()
	n := tensor.Minimum(x, y)
	assertClose(t, "min", n, []float64{1, 2, 4}, literalTol)
	tensor.Sum(n).Backward()
	assertClose(t, "min grad a (ties go to a)", x.Grad(), []float64{1, 1, 0}, literalTol)
	assertClose(t, "min grad b", y.Grad(), []float64{0, 0, 1}, literalTol)
}

// unaryCases pairs each unary op with a float64 reference and an input domain where its
// finite difference is meaningful (positive for Log/Sqrt/fractional powers, away from 0 for
// the kinks of Abs/ReLU).
var unaryCases = []struct {
	name   string
	op     func(x *tensor.Tensor) *tensor.Tensor
	ref    func(x float64) float64
	domain string // "normal", "positive", "away"
}{
	{"Neg", tensor.Neg, func(x float64) float64 { return -x }, "normal"},
	{"Exp", tensor.Exp, math.Exp, "normal"},
	{"Log", tensor.Log, math.Log, "positive"},
	{"Sqrt", tensor.Sqrt, math.Sqrt, "positive"},
	{"Square", tensor.Square, func(x float64) float64 { return x * x }, "normal"},
	{"Abs", tensor.Abs, math.Abs, "away"},
	{"Tanh", tensor.Tanh, math.Tanh, "normal"},
	{"Sigmoid", tensor.Sigmoid, sigmoid, "normal"},
	{"SiLU", tensor.SiLU, func(x float64) float64 { return x * sigmoid(x) }, "normal"},
	{"GELU", tensor.GELU, gelu, "normal"},
	{"ReLU", tensor.ReLU, func(x float64) float64 { return math.Max(x, 0) }, "away"},
	{"Pow3", func(x *tensor.Tensor) *tensor.Tensor { return tensor.Pow(x, 3) },
		func(x float64) float64 { return x * x * x }, "normal"},
	{"Pow0.5", func(x *tensor.Tensor) *tensor.Tensor { return tensor.Pow(x, 0.5) }, math.Sqrt, "positive"},
	{"Pow-1.5", func(x *tensor.Tensor) *tensor.Tensor { return tensor.Pow(x, -1.5) },
		func(x float64) float64 { return math.Pow(x, -1.5) }, "positive"},
	{"AddScalar", func(x *tensor.Tensor) *tensor.Tensor { return tensor.AddScalar(x, 1.25) },
		func(x float64) float64 { return x + 1.25 }, "normal"},
	{"MulScalar", func(x *tensor.Tensor) *tensor.Tensor { return tensor.MulScalar(x, -0.75) },
		func(x float64) float64 { return -0.75 * x }, "normal"},
	{"Clamp", func(x *tensor.Tensor) *tensor.Tensor { return tensor.Clamp(x, -0.5, 0.8) },
		func(x float64) float64 { return math.Min(math.Max(x, -0.5), 0.8) }, "clamp"},
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

func gelu(x float64) float64 {
	return 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
}

func unaryInput(rng *rand.Rand, domain string, shape ...int) *tensor.Tensor {
	switch domain {
	case "positive":
		return randUniform(rng, 0.5, 3, shape...)
	case "away":
		return randAway(rng, 0.1, shape...)
	case "clamp": // keep away from the two corners at -0.5 and 0.8
		v := randNormal(rng, shape...).Data()
		for i, x := range v {
			for _, edge := range []float32{-0.5, 0.8} {
				if d := x - edge; d > -0.05 && d < 0.05 {
					v[i] = edge + 0.1
				}
			}
		}
		return tensor.New(cpu, v, shape...)
	}
	return randNormal(rng, shape...)
}

func TestUnaryForwardAndGrad(t *testing.T) {
	rng := rand.New(rand.NewSource(4))
	for _, c := range unaryCases {
		for _, shape := range [][]int{{1, 3, 5}, {2, 7, 1, 3}, {}} {
			t.Run(fmt.Sprintf("%s%v", c.name, shape), func(t *testing.T) {
				x := unaryInput(rng, c.domain, shape...)
				want := make([]float64, x.Size())
				for i, v := range x.Data() {
					want[i] = c.ref(float64(v))
				}
				got := c.op(x)
				assertShape(t, c.name, got, shape...)
				assertClose(t, c.name, got, want, gradTol{2e-6, 2e-6})
				checkGrad(t, func(in []*tensor.Tensor) *tensor.Tensor { return c.op(in[0]) }, x)
			})
		}
	}
}

// Clamp's gradient is exactly 0 outside [lo, hi] and 1 inside; lo > hi is misuse.
func TestClampGradientMask(t *testing.T) {
	x := tensor.New(cpu, []float32{-2, -0.5, 0, 0.8, 3}, 5).SetRequiresGrad(true)
	y := tensor.Clamp(x, -0.5, 0.8)
	assertClose(t, "clamp", y, []float64{-0.5, -0.5, 0, 0.8, 0.8}, literalTol)
	tensor.Sum(y).Backward()
	assertClose(t, "clamp grad (edges count as inside)", x.Grad(), []float64{0, 1, 1, 1, 0}, literalTol)
	mustPanic(t, func() { tensor.Clamp(x, 1, 0) }, "tensor.Clamp", "lo 1 > hi 0")
}
