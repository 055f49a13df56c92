//go:build cuda

package cuda

import (
	"fmt"
	"math"

	"github.com/flowtune/flowtune/tensor"
)

// Validating runs every primitive on the CUDA backend and on a reference backend (the CPU) side
// by side, and panics at the first output that diverges, naming the op, the output, the index
// and both values. After each op the reference copy is overwritten with the GPU's result, so
// every op is judged on identical inputs and small float differences never accumulate into a
// false alarm. It is slow (every output is downloaded twice) and meant for debugging: enable it
// with FLOWTUNE_CUDA_VALIDATE=1 (cuda.New) or wrap a backend with NewValidating.
type Validating struct {
	gpu *Backend
	ref tensor.Backend
	// Tol scales the tolerances: |gpu − ref| ≤ Tol·rel·(max|ref| + |ref|), rel being 1e-4 for
	// fp32 kernels and the matmul precision's own figure (tf32 5e-3, bf16 3e-2).
	Tol float64
}

// NewValidating wraps gpu, checking it against ref (normally tensor.CPU()).
func NewValidating(gpu *Backend, ref tensor.Backend) *Validating {
	return &Validating{gpu: gpu, ref: ref, Tol: 1}
}

// vstore pairs a GPU storage with its reference shadow (always Float32).
type vstore struct {
	owner *Validating
	g, r  tensor.Storage
}

func (s *vstore) Backend() tensor.Backend { return s.owner }
func (s *vstore) Len() int                { return s.g.Len() }
func (s *vstore) DType() tensor.DType     { return s.g.DType() }

func (w *Validating) Name() string { return "cuda+validate" }

func (w *Validating) v(s tensor.Storage) *vstore {
	vs, ok := s.(*vstore)
	if !ok || vs.owner != w {
		panic(fmt.Sprintf("cuda validate: storage of backend %v handed to the validating backend", s))
	}
	return vs
}

// g and r unwrap an operand (nil stays nil).
func (w *Validating) g(s tensor.Storage) tensor.Storage {
	if s == nil {
		return nil
	}
	return w.v(s).g
}
func (w *Validating) r(s tensor.Storage) tensor.Storage {
	if s == nil {
		return nil
	}
	return w.v(s).r
}

// out names an output for the report.
type out struct {
	name string
	s    tensor.Storage
}

// maxAbsRef is the largest finite |value| over the reference copies of the given operands.
func (w *Validating) maxAbsRef(ss []tensor.Storage) float64 {
	m := 0.0
	for _, s := range ss {
		if s == nil {
			continue
		}
		v := make([]float32, s.Len())
		w.ref.Download(v, w.v(s).r)
		for _, x := range v {
			if a := math.Abs(float64(x)); !math.IsInf(a, 0) && !math.IsNaN(a) {
				m = math.Max(m, a)
			}
		}
	}
	return m
}

// check compares the outputs of op after it ran on both backends, then copies the GPU values
// into the shadows. The tolerance of an element is Tol·rel·(max|out| + |ref| + floor) with
// floor = 1e-3·√reduce·max|in|: relative to the output's scale, plus a floor from the inputs'
// scale and the length of the op's longest sum, for outputs that cancel to nearly zero (the
// gradient of a norm over one column, of attention over one key).
func (w *Validating) check(op string, rel float64, reduce int, ins []tensor.Storage, outs ...out) {
	floor := 1e-3 * math.Sqrt(float64(max(reduce, 1))) * w.maxAbsRef(ins)
	for _, o := range outs {
		if o.s == nil {
			continue
		}
		vs := w.v(o.s)
		got := make([]float32, vs.g.Len())
		want := make([]float32, vs.r.Len())
		w.gpu.Download(got, vs.g)
		w.ref.Download(want, vs.r)
		scale := 0.0
		for _, x := range want {
			if !math.IsInf(float64(x), 0) && !math.IsNaN(float64(x)) {
				scale = math.Max(scale, math.Abs(float64(x)))
			}
		}
		tol := w.Tol * rel
		for i := range got {
			gv, rv := float64(got[i]), float64(want[i])
			if gv == rv || (math.IsNaN(gv) && math.IsNaN(rv)) {
				continue
			}
			if lim := tol * (scale + math.Abs(rv) + floor); !(math.Abs(gv-rv) <= lim) {
				panic(fmt.Sprintf("cuda validate: %s: output %s (%d elements) diverges first at index %d: gpu %.9g, cpu %.9g (tolerance %.3g)",
					op, o.name, len(got), i, gv, rv, lim))
			}
		}
		w.ref.Upload(vs.r, got)
	}
}

