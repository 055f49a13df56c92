package tensor

import (
	"fmt"
	"slices"
)

// Fused losses and diffusion / RL ops, forwarded to the backend's FusedDiffusion kernel pairs
// (or their composition from primitives, for a backend without them).

// MSE is mean((a−b)²) over all elements, a 0-d tensor. a and b must have the same shape;
// gradients flow to both.
func MSE(a, b *Tensor) *Tensor {
	if !slices.Equal(a.shape, b.shape) {
		panic(fmt.Sprintf("tensor.MSE: shapes %v and %v differ", a.shape, b.shape))
	}
	return Reshape(sqErr("MSE", a, b, 1, a.Size()))
}

// SqErr is the per-sample mean squared error of [B, ...] tensors: e[b] = mean over the other
// axes of (v − target)². Gradients flow to both operands.
func SqErr(v, target *Tensor) *Tensor {
	if v.Dims() < 1 || !slices.Equal(v.shape, target.shape) {
		panic(fmt.Sprintf("tensor.SqErr: shapes %v and %v (want equal [B, ...])", v.shape, target.shape))
	}
	batch := v.shape[0]
	return sqErr("SqErr", v, target, batch, sampleSize(v))
}

// sampleSize is the number of elements per sample of a [B, ...] tensor.
func sampleSize(x *Tensor) int {
	if x.shape[0] == 0 {
		return numel(x.shape[1:])
	}
	return x.Size() / x.shape[0]
}

// sqErr computes e[b] = mean_dim (v−t)² on a [batch, dim] view; the result has shape [batch].
func sqErr(name string, v, t *Tensor, batch, dim int) *Tensor {
	be := mustSameBackend(name, v, t)
	e := Zeros(be, batch)
	Fused(be).SqErr(e.data, v.data, t.data, batch, dim)
	return record(e, name, func(g *Tensor) []*Tensor {
		dv := Zeros(be, v.shape...)
		Fused(be).SqErrBackward(dv.data, g.data, v.data, t.data, batch, dim)
		var dt *Tensor
		if t.requiresGrad {
			dt = Neg(dv) // ∂/∂t (v−t)² = −∂/∂v (v−t)²
		}
		return []*Tensor{dv, dt}
	}, v, t)
}

// sdeArgs checks that x, v and xNext (or z) are equal [B, ...] shapes and fills the batch and
// per-sample sizes of a from them (panicking when a already holds different ones).
func sdeArgs(name string, a SDEArgs, x *Tensor, others ...*Tensor) SDEArgs {
	if x.Dims() < 1 {
		panic(fmt.Sprintf("tensor.%s: x has shape %v, want [B, ...]", name, x.shape))
	}
	for _, o := range others {
		if !slices.Equal(o.shape, x.shape) {
			panic(fmt.Sprintf("tensor.%s: operand shape %v differs from x %v", name, o.shape, x.shape))
		}
	}
	batch, dim := x.shape[0], sampleSize(x)
	if (a.Batch != 0 && a.Batch != batch) || (a.Dim != 0 && a.Dim != dim) {
		panic(fmt.Sprintf("tensor.%s: args say batch %d dim %d, x %v has batch %d dim %d", name, a.Batch, a.Dim, x.shape, batch, dim))
	}
	a.Batch, a.Dim = batch, dim
	return a
}

// SDELogProb is log π(xNext | x) of one Euler–Maruyama step with velocity v, per sample ([B]);
// x and xNext are constants, the gradient flows to v only (docs/algorithms.md §2.1, §2.4). a.Batch and a.Dim
// may be left 0: they are taken from the shapes.
func SDELogProb(x, v, xNext *Tensor, a SDEArgs) *Tensor {
	be := mustSameBackend("SDELogProb", x, v, xNext)
	a = sdeArgs("SDELogProb", a, x, v, xNext)
	logp := Zeros(be, a.Batch)
	Fused(be).SDEStep(xNext.data, logp.data, x.data, v.data, nil, a) // z nil: xNext is read, not written
	return record(logp, "SDELogProb", func(g *Tensor) []*Tensor {
		dv := Zeros(be, v.shape...)
		Fused(be).SDEStepBackward(dv.data, g.data, x.data, v.data, xNext.data, a)
		return []*Tensor{dv}
	}, v)
}

// SDESample draws xNext = μ + std·z for one step and returns it with its log-prob (no tape).
// a.Batch and a.Dim may be left 0: they are taken from the shapes.
func SDESample(x, v, z *Tensor, a SDEArgs) (xNext, logp *Tensor) {
	be := mustSameBackend("SDESample", x, v, z)
	a = sdeArgs("SDESample", a, x, v, z)
	xNext = Empty(be, x.shape...)
	logp = Empty(be, a.Batch)
	Fused(be).SDEStep(xNext.data, logp.data, x.data, v.data, z.data, a)
	return xNext, logp
}
