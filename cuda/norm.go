//go:build cuda

package cuda

import (
	"fmt"

	"github.com/flowtune/flowtune/tensor"
)

// Softmax, LayerNorm and RMSNorm (kernels.cu §5): one warp per row, 8 rows per block.

func rowsGrid(rows int) dim3 { return dim3{(rows + rowWarps - 1) / rowWarps, 1, 1} }

func checkRows(op string, rows, cols int, bufs ...*buffer) {
	for _, s := range bufs {
		if s.n != rows*cols {
			panic(fmt.Sprintf("cuda: %s over [%d,%d]: storage of %d elements", op, rows, cols, s.n))
		}
	}
}

func (b *Backend) Softmax(y, x tensor.Storage, rows, cols int) {
	defer b.exit(b.enter("Softmax"))
	ys, xs := b.f32(y, "Softmax"), b.f32(x, "Softmax")
	checkRows("Softmax", rows, cols, ys, xs)
	if rows*cols > 0 {
		b.launch("softmax_f32", rowsGrid(rows), dim3{rowWarps * 32, 1, 1}, 0, ptr(ys), ptr(xs), i32(rows), i32(cols))
	}
}

func (b *Backend) SoftmaxBackward(dx, y, dy tensor.Storage, rows, cols int) {
	defer b.exit(b.enter("SoftmaxBackward"))
	d, ys, g := b.f32(dx, "SoftmaxBackward"), b.f32(y, "SoftmaxBackward"), b.f32(dy, "SoftmaxBackward")
	checkRows("SoftmaxBackward", rows, cols, d, ys, g)
	if rows*cols > 0 {
		b.launch("softmax_backward_f32", rowsGrid(rows), dim3{rowWarps * 32, 1, 1}, 0, ptr(d), ptr(ys), ptr(g), i32(rows), i32(cols))
	}
}

func (b *Backend) LayerNorm(y, mean, rstd, x, w, bias tensor.Storage, rows, cols int, eps float32) {
	defer b.exit(b.enter("LayerNorm"))
	ys, ms, rs, xs := b.f32(y, "LayerNorm"), b.f32(mean, "LayerNorm"), b.f32(rstd, "LayerNorm"), b.f32(x, "LayerNorm")
	checkRows("LayerNorm", rows, cols, ys, xs)
	checkRows("LayerNorm", rows, 1, ms, rs)
	if rows*cols > 0 {
		b.launch("layernorm_f32", rowsGrid(rows), dim3{rowWarps * 32, 1, 1}, 0, ptr(ys), ptr(ms), ptr(rs), ptr(xs),
			b.opt32(w, "LayerNorm"), b.opt32(bias, "LayerNorm"), i32(rows), i32(cols), f32(eps))
	}
}

func (b *Backend) LayerNormBackward(dx, dw, db, dy, x, mean, rstd, w tensor.Storage, rows, cols int) {
	defer b.exit(b.enter("LayerNormBackward"))
	d, g, xs := b.f32(dx, "LayerNormBackward"), b.f32(dy, "LayerNormBackward"), b.f32(x, "LayerNormBackward")
	ms, rs := b.f32(mean, "LayerNormBackward"), b.f32(rstd, "LayerNormBackward")
	checkRows("LayerNormBackward", rows, cols, d, g, xs)
	if rows*cols == 0 {
		return
	}
	b.launch("layernorm_backward_dx_f32", rowsGrid(rows), dim3{rowWarps * 32, 1, 1}, 0, ptr(d), ptr(g), ptr(xs),
		ptr(ms), ptr(rs), b.opt32(w, "LayerNormBackward"), i32(rows), i32(cols))
	b.normWeightGrads(dw, db, g, xs, ms, rs, rows, cols)
}

// normWeightGrads adds Σ_rows dy·x̂ onto dw and Σ_rows dy onto db (either may be nil); mean is
// nil for RMSNorm.
func (b *Backend) normWeightGrads(dw, db tensor.Storage, g, xs, ms, rs *buffer, rows, cols int) {
	if dw == nil && db == nil {
		return
	}
	tiles := (cols + 31) / 32
	chunk, p := parts(rows, tiles, 64)
	var pdw, pdb *buffer
	if dw != nil {
		pdw = b.doubles(p * cols)
	}
	if db != nil {
		pdb = b.doubles(p * cols)
	}
	b.launch("norm_wgrad_partial", dim3{tiles, p, 1}, dim3{32, 8, 1}, 0, optPtr(pdw), optPtr(pdb), ptr(g), ptr(xs),
		optPtr(ms), ptr(rs), i32(rows), i32(cols), i32(chunk))
	for _, acc := range []struct {
		dst  tensor.Storage
		part *buffer
	}{{dw, pdw}, {db, pdb}} {
		if acc.part == nil {
			continue
		}
		dst := b.f32(acc.dst, "norm weight gradient")
		checkRows("norm weight gradient", 1, cols, dst)
		b.launch("sum_parts", grid1(cols, threads), dim3{threads, 1, 1}, 0, ptr(dst), ptr(acc.part), i32(p), i32(cols), i32(1))
		b.release(acc.part)
	}
}

func (b *Backend) RMSNorm(y, rstd, x, w tensor.Storage, rows, cols int, eps float32) {
	defer b.exit(b.enter("RMSNorm"))
	ys, rs, xs := b.f32(y, "RMSNorm"), b.f32(rstd, "RMSNorm"), b.f32(x, "RMSNorm")
	checkRows("RMSNorm", rows, cols, ys, xs)
	checkRows("RMSNorm", rows, 1, rs)
	if rows*cols > 0 {
		b.launch("rmsnorm_f32", rowsGrid(rows), dim3{rowWarps * 32, 1, 1}, 0, ptr(ys), ptr(rs), ptr(xs),
			b.opt32(w, "RMSNorm"), i32(rows), i32(cols), f32(eps))
	}
}

func (b *Backend) RMSNormBackward(dx, dw, dy, x, rstd, w tensor.Storage, rows, cols int) {
	defer b.exit(b.enter("RMSNormBackward"))
	d, g, xs, rs := b.f32(dx, "RMSNormBackward"), b.f32(dy, "RMSNormBackward"), b.f32(x, "RMSNormBackward"), b.f32(rstd, "RMSNormBackward")
	checkRows("RMSNormBackward", rows, cols, d, g, xs)
	if rows*cols == 0 {
		return
	}
	b.launch("rmsnorm_backward_dx_f32", rowsGrid(rows), dim3{rowWarps * 32, 1, 1}, 0, ptr(d), ptr(g), ptr(xs), ptr(rs),
		b.opt32(w, "RMSNormBackward"), i32(rows), i32(cols))
	b.normWeightGrads(dw, nil, g, xs, nil, rs, rows, cols)
}
