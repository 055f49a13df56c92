package tensor

// The composed fallback of FusedDiffusion: each op as a few Backend primitives (Axpby, Binary,
// Unary, Sum) on temporary storages. Empty operands (batch or dim 0) leave the outputs as they are. It computes what the fused kernels compute, in float32
// steps where they keep float64 inside a kernel, and reads every operand several times; a
// backend that cares about either implements FusedDiffusion itself.

// Composed returns the fallback FusedDiffusion built from b's primitives.
func Composed(b Backend) FusedDiffusion { return composed{b} }

type composed struct{ b Backend }

// rows is the Binary index space of a [batch, dim] operand; rowsOf strides a contiguous one,
// perRow broadcasts a [batch] one along dim.
func rows(batch, dim int) [MaxBroadcastDims]int { return [MaxBroadcastDims]int{1, 1, batch, dim} }

func rowsOf(dim int) Strides4 { return Strides4{0, 0, dim, 1} }

var perRow = Strides4{0, 0, 1, 0}

// scaled writes dst = c·x + k elementwise (x is not modified).
func (f composed) scaled(dst, x Storage, c, k float64) {
	f.b.Unary(OpMulScalar, dst, x, float32(c))
	if k != 0 {
		f.b.Unary(OpAddScalar, dst, dst, float32(k))
	}
}

// residual returns xn − (CX·x + CV·v) as a new storage, writing xn = μ + Std·z first when z is
// given.
func (f composed) residual(xn, x, v, z Storage, co SDECoef, batch, dim int) Storage {
	n := batch * dim
	mu := f.b.Alloc(n, Float32)
	f.b.Axpby(mu, float32(co.CX), x, float32(co.CV), v)
	if z != nil {
		f.b.Axpby(xn, 1, mu, float32(co.Std), z)
	}
	r := f.b.Alloc(n, Float32)
	f.b.Binary(OpSub, r, xn, rowsOf(dim), mu, rowsOf(dim), rows(batch, dim))
	return r
}

// meanSquares writes out[b] = c·Σ_D r² + k.
func (f composed) meanSquares(out, r Storage, batch, dim int, c, k float64) {
	sq := f.b.Alloc(batch*dim, Float32)
	f.b.Unary(OpSquare, sq, r, 0)
	sum := f.b.Alloc(batch, Float32)
	f.b.Sum(sum, sq, batch, dim, 1)
	f.scaled(out, sum, c, k)
}

// rowScaled writes dst[b, i] = c·g[b]·r[b, i].
func (f composed) rowScaled(dst, g, r Storage, batch, dim int, c float64) {
	t := f.b.Alloc(batch*dim, Float32)
	f.b.Binary(OpMul, t, r, rowsOf(dim), g, perRow, rows(batch, dim))
	f.scaled(dst, t, c, 0)
}

func (f composed) SDEStep(xNext, logp, x, v, z Storage, a SDEArgs) {
	if a.Batch*a.Dim == 0 {
		return
	}
	co := a.Coef()
	r := f.residual(xNext, x, v, z, co, a.Batch, a.Dim)
	f.meanSquares(logp, r, a.Batch, a.Dim, -co.W/float64(a.Dim), co.K)
}

// SDEStepBackward: ∂logp[b]/∂v_i = 2W·CV·(x'_i − μ_i)/D.
func (f composed) SDEStepBackward(dv, dlogp, x, v, xNext Storage, a SDEArgs) {
	if a.Batch*a.Dim == 0 {
		return
	}
	co := a.Coef()
	r := f.residual(xNext, x, v, nil, co, a.Batch, a.Dim)
	f.rowScaled(dv, dlogp, r, a.Batch, a.Dim, 2*co.W*co.CV/float64(a.Dim))
}

func (f composed) SqErr(e, v, target Storage, batch, dim int) {
	if batch*dim == 0 {
		return
	}
	r := f.b.Alloc(batch*dim, Float32)
	f.b.Binary(OpSub, r, v, rowsOf(dim), target, rowsOf(dim), rows(batch, dim))
	f.meanSquares(e, r, batch, dim, 1/float64(dim), 0)
}

func (f composed) SqErrBackward(dv, de, v, target Storage, batch, dim int) {
	if batch*dim == 0 {
		return
	}
	r := f.b.Alloc(batch*dim, Float32)
	f.b.Binary(OpSub, r, v, rowsOf(dim), target, rowsOf(dim), rows(batch, dim))
	f.rowScaled(dv, de, r, batch, dim, 2/float64(dim))
}
