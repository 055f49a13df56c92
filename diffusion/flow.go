package diffusion

import (
	"fmt"

	"github.com/flowtune/flowtune/tensor"
)

// Cond is a batch of B prompts in one of two forms:
//
//   - tokens (the built-in MMDiT): L token ids per row and a mask that is 1 for real tokens and
//     0 for padding;
//   - precomputed prompt embeddings (the SD3 family, whose text encoders run outside): Context
//     holds B rows of [CtxLen, CtxDim] token embeddings (SD3: 333 × 4096) and Pooled B rows of
//     PooledDim (SD3: 2048), both row-major host float32.
//
// A Cond may carry both; each model reads the form it needs. Row, Rows, Repeat and ConcatCond
// carry both forms.
type Cond struct {
	Tokens []int32
	Mask   []float32
	B, L   int

	Context        []float32 // [B, CtxLen, CtxDim] or nil
	Pooled         []float32 // [B, PooledDim] or nil
	CtxLen, CtxDim int
	PooledDim      int
}

// EmbeddingCond wraps precomputed prompt embeddings, context [b, ctxLen, ctxDim] and pooled
// [b, pooledDim], checking the sizes.
func EmbeddingCond(context, pooled []float32, b, ctxLen, ctxDim, pooledDim int) (Cond, error) {
	if b <= 0 || ctxLen <= 0 || ctxDim <= 0 || pooledDim <= 0 {
		return Cond{}, fmt.Errorf("prompt embeddings: batch %d, context %d×%d, pooled %d must all be positive", b, ctxLen, ctxDim, pooledDim)
	}
	if len(context) != b*ctxLen*ctxDim {
		return Cond{}, fmt.Errorf("prompt embeddings: context holds %d values, want %d rows × %d tokens × %d", len(context), b, ctxLen, ctxDim)
	}
	if len(pooled) != b*pooledDim {
		return Cond{}, fmt.Errorf("prompt embeddings: pooled holds %d values, want %d rows × %d", len(pooled), b, pooledDim)
	}
	return Cond{B: b, Context: context, Pooled: pooled, CtxLen: ctxLen, CtxDim: ctxDim, PooledDim: pooledDim}, nil
}

// HasEmbeddings reports whether c carries precomputed prompt embeddings.
func (c Cond) HasEmbeddings() bool { return c.Context != nil }

// Row returns prompt i as a one-row Cond.
func (c Cond) Row(i int) Cond { return c.Rows(i, i+1) }

// Rows returns prompts lo … hi−1 as a Cond (sharing c's arrays).
func (c Cond) Rows(lo, hi int) Cond {
	if lo < 0 || hi > c.B || lo > hi {
		panic(fmt.Sprintf("diffusion.Cond.Rows: rows [%d, %d) of a batch of %d", lo, hi, c.B))
	}
	out := Cond{B: hi - lo, L: c.L, CtxLen: c.CtxLen, CtxDim: c.CtxDim, PooledDim: c.PooledDim}
	if c.Tokens != nil {
		out.Tokens = c.Tokens[lo*c.L : hi*c.L]
	}
	if c.Mask != nil {
		out.Mask = c.Mask[lo*c.L : hi*c.L]
	}
	if c.Context != nil {
		n := c.CtxLen * c.CtxDim
		out.Context = c.Context[lo*n : hi*n]
	}
	if c.Pooled != nil {
		out.Pooled = c.Pooled[lo*c.PooledDim : hi*c.PooledDim]
	}
	return out
}

// Repeat returns a Cond holding each row n times in a row (a group of n images per prompt).
func (c Cond) Repeat(n int) Cond {
	rows := make([]Cond, 0, c.B*n)
	for i := 0; i < c.B; i++ {
		r := c.Row(i)
		for k := 0; k < n; k++ {
			rows = append(rows, r)
		}
	}
	if len(rows) == 0 {
		return Cond{L: c.L, CtxLen: c.CtxLen, CtxDim: c.CtxDim, PooledDim: c.PooledDim}
	}
	return ConcatCond(rows...)
}

// ConcatCond stacks batches; they must agree on the token length and the embedding sizes.
func ConcatCond(cs ...Cond) Cond {
	first := cs[0]
	out := Cond{L: first.L, CtxLen: first.CtxLen, CtxDim: first.CtxDim, PooledDim: first.PooledDim}
	for _, c := range cs {
		if c.L != out.L {
			panic(fmt.Sprintf("diffusion.ConcatCond: token lengths %d and %d", out.L, c.L))
		}
		if c.HasEmbeddings() != first.HasEmbeddings() || c.CtxLen != out.CtxLen || c.CtxDim != out.CtxDim || c.PooledDim != out.PooledDim {
			panic(fmt.Sprintf("diffusion.ConcatCond: prompt embeddings %d×%d (pooled %d, present %v) and %d×%d (pooled %d, present %v)",
				out.CtxLen, out.CtxDim, out.PooledDim, first.HasEmbeddings(), c.CtxLen, c.CtxDim, c.PooledDim, c.HasEmbeddings()))
		}
		out.Tokens = append(out.Tokens, c.Tokens...)
		out.Mask = append(out.Mask, c.Mask...)
		out.Context = append(out.Context, c.Context...)
		out.Pooled = append(out.Pooled, c.Pooled...)
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