const relF32 = 1e-4

// in lists the inputs whose scale sets a check's tolerance floor.
func in(s ...tensor.Storage) []tensor.Storage { return s }

func (w *Validating) Alloc(n int, dt tensor.DType) tensor.Storage {
	return &vstore{owner: w, g: w.gpu.Alloc(n, dt), r: w.ref.Alloc(n, tensor.Float32)}
}

func (w *Validating) Upload(dst tensor.Storage, src []float32) {
	d := w.v(dst)
	w.gpu.Upload(d.g, src)
	if d.g.DType() == tensor.Float32 {
		w.ref.Upload(d.r, src)
		return
	}
	rounded := make([]float32, len(src)) // the shadow holds what the device holds
	w.gpu.Download(rounded, d.g)
	w.ref.Upload(d.r, rounded)
}

func (w *Validating) Download(dst []float32, src tensor.Storage) { w.gpu.Download(dst, w.g(src)) }

func (w *Validating) Fill(dst tensor.Storage, v float32) {
	w.gpu.Fill(w.g(dst), v)
	w.ref.Fill(w.r(dst), v)
	w.check("Fill", relF32, 1, nil, out{"dst", dst})
}

func (w *Validating) Copy(dst tensor.Storage, dstOff int, src tensor.Storage, srcOff int, n int) {
	w.gpu.Copy(w.g(dst), dstOff, w.g(src), srcOff, n)
	w.ref.Copy(w.r(dst), dstOff, w.r(src), srcOff, n)
	w.check("Copy", relF32, 1, in(src), out{"dst", dst})
}

func (w *Validating) CopyBlocks(dst tensor.Storage, dOff, dStride int, src tensor.Storage, sOff, sStride, rows, cols int) {
	w.gpu.CopyBlocks(w.g(dst), dOff, dStride, w.g(src), sOff, sStride, rows, cols)
	w.ref.CopyBlocks(w.r(dst), dOff, dStride, w.r(src), sOff, sStride, rows, cols)
	w.check("CopyBlocks", relF32, 1, in(src), out{"dst", dst})
}

func (w *Validating) Permute(dst, src tensor.Storage, shape []int, perm []int) {
	w.gpu.Permute(w.g(dst), w.g(src), shape, perm)
	w.ref.Permute(w.r(dst), w.r(src), shape, perm)
	w.check("Permute", relF32, 1, in(src), out{"dst", dst})
}

func (w *Validating) Unary(op tensor.UnaryOp, dst, x tensor.Storage, p float32) {
	w.gpu.Unary(op, w.g(dst), w.g(x), p)
	w.ref.Unary(op, w.r(dst), w.r(x), p)
	w.check("Unary "+op.String(), relF32, 1, in(x), out{"dst", dst})
}

func (w *Validating) UnaryBackward(op tensor.UnaryOp, dx, x, dy tensor.Storage, p float32) {
	w.gpu.UnaryBackward(op, w.g(dx), w.g(x), w.g(dy), p)
	w.ref.UnaryBackward(op, w.r(dx), w.r(x), w.r(dy), p)
	w.check("UnaryBackward "+op.String(), relF32, 1, in(x, dy), out{"dx", dx})
}

func (w *Validating) Binary(op tensor.BinaryOp, dst, a tensor.Storage, sa tensor.Strides4, b tensor.Storage, sb tensor.Strides4, shape [tensor.MaxBroadcastDims]int) {
	w.gpu.Binary(op, w.g(dst), w.g(a), sa, w.g(b), sb, shape)
	w.ref.Binary(op, w.r(dst), w.r(a), sa, w.r(b), sb, shape)
	w.check("Binary "+op.String(), relF32, 1, in(a, b), out{"dst", dst})
}

