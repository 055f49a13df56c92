package tensor_test

import (
	"fmt"
	"math"
	"math/rand"
	"strings"
	"testing"

	"github.com/flowtune/flowtune/tensor"
)

// The gradient checker. For a function f of some input tensors, it compares the tape gradient
// of every input with central finite differences:
//
//	∂L/∂x_j ≈ (L(x + h e_j) − L(x − h e_j)) / (x_j⁺ − x_j⁻)
//
// f is evaluated in float32 (as the ops run), but L is accumulated in float64 from the
// downloaded output, the quotient is formed in float64 with the float32-rounded step actually
// taken, and h = 1e-2·max(1, |x_j|). A non-scalar output is reduced to L = Σ out·R with a fixed
// random R, so every output element contributes with a different weight.
//
// Tolerance: |tape − fd| ≤ atol + rtol·|fd| with atol 1e-3, rtol 5e-3. The truncation error of
// the central difference is h²·f'''/6 ≈ 2e-5·f''' and the float32 rounding noise of L divided by
// 2h is ~1e-5 for the sizes used here; over every check in this package the worst disagreement
// measured was 0.1× this bound (Pow, where f''' is largest). A gradient element of size 0.1 or
// more that is 2% off (a stray factor, a missing broadcast sum, a dropped element) fails; see
// TestGradCheckCatchesWrongGradients.

var cpu = tensor.CPU()

// gradTol is the tolerance of one comparison: |got − ref| ≤ atol + rtol·|ref|.
type gradTol struct{ atol, rtol float64 }

var f32Tol = gradTol{atol: 1e-3, rtol: 5e-3}

// fn builds the function under test from its inputs.
type fn func(in []*tensor.Tensor) *tensor.Tensor

// checkGrad fails t when the tape gradient of f disagrees with finite differences.
func checkGrad(t *testing.T, f fn, inputs ...*tensor.Tensor) {
	t.Helper()
	if err := gradCheck(f, f32Tol, inputs...); err != nil {
		t.Fatal(err)
	}
}

// gradCheck runs both gradients and compares them.
func gradCheck(f fn, tol gradTol, inputs ...*tensor.Tensor) error {
	tape := tapeGrads(f, inputs)
	num := numericGrads(f, inputs)
	return compareGrads(tape, num, tol)
}

// lossWeights returns the fixed random R used to reduce an output of the given shape.
func lossWeights(shape []int) *tensor.Tensor {
	rng := rand.New(rand.NewSource(99))
	return randNormal(rng, shape...)
}

// tapeGrads returns d(Σ f·R)/d input for every input, from the tape. An input that gets no
// gradient (nil Grad) reads as zeros.
func tapeGrads(f fn, inputs []*tensor.Tensor) [][]float64 {
	for _, in := range inputs {
		in.SetRequiresGrad(true)
		in.ZeroGrad()
	}
	out := f(inputs)
	loss := tensor.Sum(tensor.Mul(out, lossWeights(out.Shape())))
	loss.Backward()
	grads := make([][]float64, len(inputs))
	for i, in := range inputs {
		grads[i] = make([]float64, in.Size())
		if g := in.Grad(); g != nil {
			for j, v := range g.Data() {
				grads[i][j] = float64(v)
			}
		}
		in.ZeroGrad()
	}
	return grads
}

// numericGrads returns central differences of Σ f·R (accumulated in float64).
func numericGrads(f fn, inputs []*tensor.Tensor) [][]float64 {
	var r []float32
	loss := func() float64 {
		out := f(inputs)
		if r == nil {
			r = lossWeights(out.Shape()).Data()
		}
		var s float64
		for i, v := range out.Data() {
			s += float64(v) * float64(r[i])
		}
		return s
	}
	grads := make([][]float64, len(inputs))
	tensor.NoGrad(func() {
		for i, in := range inputs {
			x := in.Data()
			grads[i] = make([]float64, len(x))
			for j, x0 := range x {
				h := 1e-2 * math.Max(1, math.Abs(float64(x0)))
				xp, xm := float32(float64(x0)+h), float32(float64(x0)-h)
				x[j] = xp
				in.SetData(x)
				lp := loss()
				x[j] = xm
				in.SetData(x)
				lm := loss()
				x[j] = x0
				in.SetData(x)
				grads[i][j] = (lp - lm) / (float64(xp) - float64(xm))
			}
		}
	})
	return grads
}

// compareGrads reports the worst disagreement between tape and numeric gradients.
func compareGrads(tape, num [][]float64, tol gradTol) error {
	for i := range tape {
		if err := compare(fmt.Sprintf("gradient of input %d", i), tape[i], num[i], tol); err != nil {
			return err
		}
	}
	return nil
}

