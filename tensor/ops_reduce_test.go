package tensor_test

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/flowtune/flowtune/tensor"
)

// refReduce sums (or averages) x over the flagged axes in float64 and returns the values in the
// order of the kept axes.
func refReduce(x *tensor.Tensor, reduce []bool, mean bool) []float64 {
	shape := x.Shape()
	var outShape []int
	count := 1
	for i, d := range shape {
		if reduce[i] {
			count *= d
		} else {
			outShape = append(outShape, d)
		}
	}
	out := make([]float64, numel(outShape))
	for k, v := range x.Data() {
		// Unravel k, then ravel the kept coordinates.
		rem, o, stride := k, 0, 1
		for i := len(shape) - 1; i >= 0; i-- {
			c := rem % shape[i]
			rem /= shape[i]
			if !reduce[i] {
				o += c * stride
				stride *= shape[i]
			}
		}
		out[o] += float64(v)
	}
	if mean {
		for i := range out {
			out[i] /= float64(count)
		}
	}
	return out
}

// Every subset of the axes of two awkward shapes, through all four reductions, forward against
// a float64 reference and backward against finite differences.
func TestReductionsOverEveryAxisSubset(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	type reduction struct {
		name       string
		op         func(x *tensor.Tensor, axes ...int) *tensor.Tensor
		keep, mean bool
	}
	reductions := []reduction{
		{"Sum", tensor.Sum, false, false},
		{"Mean", tensor.Mean, false, true},
		{"SumKeep", tensor.SumKeep, true, false},
		{"MeanKeep", tensor.MeanKeep, true, true},
	}
	for _, shape := range [][]int{{2, 3, 1, 4}, {1, 3, 5}} {
		n := len(shape)
		for mask := 0; mask < 1<<n; mask++ {
			var axes []int
			reduce := make([]bool, n)
			for i := 0; i < n; i++ {
				if mask&(1<<i) != 0 {
					// Alternate positive and negative spellings of the same axis.
					if len(axes)%2 == 0 {
						axes = append(axes, i)
					} else {
						axes = append(axes, i-n)
					}
					reduce[i] = true
				}
			}
			if len(axes) == 0 { // no axes means all axes
				for i := range reduce {
					reduce[i] = true
				}
			}
			for _, r := range reductions {
				t.Run(fmt.Sprintf("%s%v%v", r.name, shape, axes), func(t *testing.T) {
					x := randNormal(rng, shape...)
					got := r.op(x, axes...)
					var want []int
					for i, d := range shape {
						switch {
						case !reduce[i]:
							want = append(want, d)
						case r.keep:
							want = append(want, 1)
						}
					}
					if want == nil {
						want = []int{}
					}
					assertShape(t, r.name, got, want...)
					assertClose(t, r.name, got, refReduce(x, reduce, r.mean), gradTol{1e-5, 1e-5})
					checkGrad(t, func(in []*tensor.Tensor) *tensor.Tensor { return r.op(in[0], axes...) }, x)
				})
			}
		}
	}
}

func TestReductionLiterals(t *testing.T) {
	x := tensor.New(cpu, []float32{1, 2, 3, 4, 5, 6}, 2, 3)
	assertClose(t, "sum all", tensor.Sum(x), []float64{21}, literalTol)
	assertShape(t, "sum all", tensor.Sum(x))
	assertClose(t, "sum rows", tensor.Sum(x, 0), []float64{5, 7, 9}, literalTol)
	assertClose(t, "sum cols", tensor.Sum(x, -1), []float64{6, 15}, literalTol)
	assertClose(t, "mean cols", tensor.MeanKeep(x, 1), []float64{2, 5}, literalTol)
	assertShape(t, "mean keep", tensor.MeanKeep(x, 1), 2, 1)
	assertClose(t, "mean all", tensor.Mean(x, 0, 1), []float64{3.5}, literalTol)
	// The gradient of a mean is 1/count everywhere.
	x.SetRequiresGrad(true)
	tensor.Mean(x, 1).Backward(tensor.New(cpu, []float32{3, 6}, 2))
	assertClose(t, "mean grad", x.Grad(), []float64{1, 1, 1, 2, 2, 2}, literalTol)

	mustPanic(t, func() { tensor.Sum(x, 2) }, "tensor.Sum", "axis 2", "[2 3]")
	mustPanic(t, func() { tensor.Mean(x, 1, -1) }, "tensor.Mean", "repeated")
}