func (w *Validating) Axpby(dst tensor.Storage, alpha float32, x tensor.Storage, beta float32, y tensor.Storage) {
	w.gpu.Axpby(w.g(dst), alpha, w.g(x), beta, w.g(y))
	w.ref.Axpby(w.r(dst), alpha, w.r(x), beta, w.r(y))
	w.check("Axpby", relF32, 1, in(x, y), out{"dst", dst})
}

func (w *Validating) Sum(dst, x tensor.Storage, outer, n, inner int) {
	w.gpu.Sum(w.g(dst), w.g(x), outer, n, inner)
	w.ref.Sum(w.r(dst), w.r(x), outer, n, inner)
	w.check("Sum", relF32, n, in(x), out{"dst", dst})
}

func (w *Validating) SumSquares(x tensor.Storage) float64 {
	g, r := w.gpu.SumSquares(w.g(x)), w.ref.SumSquares(w.r(x))
	if !(math.Abs(g-r) <= w.Tol*1e-6*math.Abs(r)) && !(math.IsNaN(g) && math.IsNaN(r)) {
		panic(fmt.Sprintf("cuda validate: SumSquares diverges: gpu %.12g, cpu %.12g", g, r))
	}
	return g
}

func (w *Validating) MatMul(c, a, b tensor.Storage, p tensor.MatMulArgs) {
	w.gpu.MatMul(w.g(c), w.g(a), w.g(b), p)
	w.ref.MatMul(w.r(c), w.r(a), w.r(b), p)
	rel := relF32
	switch {
	case w.v(a).DType() == tensor.BFloat16 || w.v(b).DType() == tensor.BFloat16 || w.gpu.opt.MatMul == BF16:
		rel = 3e-2
	case w.gpu.opt.MatMul == TF32:
		rel = 5e-3
	}
	w.check("MatMul", rel, p.K, in(a, b, c), out{"c", c})
}

func (w *Validating) Softmax(y, x tensor.Storage, rows, cols int) {
	w.gpu.Softmax(w.g(y), w.g(x), rows, cols)
	w.ref.Softmax(w.r(y), w.r(x), rows, cols)
	w.check("Softmax", relF32, cols, in(x), out{"y", y})
}

func (w *Validating) SoftmaxBackward(dx, y, dy tensor.Storage, rows, cols int) {
	w.gpu.SoftmaxBackward(w.g(dx), w.g(y), w.g(dy), rows, cols)
	w.ref.SoftmaxBackward(w.r(dx), w.r(y), w.r(dy), rows, cols)
	w.check("SoftmaxBackward", relF32, cols, in(y, dy), out{"dx", dx})
}

func (w *Validating) LayerNorm(y, mean, rstd, x, wt, b tensor.Storage, rows, cols int, eps float32) {
	w.gpu.LayerNorm(w.g(y), w.g(mean), w.g(rstd), w.g(x), w.g(wt), w.g(b), rows, cols, eps)
	w.ref.LayerNorm(w.r(y), w.r(mean), w.r(rstd), w.r(x), w.r(wt), w.r(b), rows, cols, eps)
	w.check("LayerNorm", relF32, cols, in(x, wt, b), out{"y", y}, out{"mean", mean}, out{"rstd", rstd})
}

func (w *Validating) LayerNormBackward(dx, dw, db, dy, x, mean, rstd, wt tensor.Storage, rows, cols int) {
	w.gpu.LayerNormBackward(w.g(dx), w.g(dw), w.g(db), w.g(dy), w.g(x), w.g(mean), w.g(rstd), w.g(wt), rows, cols)
	w.ref.LayerNormBackward(w.r(dx), w.r(dw), w.r(db), w.r(dy), w.r(x), w.r(mean), w.r(rstd), w.r(wt), rows, cols)
	w.check("LayerNormBackward", relF32, max(cols, rows), in(dy, x, rstd, wt), out{"dx", dx}, out{"dw", dw}, out{"db", db})
}