// compare checks |got − ref| ≤ atol + rtol·|ref| elementwise and describes the worst element
// and the first few pairs on failure.
func compare(what string, got, ref []float64, tol gradTol) error {
	if len(got) != len(ref) {
		return fmt.Errorf("%s: %d values, reference has %d", what, len(got), len(ref))
	}
	worst, worstRatio := -1, 0.0
	for j := range got {
		diff, bound := math.Abs(got[j]-ref[j]), tol.atol+tol.rtol*math.Abs(ref[j])
		if math.IsNaN(diff) {
			worst, worstRatio = j, math.NaN()
			break
		}
		if diff > bound && diff/bound > worstRatio {
			worst, worstRatio = j, diff/bound
		}
	}
	if worst < 0 {
		return nil
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s: element %d is %.6g, reference %.6g (error %.3g× the tolerance atol %g rtol %g)\n  first pairs (got, ref):",
		what, worst, got[worst], ref[worst], worstRatio, tol.atol, tol.rtol)
	for j := 0; j < len(got) && j < 6; j++ {
		fmt.Fprintf(&sb, " (%.5g, %.5g)", got[j], ref[j])
	}
	return fmt.Errorf("%s", sb.String())
}

// assertClose compares a tensor with float64 reference values.
func assertClose(t *testing.T, what string, got *tensor.Tensor, ref []float64, tol gradTol) {
	t.Helper()
	if err := compare(what, f64(got.Data()), ref, tol); err != nil {
		t.Fatal(err)
	}
}

// assertShape fails unless x has the given shape.
func assertShape(t *testing.T, what string, x *tensor.Tensor, shape ...int) {
	t.Helper()
	if fmt.Sprint(x.Shape()) != fmt.Sprint(shape) || len(x.Shape()) != len(shape) {
		t.Fatalf("%s: shape %v, want %v", what, x.Shape(), shape)
	}
}

// literalTol is for forward values computed by hand or in float64.
var literalTol = gradTol{atol: 1e-5, rtol: 1e-5}

func f64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// randNormal makes a tensor of standard normal values.
func randNormal(rng *rand.Rand, shape ...int) *tensor.Tensor {
	v := make([]float32, numel(shape))
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return tensor.New(cpu, v, shape...)
}

// randUniform makes a tensor of values uniform in [lo, hi).
func randUniform(rng *rand.Rand, lo, hi float64, shape ...int) *tensor.Tensor {
	v := make([]float32, numel(shape))
	for i := range v {
		v[i] = float32(lo + (hi-lo)*rng.Float64())
	}
	return tensor.New(cpu, v, shape...)
}

// randAway makes normal-ish values with |x| ≥ gap (away from the kinks of ReLU, Abs, …).
func randAway(rng *rand.Rand, gap float64, shape ...int) *tensor.Tensor {
	v := make([]float32, numel(shape))
	for i := range v {
		x := rng.NormFloat64()
		v[i] = float32(math.Copysign(gap+math.Abs(x), x))
	}
	return tensor.New(cpu, v, shape...)
}

// mustPanic fails unless f panics with a message containing every fragment.
func mustPanic(t *testing.T, f func(), fragments ...string) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if r == nil {
			t.Fatalf("expected a panic mentioning %q", fragments)
		}
		msg := fmt.Sprint(r)
		for _, fr := range fragments {
			if !strings.Contains(msg, fr) {
				t.Fatalf("panic %q does not mention %q", msg, fr)
			}
		}
	}()
	f()
}

// The checker must pass a correct gradient and fail wrong ones of the kinds ops get wrong.
func TestGradCheckCatchesWrongGradients(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	x := randNormal(rng, 2, 3, 5)
	sumSq := func(in []*tensor.Tensor) *tensor.Tensor { return tensor.Sum(tensor.Square(in[0])) }
	meanSq := func(in []*tensor.Tensor) *tensor.Tensor { return tensor.Mean(tensor.Square(in[0])) }

	tape := tapeGrads(sumSq, []*tensor.Tensor{x})
	num := numericGrads(sumSq, []*tensor.Tensor{x})
	if err := compareGrads(tape, num, f32Tol); err != nil {
		t.Fatalf("correct gradient rejected: %v", err)
	}
	// The numeric gradient must itself be right: d/dx Σ R·x² = 2·R·x.
	r := lossWeights(nil).Item()
	for j, v := range x.Data() {
		if want := 2 * float64(r) * float64(v); math.Abs(num[0][j]-want) > 1e-3+1e-3*math.Abs(want) {
			t.Fatalf("finite difference %d: %g, closed form %g", j, num[0][j], want)
		}
	}

	big := 0 // the element with the largest gradient
	for j, g := range tape[0] {
		if math.Abs(g) > math.Abs(tape[0][big]) {
			big = j
		}
	}
	wrong := map[string]func(g []float64){
		"one element 2% off":  func(g []float64) { g[big] *= 1.02 },
		"one element dropped": func(g []float64) { g[big] = 0 },
		"one sign flipped":    func(g []float64) { g[big] = -g[big] },
		"all 2% off": func(g []float64) {
			for j := range g {
				g[j] *= 1.02
			}
		},
	}
	for name, spoil := range wrong {
		bad := [][]float64{append([]float64(nil), tape[0]...)}
		spoil(bad[0])
		if compareGrads(bad, num, f32Tol) == nil {
			t.Errorf("%s: wrong gradient accepted", name)
		}
	}
	// A gradient of the wrong function (Mean instead of Sum: off by a factor 30).
	if compareGrads(tapeGrads(meanSq, []*tensor.Tensor{x}), num, f32Tol) == nil {
		t.Error("gradient of Mean accepted for Sum")
	}
}
