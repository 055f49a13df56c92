package diffusion

import (
	"fmt"

	"github.com/flowtune/flowtune/tensor"
)

// Cond is a batch of tokenised prompts: B rows of L token ids, and a mask that is 1 for real
// tokens and 0 for padding.
type Cond struct {
	Tokens []int32
	Mask   []float32
	B, L   int
}

// Row returns prompt i as a one-row Cond.
func (c Cond) Row(i int) Cond {
	return Cond{Tokens: c.Tokens[i*c.L : (i+1)*c.L], Mask: c.Mask[i*c.L : (i+1)*c.L], B: 1, L: c.L}
}

// Repeat returns a Cond holding each row n times in a row (a group of n images per prompt).
func (c Cond) Repeat(n int) Cond {
	out := Cond{B: c.B * n, L: c.L}
	for i := 0; i < c.B; i++ {
		r := c.Row(i)
		for k := 0; k < n; k++ {
			out.Tokens = append(out.Tokens, r.Tokens...)
			out.Mask = append(out.Mask, r.Mask...)
		}
	}
	return out
}

// Concat stacks batches.
func ConcatCond(cs ...Cond) Cond {
	out := Cond{L: cs[0].L}
	for _, c := range cs {
		if c.L != out.L {
			panic(fmt.Sprintf("diffusion.ConcatCond: token lengths %d and %d", out.L, c.L))
		}
		out.Tokens = append(out.Tokens, c.Tokens...)
		out.Mask = append(out.Mask, c.Mask...)
		out.B += c.B
	}
	return out
}

// VelocityModel predicts v(x, σ, c) for a batch x [B, ...] with one σ per sample.
type VelocityModel interface {
	Velocity(x *tensor.Tensor, sigma []float32, c Cond) *tensor.Tensor
}

// perSample reshapes a [B] list of scalars into a [B,1,...,1] tensor that broadcasts over x.
func perSample(x *tensor.Tensor, vals []float32) *tensor.Tensor {
	shape := make([]int, x.Dims())
	for i := range shape {
		shape[i] = 1
	}
	shape[0] = len(vals)
	if len(vals) != x.Dim(0) {
		panic(fmt.Sprintf("diffusion: %d per-sample values for a batch of %d", len(vals), x.Dim(0)))
	}
	return tensor.New(x.Backend(), vals, shape...)
}

// Interpolate returns x_σ = (1−σ)·x0 + σ·ε with one σ per sample (the forward noising).
func Interpolate(x0, eps *tensor.Tensor, sigma []float32) *tensor.Tensor {
	s := perSample(x0, sigma)
	oneMinus := tensor.AddScalar(tensor.Neg(s), 1)
	return tensor.Add(tensor.Mul(oneMinus, x0), tensor.Mul(s, eps))
}

// Target is the conditional flow-matching target ε − x0.
func Target(x0, eps *tensor.Tensor) *tensor.Tensor { return tensor.Sub(eps, x0) }

// FlowMatchLoss is the pretraining loss mean_b mean_D ‖v_θ(x_σ, σ, c) − (ε − x0)‖².
func FlowMatchLoss(m VelocityModel, x0, eps *tensor.Tensor, sigma []float32, c Cond) *tensor.Tensor {
	var xt, y *tensor.Tensor
	tensor.NoGrad(func() {
		xt = Interpolate(x0, eps, sigma)
		y = Target(x0, eps)
	})
	return tensor.Mean(tensor.SqErr(m.Velocity(xt, sigma, c), y))
}

// Guided applies classifier-free guidance v = v_u + w(v_c − v_u), batching the conditional and
// unconditional passes as one 2B forward (docs/algorithms.md §1.5). With Scale 1 it is the plain model.
type Guided struct {
	Model  VelocityModel
	Uncond Cond // one row: the empty prompt
	Scale  float32
}

// Velocity implements VelocityModel.
func (g Guided) Velocity(x *tensor.Tensor, sigma []float32, c Cond) *tensor.Tensor {
	if g.Scale == 1 {
		return g.Model.Velocity(x, sigma, c)
	}
	B := x.Dim(0)
	x2 := tensor.Concat(0, x, x)
	s2 := append(append([]float32(nil), sigma...), sigma...)
	v := g.Model.Velocity(x2, s2, ConcatCond(c, g.Uncond.Repeat(B)))
	parts := tensor.Split(v, 0, B, B)
	vc, vu := parts[0], parts[1]
	return tensor.Add(vu, tensor.MulScalar(tensor.Sub(vc, vu), g.Scale))
}

func fill(n int, v float32) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = v
	}
	return out
}
