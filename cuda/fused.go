//go:build cuda

package cuda

import (
	"fmt"
	"math"

	"github.com/flowtune/flowtune/tensor"
)

// AdamW, Philox random numbers and the fused diffusion/RL ops (kernels.cu §8–§10): the backend
// implements tensor.FusedDiffusion, with the step constants of tensor.SDEArgs.Coef.

var _ tensor.FusedDiffusion = (*Backend)(nil)

func (b *Backend) AdamW(param, grad, m, v tensor.Storage, a tensor.AdamWArgs) {
	defer b.exit(b.enter("AdamW"))
	ps, gs, ms, vs := b.f32(param, "AdamW"), b.f32(grad, "AdamW"), b.f32(m, "AdamW"), b.f32(v, "AdamW")
	sameLen("AdamW", ps, gs, ms, vs)
	if a.Step < 1 {
		panic(fmt.Sprintf("cuda: AdamW step %d (steps count from 1)", a.Step))
	}
	if ps.n == 0 {
		return
	}
	b1, b2 := float64(a.Beta1), float64(a.Beta2)
	lr := float64(a.LR)
	b.launch("adamw_f32", grid1((ps.n+3)/4, threads), dim3{threads, 1, 1}, 0, ptr(ps), ptr(gs), ptr(ms), ptr(vs), i32(ps.n),
		f64(lr), f64(b1), f64(b2), f64(float64(a.Eps)), f64(1-lr*float64(a.WeightDecay)),
		f64(1-math.Pow(b1, float64(a.Step))), f64(1-math.Pow(b2, float64(a.Step))), f64(float64(a.GradScale)))
}

func (b *Backend) RandNormal(dst tensor.Storage, seed, offset uint64) {
	defer b.exit(b.enter("RandNormal"))
	d := b.f32(dst, "RandNormal")
	if d.n > 0 {
		// One thread per 4-position block of the normal stream (tensor.PhiloxNormal4).
		blocks := (offset+uint64(d.n)-1)/4 - offset/4 + 1
		b.launch("rand_normal_f32", grid1(int(blocks), threads), dim3{threads, 1, 1}, 0, ptr(d), seed, offset, i32(d.n))
	}
}

func (b *Backend) RandUniform(dst tensor.Storage, seed, offset uint64) {
	defer b.exit(b.enter("RandUniform"))
	d := b.f32(dst, "RandUniform")
	if d.n > 0 {
		b.launch("rand_uniform_f32", grid1(d.n, threads), dim3{threads, 1, 1}, 0, ptr(d), seed, offset, i32(d.n))
	}
}

func checkBatch(op string, batch, dim int, perSample []*buffer, perElem []*buffer) {
	for _, s := range perSample {
		if s.n != batch {
			panic(fmt.Sprintf("cuda: %s [%d,%d]: per-sample storage of %d", op, batch, dim, s.n))
		}
	}
	for _, s := range perElem {
		if s.n != batch*dim {
			panic(fmt.Sprintf("cuda: %s [%d,%d]: storage of %d", op, batch, dim, s.n))
		}
	}
	if batch > 65535 {
		panic(fmt.Sprintf("cuda: %s: batch %d exceeds 65535", op, batch))
	}
}

func (b *Backend) SDEStep(xNext, logp, x, v, z tensor.Storage, a tensor.SDEArgs) {
	defer b.exit(b.enter("SDEStep"))
	const op = "SDEStep"
	xn, lp, xs, vs := b.f32(xNext, op), b.f32(logp, op), b.f32(x, op), b.f32(v, op)
	elems := []*buffer{xn, xs, vs}
	zp := uint64(0)
	if z != nil {
		zs := b.f32(z, op)
		elems = append(elems, zs)
		zp = ptr(zs)
	}
	checkBatch(op, a.Batch, a.Dim, []*buffer{lp}, elems)
	if a.Batch == 0 {
		return
	}
	co := a.Coef()
	b.rowsReduce("sde_step_partial", lp, a.Batch, a.Dim, -co.W/float64(a.Dim), co.K,
		ptr(xn), ptr(xs), ptr(vs), zp, f64(co.CX), f64(co.CV), f64(co.Std))
}

// rowsReduce runs a per-sample partial-sum kernel (grid (parts, batch)) and rows_finalize:
// out[b] = coef·Σ + add. extra are the kernel's arguments between its partial-buffer pointer
// (first, after an optional leading output) and (dim, chunk); see the kernels' signatures.
func (b *Backend) rowsReduce(kernel string, out *buffer, batch, dim int, coef, add float64, args ...uint64) {
	chunk, p := parts(max(dim, 1), batch, 1024)
	part := b.doubles(p * batch)
	var full []uint64
	if kernel == "sde_step_partial" { // (xnext, partial, x, v, z, dim, chunk, cx, cv, std)
		full = append(full, args[0], ptr(part), args[1], args[2], args[3], i32(dim), i32(chunk), args[4], args[5], args[6])
	} else { // sqerr_partial: (partial, v, target, dim, chunk)
		full = append(full, ptr(part), args[0], args[1], i32(dim), i32(chunk))
	}
	b.launch(kernel, dim3{p, batch, 1}, dim3{threads, 1, 1}, 0, full...)
	b.launch("rows_finalize", grid1(batch, threads), dim3{threads, 1, 1}, 0, ptr(out), ptr(part), i32(p), i32(batch), f64(coef), f64(add))
	b.release(part)
}

func (b *Backend) SDEStepBackward(dv, dlogp, x, v, xNext tensor.Storage, a tensor.SDEArgs) {
	defer b.exit(b.enter("SDEStepBackward"))
	const op = "SDEStepBackward"
	g, dl, xs, vs, xn := b.f32(dv, op), b.f32(dlogp, op), b.f32(x, op), b.f32(v, op), b.f32(xNext, op)
	checkBatch(op, a.Batch, a.Dim, []*buffer{dl}, []*buffer{g, xs, vs, xn})
	n := a.Batch * a.Dim
	if n == 0 {
		return
	}
	co := a.Coef()
	f := 2 * co.W * co.CV / float64(a.Dim)
	b.launch("sde_step_backward", grid1(n, threads), dim3{threads, 1, 1}, 0, ptr(g), ptr(dl), ptr(xs), ptr(vs), ptr(xn),
		i32(a.Dim), i32(n), f64(co.CX), f64(co.CV), f64(f))
}

func (b *Backend) SqErr(e, v, target tensor.Storage, batch, dim int) {
	defer b.exit(b.enter("SqErr"))
	es, vs, ts := b.f32(e, "SqErr"), b.f32(v, "SqErr"), b.f32(target, "SqErr")
	checkBatch("SqErr", batch, dim, []*buffer{es}, []*buffer{vs, ts})
	if batch == 0 {
		return
	}
	b.rowsReduce("sqerr_partial", es, batch, dim, 1/float64(dim), 0, ptr(vs), ptr(ts))
}

func (b *Backend) SqErrBackward(dv, de, v, target tensor.Storage, batch, dim int) {
	defer b.exit(b.enter("SqErrBackward"))
	const op = "SqErrBackward"
	g, des, vs, ts := b.f32(dv, op), b.f32(de, op), b.f32(v, op), b.f32(target, op)
	checkBatch(op, batch, dim, []*buffer{des}, []*buffer{g, vs, ts})
	n := batch * dim
	if n > 0 {
		b.launch("sqerr_backward", grid1(n, threads), dim3{threads, 1, 1}, 0, ptr(g), ptr(des), ptr(vs), ptr(ts), i32(dim), i32(n))
	}
}
