package tensor

import (
	"math"
	"testing"
)

// TestCheckpointMatchesPlainBackward: a two-layer function run through Checkpoint gives the
// same output and the same gradients (inputs and inner parameters) as the plain taped run, also
// when the input does not require a gradient but a parameter inside does.
func TestCheckpointMatchesPlainBackward(t *testing.T) {
	b := CPU()
	rng := NewRNG(3)
	for _, inputGrad := range []bool{true, false} {
		x := rng.Normal(b, 4, 5).SetRequiresGrad(inputGrad)
		w1 := rng.Normal(b, 6, 5).SetRequiresGrad(true)
		w2 := rng.Normal(b, 3, 6).SetRequiresGrad(true)
		f := func(in []*Tensor) *Tensor {
			return Linear(Tanh(Linear(in[0], w1, nil)), w2, nil)
		}
		loss := func(y *Tensor) *Tensor { return Sum(Square(y)) }

		plain := loss(f([]*Tensor{x}))
		plain.Backward()
		gx, g1, g2 := x.Grad(), w1.Grad(), w2.Grad()
		x.ZeroGrad()
		w1.ZeroGrad()
		w2.ZeroGrad()

		ck := loss(Checkpoint(f, []*Tensor{x}, []*Tensor{w1, w2}))
		if d := math.Abs(float64(ck.Item() - plain.Item())); d > 1e-6 {
			t.Fatalf("forward differs by %g", d)
		}
		ck.Backward()
		pairs := [][2]*Tensor{{g1, w1.Grad()}, {g2, w2.Grad()}}
		if inputGrad {
			pairs = append(pairs, [2]*Tensor{gx, x.Grad()})
		} else if x.Grad() != nil {
			t.Fatal("an input without requires-grad got a gradient")
		}
		for k, p := range pairs {
			if p[1] == nil {
				t.Fatalf("inputGrad=%v: gradient %d missing after Checkpoint", inputGrad, k)
			}
			a, c := p[0].Data(), p[1].Data()
			for i := range a {
				if math.Abs(float64(a[i]-c[i])) > 1e-5*(1+math.Abs(float64(a[i]))) {
					t.Fatalf("inputGrad=%v: gradient %d element %d: plain %g, checkpointed %g", inputGrad, k, i, a[i], c[i])
				}
			}
		}
	}
}