func (w *Validating) RMSNorm(y, rstd, x, wt tensor.Storage, rows, cols int, eps float32) {
	w.gpu.RMSNorm(w.g(y), w.g(rstd), w.g(x), w.g(wt), rows, cols, eps)
	w.ref.RMSNorm(w.r(y), w.r(rstd), w.r(x), w.r(wt), rows, cols, eps)
	w.check("RMSNorm", relF32, cols, in(x, wt), out{"y", y}, out{"rstd", rstd})
}

func (w *Validating) RMSNormBackward(dx, dw, dy, x, rstd, wt tensor.Storage, rows, cols int) {
	w.gpu.RMSNormBackward(w.g(dx), w.g(dw), w.g(dy), w.g(x), w.g(rstd), w.g(wt), rows, cols)
	w.ref.RMSNormBackward(w.r(dx), w.r(dw), w.r(dy), w.r(x), w.r(rstd), w.r(wt), rows, cols)
	w.check("RMSNormBackward", relF32, max(cols, rows), in(dy, x, rstd, wt), out{"dx", dx}, out{"dw", dw})
}

func (w *Validating) Attention(o, lse, q, k, v, mask tensor.Storage, a tensor.AttnArgs) {
	w.gpu.Attention(w.g(o), w.g(lse), w.g(q), w.g(k), w.g(v), w.g(mask), a)
	w.ref.Attention(w.r(o), w.r(lse), w.r(q), w.r(k), w.r(v), w.r(mask), a)
	w.check("Attention", relF32, a.Lk*a.Dh, in(q, k, v), out{"out", o}, out{"lse", lse})
}

func (w *Validating) AttentionBackward(dq, dk, dv, dout, q, k, v, o, lse, mask tensor.Storage, a tensor.AttnArgs) {
	w.gpu.AttentionBackward(w.g(dq), w.g(dk), w.g(dv), w.g(dout), w.g(q), w.g(k), w.g(v), w.g(o), w.g(lse), w.g(mask), a)
	w.ref.AttentionBackward(w.r(dq), w.r(dk), w.r(dv), w.r(dout), w.r(q), w.r(k), w.r(v), w.r(o), w.r(lse), w.r(mask), a)
	w.check("AttentionBackward", relF32, max(a.Lq, a.Lk)*a.Dh, in(dout, q, k, v), out{"dq", dq}, out{"dk", dk}, out{"dv", dv})
}

func (w *Validating) Gather(dst, table tensor.Storage, idx []int32, dim int) {
	w.gpu.Gather(w.g(dst), w.g(table), idx, dim)
	w.ref.Gather(w.r(dst), w.r(table), idx, dim)
	w.check("Gather", relF32, 1, in(table), out{"dst", dst})
}

func (w *Validating) ScatterAdd(dtable, dy tensor.Storage, idx []int32, dim int) {
	w.gpu.ScatterAdd(w.g(dtable), w.g(dy), idx, dim)
	w.ref.ScatterAdd(w.r(dtable), w.r(dy), idx, dim)
	w.check("ScatterAdd", relF32, len(idx), in(dy), out{"dtable", dtable})
}

func (w *Validating) AdamW(param, grad, m, v tensor.Storage, a tensor.AdamWArgs) {
	w.gpu.AdamW(w.g(param), w.g(grad), w.g(m), w.g(v), a)
	w.ref.AdamW(w.r(param), w.r(grad), w.r(m), w.r(v), a)
	w.check("AdamW", relF32, 1, in(param, grad, m, v), out{"param", param}, out{"m", m}, out{"v", v})
}

func (w *Validating) RandNormal(dst tensor.Storage, seed, offset uint64) {
	w.gpu.RandNormal(w.g(dst), seed, offset)
	w.ref.RandNormal(w.r(dst), seed, offset)
	w.check("RandNormal", relF32, 1, nil, out{"dst", dst})
}

func (w *Validating) RandUniform(dst tensor.Storage, seed, offset uint64) {
	w.gpu.RandUniform(w.g(dst), seed, offset)
	w.ref.RandUniform(w.r(dst), seed, offset)
	w.check("RandUniform", relF32, 1, nil, out{"dst", dst})
}

// The fused diffusion ops: the reference runs its own fused kernels, or their composition.
var _ tensor.FusedDiffusion = (*Validating)(nil)

