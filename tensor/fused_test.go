package tensor_test

import (
	"math"
	"math/rand"
	"testing"

	"github.com/flowtune/flowtune/tensor"
)

// primitivesOnly shows only the Backend contract of the CPU backend, hiding its fused kernels,
// as a new backend without them would.
// It counts the Sum calls, which only the composition makes.
type primitivesOnly struct {
	tensor.Backend
	sums *int
}

func (p primitivesOnly) Sum(dst, x tensor.Storage, outer, n, inner int) {
	*p.sums++
	p.Backend.Sum(dst, x, outer, n, inner)
}

// tensor.Fused composes the fused ops of a backend without FusedDiffusion from its primitives,
// and they give the fused kernels' values and gradients (the conformance suite holds both to
// the float64 definitions on many more shapes).
func TestFusedOpsFallBackToPrimitives(t *testing.T) {
	sums := 0
	var plain tensor.Backend = primitivesOnly{tensor.CPU(), &sums}
	if _, ok := plain.(tensor.FusedDiffusion); ok {
		t.Fatal("the wrapper exposes fused kernels")
	}
	if _, ok := tensor.CPU().(tensor.FusedDiffusion); !ok {
		t.Fatal("the CPU backend has no fused kernels")
	}
	rng := rand.New(rand.NewSource(13))
	host := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return v
	}
	const B, D = 3, 7
	x, v, z, w := host(B*D), host(B*D), host(B*D), host(B)
	put := func(v []float32) tensor.Storage {
		st := plain.Alloc(len(v), tensor.Float32)
		plain.Upload(st, v)
		return st
	}
	get := func(st tensor.Storage) []float32 {
		out := make([]float32, st.Len())
		plain.Download(out, st)
		return out
	}
	xs, vs, zs, ws := put(x), put(v), put(z), put(w)
	for _, kind := range []tensor.SDEKind{tensor.SDEFlow, tensor.SDECPS} {
		a := tensor.SDEArgs{Kind: kind, Batch: B, Dim: D, Sigma: 0.8, SigmaNext: 0.7, ST: 0.7}
		run := func(f tensor.FusedDiffusion) [][]float32 {
			xn, lp, dv := put(make([]float32, B*D)), put(make([]float32, B)), put(make([]float32, B*D))
			e, de := put(make([]float32, B)), put(make([]float32, B*D))
			f.SDEStep(xn, lp, xs, vs, zs, a)
			f.SDEStepBackward(dv, ws, xs, vs, xn, a)
			f.SqErr(e, vs, zs, B, D)
			f.SqErrBackward(de, ws, vs, zs, B, D)
			return [][]float32{get(xn), get(lp), get(dv), get(e), get(de)}
		}
		want := run(tensor.Fused(tensor.CPU()))
		before := sums
		got := run(tensor.Fused(plain))
		if sums-before != 2 { // logp and the squared error
			t.Fatalf("%d Sum calls, want 2: the fused ops were not composed from primitives", sums-before)
		}
		for i := range got {
			for j := range got[i] {
				if d := math.Abs(float64(got[i][j] - want[i][j])); d > 2e-5*(1+math.Abs(float64(want[i][j]))) {
					t.Fatalf("kind %d, output %d [%d]: composed %g, fused %g", kind, i, j, got[i][j], want[i][j])
				}
			}
		}
	}
}
