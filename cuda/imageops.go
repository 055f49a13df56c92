//go:build cuda

package cuda

import (
	"fmt"

	"github.com/flowtune/flowtune/tensor"
)

// GroupNorm, Im2Col and Col2Im (kernels.cu §12).

func checkLen(op, what string, s *buffer, want int) {
	if s.n != want {
		panic(fmt.Sprintf("cuda: %s: %s has %d elements, want %d", op, what, s.n, want))
	}
}

func (b *Backend) GroupNorm(y, mean, rstd, x, w, bias tensor.Storage, a tensor.GroupNormArgs) {
	defer b.exit(b.enter("GroupNorm"))
	ys, ms, rs, xs := b.f32(y, "GroupNorm"), b.f32(mean, "GroupNorm"), b.f32(rstd, "GroupNorm"), b.f32(x, "GroupNorm")
	n := a.N * a.C * a.HW
	checkLen("GroupNorm", "x", xs, n)
	checkLen("GroupNorm", "y", ys, n)
	checkLen("GroupNorm", "mean", ms, a.Rows())
	checkLen("GroupNorm", "rstd", rs, a.Rows())
	if n == 0 {
		return
	}
	b.launch("group_norm_f32", dim3{a.Rows(), 1, 1}, dim3{threads, 1, 1}, 0, ptr(ys), ptr(ms), ptr(rs), ptr(xs),
		b.opt32(w, "GroupNorm"), b.opt32(bias, "GroupNorm"), i32(a.C), i32(a.HW), i32(a.Groups), f32(a.Eps))
}

func (b *Backend) GroupNormBackward(dx, dw, db, dy, x, mean, rstd, w tensor.Storage, a tensor.GroupNormArgs) {
	defer b.exit(b.enter("GroupNormBackward"))
	const op = "GroupNormBackward"
	d, g, xs := b.f32(dx, op), b.f32(dy, op), b.f32(x, op)
	ms, rs := b.f32(mean, op), b.f32(rstd, op)
	n := a.N * a.C * a.HW
	for _, s := range []*buffer{d, g, xs} {
		checkLen(op, "dx/dy/x", s, n)
	}
	checkLen(op, "mean", ms, a.Rows())
	checkLen(op, "rstd", rs, a.Rows())
	if n == 0 {
		return
	}
	b.launch("group_norm_backward_dx_f32", dim3{a.Rows(), 1, 1}, dim3{threads, 1, 1}, 0, ptr(d), ptr(g), ptr(xs),
		ptr(ms), ptr(rs), b.opt32(w, op), i32(a.C), i32(a.HW), i32(a.Groups))
	if dw == nil && db == nil {
		return
	}
	for _, s := range []tensor.Storage{dw, db} {
		if s != nil {
			checkLen(op, "dw/db", b.f32(s, op), a.C)
		}
	}
	b.launch("group_norm_wgrad", dim3{a.C, 1, 1}, dim3{threads, 1, 1}, 0, b.opt32(dw, op), b.opt32(db, op),
		ptr(g), ptr(xs), ptr(ms), ptr(rs), i32(a.N), i32(a.C), i32(a.HW), i32(a.Groups))
}

// convScalars are the shared integer arguments of im2col_f32 and col2im_f32 after the offset.
func convScalars(a tensor.ConvArgs, total int) []uint64 {
	return []uint64{i32(a.C), i32(a.H), i32(a.W), i32(a.KH), i32(a.KW), i32(a.Stride), i32(a.Pad),
		i32(a.OH), i32(a.OW), i32(total)}
}

func (b *Backend) Im2Col(col, x tensor.Storage, xOff int, a tensor.ConvArgs) {
	defer b.exit(b.enter("Im2Col"))
	cs, xs := b.f32(col, "Im2Col"), b.f32(x, "Im2Col")
	total := a.Batch * a.ColRows() * a.ColCols()
	checkLen("Im2Col", "col", cs, total)
	if xOff < 0 || xOff+a.Batch*a.C*a.H*a.W > xs.n {
		panic(fmt.Sprintf("cuda: Im2Col: %d images of [%d,%d,%d] from element %d overrun x of %d elements", a.Batch, a.C, a.H, a.W, xOff, xs.n))
	}
	if total == 0 {
		return
	}
	args := append([]uint64{ptr(cs), ptr(xs), i32(xOff)}, convScalars(a, total)...)
	b.launch("im2col_f32", grid1(total, threads), dim3{threads, 1, 1}, 0, args...)
}

func (b *Backend) Col2Im(dx tensor.Storage, dxOff int, col tensor.Storage, a tensor.ConvArgs) {
	defer b.exit(b.enter("Col2Im"))
	d, cs := b.f32(dx, "Col2Im"), b.f32(col, "Col2Im")
	total := a.Batch * a.C * a.H * a.W
	if dxOff < 0 || dxOff+total > d.n {
		panic(fmt.Sprintf("cuda: Col2Im: %d images of [%d,%d,%d] from element %d overrun dx of %d elements", a.Batch, a.C, a.H, a.W, dxOff, d.n))
	}
	if cs.n < a.Batch*a.ColRows()*a.ColCols() {
		panic(fmt.Sprintf("cuda: Col2Im: col has %d elements, want at least %d", cs.n, a.Batch*a.ColRows()*a.ColCols()))
	}
	if total == 0 {
		return
	}
	args := append([]uint64{ptr(d), ptr(cs), i32(dxOff)}, convScalars(a, total)...)
	b.launch("col2im_f32", grid1(total, threads), dim3{threads, 1, 1}, 0, args...)
}
