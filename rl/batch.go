package rl

// The data one loss call works on: a micro-batch of rollout endpoints with their prompts and
// advantages, and the (σ, ε) draws at which the endpoints are re-noised.

import (
	"fmt"
	"slices"

	"github.com/flowtune/flowtune/diffusion"
	"github.com/flowtune/flowtune/tensor"
)

// Batch is a micro-batch of rollout results for AWM, RAM and DiffusionNFT, which need only the
// clean endpoints of the rollouts.
type Batch struct {
	X0   *tensor.Tensor // [B, ...] clean samples (σ = 0 end of the rollouts)
	Cond diffusion.Cond // the B prompts
	Adv  []float64      // the B advantages
}

// Draws are the training points of a micro-batch: K re-noisings of each of the B endpoints.
// Row j·B+i (j < K, i < B) is endpoint i at noise level Sigma[j·B+i] with noise Eps[j·B+i].
// Every model evaluated at a point (current, reference, old, EMA) sees the same σ and ε.
type Draws struct {
	K     int
	Sigma []float32      // [K·B]
	Eps   *tensor.Tensor // [K·B, ...]
}

// check panics unless d fits the batch b.
func (d Draws) check(op string, b Batch) {
	checkBatch(op, b.X0, b.Cond, b.Adv)
	B := b.X0.Dim(0)
	want := append([]int{d.K * B}, b.X0.Shape()[1:]...)
	if d.K < 1 || len(d.Sigma) != d.K*B || d.Eps == nil || !slices.Equal(d.Eps.Shape(), want) {
		eps := []int(nil)
		if d.Eps != nil {
			eps = d.Eps.Shape()
		}
		panic(fmt.Sprintf("rl.%s: draws K=%d with %d levels and noise %v do not fit endpoints %v", op, d.K, len(d.Sigma), eps, b.X0.Shape()))
	}
}

// Part returns the draws of re-noising j alone (K = 1). Every loss here is a mean over rows, so
// the loss on all K re-noisings equals the mean of the K single-re-noising losses: a caller
// short of memory can run Backward on each part's loss divided by K instead of on the whole.
func (d Draws) Part(j int) Draws {
	if j < 0 || j >= d.K {
		panic(fmt.Sprintf("rl.Draws.Part: re-noising %d of %d", j, d.K))
	}
	B := len(d.Sigma) / d.K
	var eps *tensor.Tensor
	tensor.NoGrad(func() { eps = tensor.Slice(d.Eps, 0, j*B, (j+1)*B) })
	return Draws{K: 1, Sigma: d.Sigma[j*B : (j+1)*B], Eps: eps}
}

// perRow repeats B per-sample values K times in the row layout of Draws.
func perRow(vals []float64, k int) []float64 {
	out := make([]float64, 0, k*len(vals))
	for j := 0; j < k; j++ {
		out = append(out, vals...)
	}
	return out
}

// rowScalars uploads one value per row as a [N, 1, …, 1] tensor that broadcasts over x [N, ...].
func rowScalars(x *tensor.Tensor, vals []float64) *tensor.Tensor {
	shape := make([]int, x.Dims())
	for i := range shape {
		shape[i] = 1
	}
	shape[0] = len(vals)
	return tensor.Reshape(vector(x.Backend(), vals), shape...)
}

// repeatRows stacks k copies of x [B, ...] into [k·B, ...] (copy j holds rows j·B … j·B+B−1).
func repeatRows(x *tensor.Tensor, k int) *tensor.Tensor {
	if k == 1 {
		return x
	}
	parts := make([]*tensor.Tensor, k)
	for i := range parts {
		parts[i] = x
	}
	var out *tensor.Tensor
	tensor.NoGrad(func() { out = tensor.Concat(0, parts...) })
	return out
}

// repeatCond stacks k copies of the batch c, in the layout of repeatRows.
func repeatCond(c diffusion.Cond, k int) diffusion.Cond {
	cs := make([]diffusion.Cond, k)
	for i := range cs {
		cs[i] = c
	}
	return diffusion.ConcatCond(cs...)
}

// vector uploads host values as a [n] tensor on b.
func vector(b tensor.Backend, vals []float64) *tensor.Tensor {
	f := make([]float32, len(vals))
	for i, v := range vals {
		f[i] = float32(v)
	}
	return tensor.New(b, f, len(f))
}

// noisedBatch builds the k·B training points of a micro-batch: row j·B+i holds endpoint i
// re-noised at sigma[j·B+i] with the fresh noise eps. It returns x_σ and the flow-matching
// target Y = ε − x0, both without the tape.
func noisedBatch(x0 *tensor.Tensor, k int, sigma []float32, eps *tensor.Tensor) (xt, y *tensor.Tensor) {
	tensor.NoGrad(func() {
		x0k := repeatRows(x0, k)
		xt = diffusion.Interpolate(x0k, eps, sigma)
		y = diffusion.Target(x0k, eps)
	})
	return xt, y
}

func checkBatch(op string, x0 *tensor.Tensor, c diffusion.Cond, adv []float64) {
	if x0.Dims() < 2 {
		panic(fmt.Sprintf("rl.%s: endpoints have shape %v, want [B, ...]", op, x0.Shape()))
	}
	if c.B != x0.Dim(0) || len(adv) != x0.Dim(0) {
		panic(fmt.Sprintf("rl.%s: %d endpoints, %d prompts, %d advantages", op, x0.Dim(0), c.B, len(adv)))
	}
}

// item downloads a one-element tensor as float64.
func item(t *tensor.Tensor) float64 { return float64(t.Item()) }

// meanOf is the mean of a host vector (0 for an empty one).
func meanOf(v []float32) float64 {
	if len(v) == 0 {
		return 0
	}
	s := 0.0
	for _, x := range v {
		s += float64(x)
	}
	return s / float64(len(v))
}
