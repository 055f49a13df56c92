package tensor_test

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/flowtune/flowtune/tensor"
)

// refPermute transposes x in float64: result axis i is x's axis perm[i].
func refPermute(x *tensor.Tensor, perm []int) []float64 {
	shape := x.Shape()
	n := len(shape)
	outShape := make([]int, n)
	for i, p := range perm {
		outShape[i] = shape[p]
	}
	xs := x.Data()
	out := make([]float64, len(xs))
	idx := make([]int, n)
	for k := range out {
		rem := k
		for i := n - 1; i >= 0; i-- {
			idx[i] = rem % outShape[i]
			rem /= outShape[i]
		}
		src := 0
		for a := 0; a < n; a++ { // source coordinate along axis a is idx[position of a in perm]
			for i, p := range perm {
				if p == a {
					src = src*shape[a] + idx[i]
				}
			}
		}
		out[k] = float64(xs[src])
	}
	return out
}

// permutations lists every permutation of 0..n-1.
func permutations(n int) [][]int {
	if n == 0 {
		return [][]int{{}}
	}
	var out [][]int
	for _, p := range permutations(n - 1) {
		for pos := 0; pos <= len(p); pos++ {
			q := append(append(append([]int{}, p[:pos]...), n-1), p[pos:]...)
			out = append(out, q)
		}
	}
	return out
}

func TestPermuteEveryOrder(t *testing.T) {
	rng := rand.New(rand.NewSource(6))
	for _, shape := range [][]int{{2, 3, 4}, {2, 1, 3, 2}, {1, 3, 5}} {
		for _, perm := range permutations(len(shape)) {
			t.Run(fmt.Sprintf("%v%v", shape, perm), func(t *testing.T) {
				x := randNormal(rng, shape...)
				got := tensor.Permute(x, perm...)
				want := make([]int, len(perm))
				for i, p := range perm {
					want[i] = shape[p]
				}
				assertShape(t, "Permute", got, want...)
				assertClose(t, "Permute", got, refPermute(x, perm), gradTol{})
				checkGrad(t, func(in []*tensor.Tensor) *tensor.Tensor { return tensor.Permute(in[0], perm...) }, x)
			})
		}
	}
}

// Seven axes fit Backend.Permute's six once neighbours that stay together are merged; seven
// axes that all move apart do not.
func TestPermuteMergesAxes(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	x := randNormal(rng, 2, 3, 1, 2, 2, 3, 2)
	perm := []int{4, 5, 6, 0, 1, 2, 3} // two runs: a plain 2-D transpose underneath
	assertClose(t, "merged", tensor.Permute(x, perm...), refPermute(x, perm), gradTol{})
	perm = []int{6, 0, 2, 1, 3, 5, 4}
	assertClose(t, "size-1 dropped", tensor.Permute(x, perm...), refPermute(x, perm), gradTol{})
	z := randNormal(rng, 2, 3, 2, 3, 2, 2)
	perm = []int{5, 3, 1, 4, 0, 2} // nothing merges: all six axes reach the backend
	assertClose(t, "six axes", tensor.Permute(z, perm...), refPermute(z, perm), gradTol{})
	checkGrad(t, func(in []*tensor.Tensor) *tensor.Tensor { return tensor.Permute(in[0], perm...) }, z)
	y := tensor.Zeros(cpu, 2, 2, 2, 2, 2, 2, 2)
	mustPanic(t, func() { tensor.Permute(y, 6, 5, 4, 3, 2, 1, 0) }, "tensor.Permute", "at most 6")
	mustPanic(t, func() { tensor.Permute(x, 0, 0, 1, 2, 3, 4, 5) }, "tensor.Permute", "not a permutation")
}

func TestTranspose(t *testing.T) {
	x := tensor.New(cpu, []float32{1, 2, 3, 4, 5, 6}, 1, 2, 3)
	y := tensor.Transpose(x, -1, 1)
	assertShape(t, "Transpose", y, 1, 3, 2)
	assertClose(t, "Transpose", y, []float64{1, 4, 2, 5, 3, 6}, gradTol{})
	checkGrad(t, func(in []*tensor.Tensor) *tensor.Tensor { return tensor.Transpose(in[0], 0, 2) }, x)
}