func (w *Validating) SDEStep(xNext, logp, x, v, z tensor.Storage, a tensor.SDEArgs) {
	w.gpu.SDEStep(w.g(xNext), w.g(logp), w.g(x), w.g(v), w.g(z), a)
	tensor.Fused(w.ref).SDEStep(w.r(xNext), w.r(logp), w.r(x), w.r(v), w.r(z), a)
	outs := []out{{"logp", logp}}
	if z != nil {
		outs = append(outs, out{"xNext", xNext})
	}
	w.check("SDEStep", relF32, a.Dim, in(x, v, z), outs...)
}

func (w *Validating) SDEStepBackward(dv, dlogp, x, v, xNext tensor.Storage, a tensor.SDEArgs) {
	w.gpu.SDEStepBackward(w.g(dv), w.g(dlogp), w.g(x), w.g(v), w.g(xNext), a)
	tensor.Fused(w.ref).SDEStepBackward(w.r(dv), w.r(dlogp), w.r(x), w.r(v), w.r(xNext), a)
	w.check("SDEStepBackward", relF32, 1, in(dlogp, x, v, xNext), out{"dv", dv})
}

func (w *Validating) SqErr(e, v, target tensor.Storage, batch, dim int) {
	w.gpu.SqErr(w.g(e), w.g(v), w.g(target), batch, dim)
	tensor.Fused(w.ref).SqErr(w.r(e), w.r(v), w.r(target), batch, dim)
	w.check("SqErr", relF32, dim, in(v, target), out{"e", e})
}

func (w *Validating) SqErrBackward(dv, de, v, target tensor.Storage, batch, dim int) {
	w.gpu.SqErrBackward(w.g(dv), w.g(de), w.g(v), w.g(target), batch, dim)
	tensor.Fused(w.ref).SqErrBackward(w.r(dv), w.r(de), w.r(v), w.r(target), batch, dim)
	w.check("SqErrBackward", relF32, 1, in(de, v, target), out{"dv", dv})
}

func (w *Validating) GroupNorm(y, mean, rstd, x, wt, b tensor.Storage, a tensor.GroupNormArgs) {
	w.gpu.GroupNorm(w.g(y), w.g(mean), w.g(rstd), w.g(x), w.g(wt), w.g(b), a)
	w.ref.GroupNorm(w.r(y), w.r(mean), w.r(rstd), w.r(x), w.r(wt), w.r(b), a)
	w.check("GroupNorm", relF32, a.RowLen(), in(x, wt, b), out{"y", y}, out{"mean", mean}, out{"rstd", rstd})
}

func (w *Validating) GroupNormBackward(dx, dw, db, dy, x, mean, rstd, wt tensor.Storage, a tensor.GroupNormArgs) {
	w.gpu.GroupNormBackward(w.g(dx), w.g(dw), w.g(db), w.g(dy), w.g(x), w.g(mean), w.g(rstd), w.g(wt), a)
	w.ref.GroupNormBackward(w.r(dx), w.r(dw), w.r(db), w.r(dy), w.r(x), w.r(mean), w.r(rstd), w.r(wt), a)
	w.check("GroupNormBackward", relF32, max(a.RowLen(), a.N*a.HW), in(dy, x, rstd, wt), out{"dx", dx}, out{"dw", dw}, out{"db", db})
}

func (w *Validating) Im2Col(col, x tensor.Storage, xOff int, a tensor.ConvArgs) {
	w.gpu.Im2Col(w.g(col), w.g(x), xOff, a)
	w.ref.Im2Col(w.r(col), w.r(x), xOff, a)
	w.check("Im2Col", relF32, 1, in(x), out{"col", col})
}

func (w *Validating) Col2Im(dx tensor.Storage, dxOff int, col tensor.Storage, a tensor.ConvArgs) {
	w.gpu.Col2Im(w.g(dx), dxOff, w.g(col), a)
	w.ref.Col2Im(w.r(dx), dxOff, w.r(col), a)
	w.check("Col2Im", relF32, a.KH*a.KW, in(col), out{"dx", dx})
}
