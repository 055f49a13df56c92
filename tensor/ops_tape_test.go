package tensor_test

import (
	"math"
	"testing"

	"github.com/flowtune/flowtune/tensor"
)

// Behaviour of the tape itself (tensor.go), observed through the ops.

// Gradients accumulate across Backward calls until ZeroGrad.
func TestBackwardAccumulates(t *testing.T) {
	x := tensor.New(cpu, []float32{1, -2, 3}, 3).SetRequiresGrad(true)
	loss := func() *tensor.Tensor { return tensor.Sum(tensor.Square(x)) } // d/dx = 2x
	loss().Backward()
	assertClose(t, "first grad", x.Grad(), []float64{2, -4, 6}, literalTol)
	loss().Backward()
	assertClose(t, "accumulated grad", x.Grad(), []float64{4, -8, 12}, literalTol)
	x.ZeroGrad()
	if x.Grad() != nil {
		t.Fatal("ZeroGrad left a gradient")
	}
	loss().Backward()
	assertClose(t, "grad after ZeroGrad", x.Grad(), []float64{2, -4, 6}, literalTol)
}

// Under NoGrad no graph is built, even from parameters.
func TestNoGradBuildsNoGraph(t *testing.T) {
	x := tensor.New(cpu, []float32{1, 2}, 2).SetRequiresGrad(true)
	var y *tensor.Tensor
	tensor.NoGrad(func() {
		if tensor.GradEnabled() {
			t.Fatal("GradEnabled inside NoGrad")
		}
		y = tensor.Sum(tensor.Mul(x, x))
	})
	if y.RequiresGrad() {
		t.Fatal("a result computed under NoGrad requires a gradient")
	}
	mustPanic(t, func() { y.Backward() }, "does not depend")
	if !tensor.GradEnabled() {
		t.Fatal("GradEnabled false after NoGrad returned")
	}
	// Ops on constants build no graph either.
	c := tensor.New(cpu, []float32{1, 2}, 2)
	if tensor.Exp(c).RequiresGrad() {
		t.Fatal("op on constants requires a gradient")
	}
}

// A value used twice receives the sum of both paths' gradients.
func TestReusedValueSumsGradients(t *testing.T) {
	x := tensor.New(cpu, []float32{0.5, -1.5, 2}, 3).SetRequiresGrad(true)
	// y = x·e^x + 3x : dy/dx = e^x(1+x) + 3; e^x is itself used once in Mul, x twice.
	y := tensor.Add(tensor.Mul(x, tensor.Exp(x)), tensor.MulScalar(x, 3))
	tensor.Sum(y).Backward()
	want := make([]float64, 3)
	for i, v := range []float64{0.5, -1.5, 2} {
		want[i] = math.Exp(v)*(1+v) + 3
	}
	assertClose(t, "grad", x.Grad(), want, gradTol{1e-5, 1e-5})

	// The same tensor on both sides of one op.
	z := tensor.New(cpu, []float32{3}, 1).SetRequiresGrad(true)
	tensor.Sum(tensor.Mul(z, z)).Backward()
	assertClose(t, "d(z·z)/dz", z.Grad(), []float64{6}, literalTol)
}

// Backward needs a seed for a tensor of more than one element.
func TestBackwardNonScalarNeedsSeed(t *testing.T) {
	x := tensor.New(cpu, []float32{1, 2, 3}, 3).SetRequiresGrad(true)
	y := tensor.MulScalar(x, 2)
	mustPanic(t, func() { y.Backward() }, "not a scalar", "seed", "[3]")
	mustPanic(t, func() { y.Backward(tensor.New(cpu, []float32{1, 1}, 2)) }, "seed shape [2]")
	// With a seed, the seed is the upstream gradient.
	y.Backward(tensor.New(cpu, []float32{1, 10, 100}, 3))
	assertClose(t, "seeded grad", x.Grad(), []float64{2, 20, 200}, literalTol)
}

// Only leaves that require gradients receive them; frozen inputs get none.
func TestFrozenInputGetsNoGradient(t *testing.T) {
	w := tensor.New(cpu, []float32{1, 2}, 2).SetRequiresGrad(true)
	c := tensor.New(cpu, []float32{3, 4}, 2)
	tensor.Sum(tensor.Mul(w, c)).Backward()
	if c.Grad() != nil {
		t.Fatal("constant received a gradient")
	}
	assertClose(t, "grad w", w.Grad(), []float64{3, 4}, literalTol)
	// Detach cuts the graph: nothing flows back through it.
	v := tensor.New(cpu, []float32{5}, 1).SetRequiresGrad(true)
	u := tensor.Add(tensor.Mul(v, v).Detach(), v)
	tensor.Sum(u).Backward()
	assertClose(t, "grad through detach", v.Grad(), []float64{1}, literalTol)
}