func TestReshapeSharesStorageButIsANode(t *testing.T) {
	x := tensor.New(cpu, []float32{1, 2, 3, 4, 5, 6}, 2, 3).SetRequiresGrad(true)
	y := tensor.Reshape(x, 3, -1, 1)
	assertShape(t, "Reshape", y, 3, 2, 1)
	if y.Storage() != x.Storage() {
		t.Fatal("Reshape copied the data")
	}
	if !y.RequiresGrad() || y == x {
		t.Fatal("Reshape is not its own graph node")
	}
	tensor.Sum(tensor.Mul(y, tensor.New(cpu, []float32{1, 2, 3, 4, 5, 6}, 3, 2, 1))).Backward()
	assertShape(t, "grad", x.Grad(), 2, 3)
	assertClose(t, "grad", x.Grad(), []float64{1, 2, 3, 4, 5, 6}, gradTol{})
	assertShape(t, "to 0-d", tensor.Reshape(tensor.Zeros(cpu, 1, 1)))
	mustPanic(t, func() { tensor.Reshape(x, 4, -1) }, "tensor.Reshape", "[4 -1]")
	mustPanic(t, func() { tensor.Reshape(x, 7) }, "tensor.Reshape", "[2 3]")
}

func TestConcatSplitSlice(t *testing.T) {
	rng := rand.New(rand.NewSource(8))
	for axis := 0; axis < 3; axis++ {
		t.Run(fmt.Sprint("axis", axis), func(t *testing.T) {
			shapes := [][]int{{2, 3, 4}, {2, 3, 4}, {2, 3, 4}}
			for i := range shapes {
				shapes[i][axis] = i + 1 // sizes 1, 2, 3 along the joined axis
			}
			a, b, c := randNormal(rng, shapes[0]...), randNormal(rng, shapes[1]...), randNormal(rng, shapes[2]...)
			cat := tensor.Concat(axis, a, b, c)
			want := []int{2, 3, 4}
			want[axis] = 6
			assertShape(t, "Concat", cat, want...)
			// Concat then Split gives the pieces back; Slice picks one.
			parts := tensor.Split(cat, axis-3, 1, 2, 3)
			for i, p := range parts {
				assertClose(t, fmt.Sprint("piece ", i), p, f64([]*tensor.Tensor{a, b, c}[i].Data()), gradTol{})
			}
			assertClose(t, "Slice", tensor.Slice(cat, axis, 1, 3), f64(b.Data()), gradTol{})

			checkGrad(t, func(in []*tensor.Tensor) *tensor.Tensor { return tensor.Concat(axis, in[0], in[1], in[2]) }, a, b, c)
			checkGrad(t, func(in []*tensor.Tensor) *tensor.Tensor { return tensor.Slice(in[0], axis, 1, 3) }, cat)
			// Pieces of one Split used with different weights: the gradient reassembles.
			checkGrad(t, func(in []*tensor.Tensor) *tensor.Tensor {
				p := tensor.Split(in[0], axis, 3, 1, 2)
				return tensor.Concat(axis, tensor.MulScalar(p[2], 3), p[0], tensor.Square(p[1]))
			}, cat)
		})
	}
}

func TestConcatLiteralsAndMisuse(t *testing.T) {
	a := tensor.New(cpu, []float32{1, 2, 3, 4}, 2, 2)
	b := tensor.New(cpu, []float32{5, 6}, 2, 1)
	assertClose(t, "concat cols", tensor.Concat(1, a, b), []float64{1, 2, 5, 3, 4, 6}, gradTol{})
	assertClose(t, "concat rows", tensor.Concat(0, a, tensor.Reshape(b, 1, 2)), []float64{1, 2, 3, 4, 5, 6}, gradTol{})
	mustPanic(t, func() { tensor.Concat(0, a, b) }, "tensor.Concat", "[2 2]", "[2 1]")
	mustPanic(t, func() { tensor.Split(a, 1, 1, 2) }, "tensor.Split", "[1 2]")
	mustPanic(t, func() { tensor.Slice(a, 0, 1, 3) }, "tensor.Slice", "[1,3)")
}

func TestBroadcastTo(t *testing.T) {
	rng := rand.New(rand.NewSource(9))
	for _, c := range []struct{ from, to []int }{
		{[]int{3}, []int{2, 3}},
		{[]int{2, 1, 5}, []int{2, 3, 5}},
		{[]int{}, []int{2, 7, 1, 3}},
		{[]int{7, 1, 1}, []int{2, 7, 4, 3}},
	} {
		x := randNormal(rng, c.from...)
		got := tensor.BroadcastTo(x, c.to...)
		assertShape(t, "BroadcastTo", got, c.to...)
		want, _ := refBroadcast(func(a, _ float64) float64 { return a }, x, tensor.Zeros(cpu, c.to...))
		assertClose(t, fmt.Sprint("BroadcastTo", c.from, c.to), got, want, gradTol{})
		checkGrad(t, func(in []*tensor.Tensor) *tensor.Tensor { return tensor.BroadcastTo(in[0], c.to...) }, x)
	}
	mustPanic(t, func() { tensor.BroadcastTo(tensor.Zeros(cpu, 2, 3), 3) }, "tensor.BroadcastTo")
	mustPanic(t, func() { tensor.BroadcastTo(tensor.Zeros(cpu, 2, 3), 4, 3) }, "tensor.BroadcastTo")
}
