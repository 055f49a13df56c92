package tensor

import (
	"fmt"

	"github.com/flowtune/flowtune/tensor/internal/vec"
)

// Embedding rows, the AdamW step, random numbers and the fused diffusion/RL ops of the CPU
// backend (it implements FusedDiffusion). Per-sample quantities (log-probs, squared errors) are
// accumulated in float64.

var _ FusedDiffusion = cpuBackend{}

func (cpuBackend) Gather(dst, table Storage, idx []int32, dim int) {
	d, tb := cpuData(dst), cpuData(table)
	parallelFor(len(idx), rowGrain(dim), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			r := int(idx[i])
			copy(d[i*dim:(i+1)*dim], tb[r*dim:(r+1)*dim])
		}
	})
}

// ScatterAdd adds dy row i into dtable row idx[i]. Indices may repeat, so the work is split
// over columns, never over rows: every table element is owned by one goroutine, and the rows
// are added in index order.
func (cpuBackend) ScatterAdd(dtable, dy Storage, idx []int32, dim int) {
	dt, g := cpuData(dtable), cpuData(dy)
	parallelFor(dim, max(1, elemGrain/max(1, len(idx))), func(lo, hi int) {
		for i, r := range idx {
			src := g[i*dim+lo : i*dim+hi]
			dst := dt[int(r)*dim+lo : int(r)*dim+hi]
			for j, v := range src {
				dst[j] += v
			}
		}
	})
}

// AdamW, in the form PyTorch's torch.optim.AdamW uses:
//
//	g = GradScale·grad;  m = β1·m + (1−β1)·g;  v = β2·v + (1−β2)·g²
//	param ← param·(1 − LR·WeightDecay) − LR · (m/(1−β1^t)) / (√(v/(1−β2^t)) + Eps)
func (cpuBackend) AdamW(param, grad, m, v Storage, a AdamWArgs) {
	ps, gs, ms, vs := cpuData(param), cpuData(grad), cpuData(m), cpuData(v)
	if a.Step < 1 {
		panic(fmt.Sprintf("tensor/cpu: AdamW step %d (steps count from 1)", a.Step))
	}
	k := vec.NewAdamW(float64(a.LR), float64(a.Beta1), float64(a.Beta2), float64(a.Eps), float64(a.WeightDecay), float64(a.GradScale), a.Step)
	parallelFor(len(ps), elemGrain/4, func(lo, hi int) {
		k.Step(ps[lo:hi], gs[lo:hi], ms[lo:hi], vs[lo:hi])
	})
}

// RandNormal and RandUniform evaluate the Philox definitions of philox.go; RandNormal one
// 4-position block per Philox call.
func (cpuBackend) RandNormal(dst Storage, seed, offset uint64) {
	d := cpuData(dst)
	parallelFor(len(d), elemGrain/16, func(lo, hi int) {
		for i := lo; i < hi; {
			p := offset + uint64(i)
			z := PhiloxNormal4(seed, p/4)
			for j := p % 4; j < 4 && i < hi; j++ {
				d[i] = z[j]
				i++
			}
		}
	})
}

func (cpuBackend) RandUniform(dst Storage, seed, offset uint64) {
	d := cpuData(dst)
	parallelFor(len(d), elemGrain/16, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			d[i] = PhiloxUniform(seed, offset+uint64(i))
		}
	})
}

// SDEStep: per sample, μ and (when z is given) x' = μ + std·z, then logp of x' as stored.
func (cpuBackend) SDEStep(xNext, logp, x, v, z Storage, a SDEArgs) {
	xn, lp, xs, vs, zs := cpuData(xNext), cpuData(logp), cpuData(x), cpuData(v), cpuDataOrNil(z)
	co := a.Coef()
	D := a.Dim
	parallelFor(a.Batch, rowGrain(D)/4, func(lo, hi int) {
		for b := lo; b < hi; b++ {
			var ss float64
			for i := b * D; i < (b+1)*D; i++ {
				mu := co.CX*float64(xs[i]) + co.CV*float64(vs[i])
				if zs != nil {
					xn[i] = float32(mu + co.Std*float64(zs[i]))
				}
				r := float64(xn[i]) - mu
				ss += r * r
			}
			lp[b] = float32(-co.W*ss/float64(D) + co.K)
		}
	})
}

// SDEStepBackward: ∂logp[b]/∂v_i = 2w·(x'_i − μ_i)·cv / D, times dlogp[b].
func (cpuBackend) SDEStepBackward(dv, dlogp, x, v, xNext Storage, a SDEArgs) {
	dvs, dl, xs, vs, xn := cpuData(dv), cpuData(dlogp), cpuData(x), cpuData(v), cpuData(xNext)
	co := a.Coef()
	D := a.Dim
	parallelFor(a.Batch, rowGrain(D)/2, func(lo, hi int) {
		for b := lo; b < hi; b++ {
			f := float64(dl[b]) * 2 * co.W * co.CV / float64(D)
			for i := b * D; i < (b+1)*D; i++ {
				mu := co.CX*float64(xs[i]) + co.CV*float64(vs[i])
				dvs[i] = float32(f * (float64(xn[i]) - mu))
			}
		}
	})
}

// SqErr: e[b] = mean_D (v − target)².
func (cpuBackend) SqErr(e, v, target Storage, batch, dim int) {
	es, vs, ts := cpuData(e), cpuData(v), cpuData(target)
	parallelFor(batch, rowGrain(dim), func(lo, hi int) {
		for b := lo; b < hi; b++ {
			var ss float64
			for i := b * dim; i < (b+1)*dim; i++ {
				d := float64(vs[i]) - float64(ts[i])
				ss += d * d
			}
			es[b] = float32(ss / float64(dim))
		}
	})
}

// SqErrBackward: dv = de[b]·2(v − target)/dim.
func (cpuBackend) SqErrBackward(dv, de, v, target Storage, batch, dim int) {
	dvs, des, vs, ts := cpuData(dv), cpuData(de), cpuData(v), cpuData(target)
	parallelFor(batch, rowGrain(dim), func(lo, hi int) {
		for b := lo; b < hi; b++ {
			f := 2 * float64(des[b]) / float64(dim)
			for i := b * dim; i < (b+1)*dim; i++ {
				dvs[i] = float32(f * (float64(vs[i]) - float64(ts[i])))
			}
		}
	})
}
