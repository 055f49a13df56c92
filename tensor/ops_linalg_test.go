package tensor_test

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/flowtune/flowtune/tensor"
)

// refMatMul is the float64 batched product with broadcast batch axes and transpose flags.
func refMatMul(a, b *tensor.Tensor, transA, transB bool) ([]float64, []int) {
	as, bs := a.Shape(), b.Shape()
	ar, ac := as[len(as)-2], as[len(as)-1]
	br, bc := bs[len(bs)-2], bs[len(bs)-1]
	M, K, N := ar, ac, bc
	if transA {
		M, K = ac, ar
	}
	if transB {
		N = br
	}
	// Batch index maps: broadcast the batch shapes with a dummy elementwise reference.
	aBatch := tensor.Zeros(cpu, as[:len(as)-2]...)
	bBatch := tensor.Zeros(cpu, bs[:len(bs)-2]...)
	ai, batch := refBroadcast(func(x, _ float64) float64 { return x }, iota(aBatch), bBatch)
	bi, _ := refBroadcast(func(_, y float64) float64 { return y }, aBatch, iota(bBatch))
	av, bv := a.Data(), b.Data()
	out := make([]float64, len(ai)*M*N)
	for p := range ai {
		pa, pb := int(ai[p]), int(bi[p])
		for i := 0; i < M; i++ {
			for j := 0; j < N; j++ {
				var s float64
				for k := 0; k < K; k++ {
					var x, y float32
					if transA {
						x = av[pa*ar*ac+k*ac+i]
					} else {
						x = av[pa*ar*ac+i*ac+k]
					}
					if transB {
						y = bv[pb*br*bc+j*bc+k]
					} else {
						y = bv[pb*br*bc+k*bc+j]
					}
					s += float64(x) * float64(y)
				}
				out[(p*M+i)*N+j] = s
			}
		}
	}
	return out, append(batch, M, N)
}

// iota returns a tensor shaped like x holding 0, 1, 2, …
func iota(x *tensor.Tensor) *tensor.Tensor {
	v := make([]float32, x.Size())
	for i := range v {
		v[i] = float32(i)
	}
	return tensor.New(cpu, v, x.Shape()...)
}

// stored returns the stored shape of a [batch..., rows, cols] operand, transposed if asked.
func stored(batch []int, rows, cols int, trans bool) []int {
	if trans {
		rows, cols = cols, rows
	}
	return append(append([]int(nil), batch...), rows, cols)
}

// Every batch layout (equal, shared weights on either side, partial broadcast on both sides,
// rank-3 batches of one) with every pair of transpose flags, forward and backward.
func TestMatMulLayouts(t *testing.T) {
	rng := rand.New(rand.NewSource(10))
	const M, K, N = 3, 5, 4
	layouts := []struct {
		name           string
		aBatch, bBatch []int
	}{
		{"plain", nil, nil},
		{"batched", []int{2}, []int{2}},
		{"sharedB", []int{2, 3}, nil},
		{"sharedA", nil, []int{2, 3}},
		{"broadcastBoth", []int{2, 1}, []int{1, 3}},
		{"rank3Single", []int{2}, []int{1}},
		{"singleLeft", []int{1}, []int{2}},
		{"sharedBDeeper", []int{3}, []int{1, 1}},
	}
	for _, l := range layouts {
		for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
			t.Run(fmt.Sprintf("%s/tA=%v,tB=%v", l.name, tr[0], tr[1]), func(t *testing.T) {
				a := randNormal(rng, stored(l.aBatch, M, K, tr[0])...)
				b := randNormal(rng, stored(l.bBatch, K, N, tr[1])...)
				got := tensor.MatMulT(a, b, tr[0], tr[1])
				want, shape := refMatMul(a, b, tr[0], tr[1])
				assertShape(t, "MatMul", got, shape...)
				assertClose(t, "MatMul", got, want, gradTol{1e-5, 1e-5})
				checkGrad(t, func(in []*tensor.Tensor) *tensor.Tensor { return tensor.MatMulT(in[0], in[1], tr[0], tr[1]) }, a, b)
			})
		}
	}
}

func TestMatMulLiteralAndMisuse(t *testing.T) {
	a := tensor.New(cpu, []float32{1, 2, 3, 4, 5, 6}, 2, 3)
	b := tensor.New(cpu, []float32{1, 0, 0, 1, 1, 1}, 3, 2)
	assertClose(t, "a·b", tensor.MatMul(a, b), []float64{4, 5, 10, 11}, literalTol)
	assertClose(t, "aᵀ·a", tensor.MatMulT(a, a, true, false), []float64{17, 22, 27, 22, 29, 36, 27, 36, 45}, literalTol)
	assertClose(t, "a·aᵀ", tensor.MatMulT(a, a, false, true), []float64{14, 32, 32, 77}, literalTol)
	mustPanic(t, func() { tensor.MatMul(a, a) }, "tensor.MatMul", "[2 3]")
	mustPanic(t, func() { tensor.MatMul(tensor.Zeros(cpu, 3), a) }, "tensor.MatMul", "at least 2 axes")
	mustPanic(t, func() { tensor.MatMul(tensor.Zeros(cpu, 2, 2, 3), tensor.Zeros(cpu, 3, 3, 2)) }, "tensor.MatMul", "do not broadcast")
}

func TestLinear(t *testing.T) {
	rng := rand.New(rand.NewSource(11))
	for _, xs := range [][]int{{2, 3, 5}, {5}, {1, 3, 5}, {7, 5}} {
		for _, withBias := range []bool{true, false} {
			t.Run(fmt.Sprintf("%v/bias=%v", xs, withBias), func(t *testing.T) {
				x, w := randNormal(rng, xs...), randNormal(rng, 4, 5)
				var bias *tensor.Tensor
				inputs := []*tensor.Tensor{x, w}
				if withBias {
					bias = randNormal(rng, 4)
					inputs = append(inputs, bias)
				}
				got := tensor.Linear(x, w, bias)
				wantShape := append(append([]int(nil), xs[:len(xs)-1]...), 4)
				assertShape(t, "Linear", got, wantShape...)
				ref, _ := refMatMul(tensor.Reshape(x, -1, 5), w, false, true)
				if withBias {
					bv := bias.Data()
					for i := range ref {
						ref[i] += float64(bv[i%4])
					}
				}
				assertClose(t, "Linear", got, ref, gradTol{1e-5, 1e-5})
				checkGrad(t, func(in []*tensor.Tensor) *tensor.Tensor {
					if withBias {
						return tensor.Linear(in[0], in[1], in[2])
					}
					return tensor.Linear(in[0], in[1], nil)
				}, inputs...)
			})
		}
	}
	mustPanic(t, func() { tensor.Linear(tensor.Zeros(cpu, 2, 4), tensor.Zeros(cpu, 3, 5), nil) }, "tensor.Linear", "[2 4]", "[3 5]")
	mustPanic(t, func() { tensor.Linear(tensor.Zeros(cpu, 2, 5), tensor.Zeros(cpu, 3, 5), tensor.Zeros(cpu, 4)) }, "tensor.Linear", "bias [4]")
}

// TestLinearBiasIsMatMulPlusAdd: the CPU backend adds Linear's bias inside the GEMM
// (BiasMatMul); the values must be bit for bit those of the product followed by Add, the
// composition it replaced, also when the inner dimension spans several of the GEMM's slices
// (600 > its 256) and the rows several row blocks. The gradients are the same tensors' too.
func TestLinearBiasIsMatMulPlusAdd(t *testing.T) {
	if _, ok := cpu.(tensor.BiasMatMul); !ok {
		t.Fatal("the CPU backend no longer implements BiasMatMul")
	}
	rng := rand.New(rand.NewSource(12))
	for _, sh := range [][3]int{{3, 7, 5}, {512, 192, 64}, {300, 37, 600}} {
		rows, out, in := sh[0], sh[1], sh[2]
		x, w, bias := randNormal(rng, rows, in), randNormal(rng, out, in), randNormal(rng, out)
		for _, p := range []*tensor.Tensor{x, w, bias} {
			p.SetRequiresGrad(true)
		}
		got := tensor.Linear(x, w, bias)
		want := tensor.Add(tensor.MatMulT(x, w, false, true), bias)
		sameBits(t, fmt.Sprintf("Linear %v", sh), got.Data(), want.Data())
		g := randNormal(rng, rows, out)
		grads := func(y *tensor.Tensor) [][]float32 {
			for _, p := range []*tensor.Tensor{x, w, bias} {
				p.ZeroGrad()
			}
			tensor.Sum(tensor.Mul(y, g)).Backward()
			return [][]float32{x.Grad().Data(), w.Grad().Data(), bias.Grad().Data()}
		}
		gGot, gWant := grads(got), grads(want)
		for i, name := range []string{"dx", "dw", "dbias"} {
			sameBits(t, fmt.Sprintf("Linear %v %s", sh, name), gGot[i], gWant[i])
		}
	}
}

// sameBits fails unless got and want hold the same float32 bit patterns.
func sameBits(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s: element %d is %g, want %g bit for bit", what, i, got[i], want[i])
		}
	}
}
