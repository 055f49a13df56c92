//go:build cuda

package cuda

import (
	"fmt"

	"github.com/flowtune/flowtune/tensor"
)

// Elementwise primitives (kernels.cu §3). The op codes pass through unchanged:
// cuda/opcodes_test.go checks that kernels.cu numbers them as package tensor does.

func sameLen(op string, bufs ...*buffer) {
	for _, s := range bufs[1:] {
		if s.n != bufs[0].n {
			panic(fmt.Sprintf("cuda: %s: storages of %d and %d elements", op, bufs[0].n, s.n))
		}
	}
}

// Unary writes dst = f(x; p).
func (b *Backend) Unary(op tensor.UnaryOp, dst, x tensor.Storage, p float32) {
	defer b.exit(b.enter("Unary"))
	d, xs := b.f32(dst, "Unary"), b.f32(x, "Unary")
	sameLen("Unary", d, xs)
	if d.n > 0 {
		b.launch("unary_f32", grid1(d.n, threads), dim3{threads, 1, 1}, 0, i32(int(op)), ptr(d), ptr(xs), f32(p), i32(d.n))
	}
}

// UnaryBackward writes dx = dy·f'(x; p).
func (b *Backend) UnaryBackward(op tensor.UnaryOp, dx, x, dy tensor.Storage, p float32) {
	defer b.exit(b.enter("UnaryBackward"))
	d, xs, g := b.f32(dx, "UnaryBackward"), b.f32(x, "UnaryBackward"), b.f32(dy, "UnaryBackward")
	sameLen("UnaryBackward", d, xs, g)
	if d.n > 0 {
		b.launch("unary_backward_f32", grid1(d.n, threads), dim3{threads, 1, 1}, 0,
			i32(int(op)), ptr(d), ptr(xs), ptr(g), f32(p), i32(d.n))
	}
}

// contiguous reports whether strides st walk shape in plain row-major order (axes of size 1
// may have any stride).
func contiguous(st tensor.Strides4, shape [tensor.MaxBroadcastDims]int) bool {
	want := 1
	for k := tensor.MaxBroadcastDims - 1; k >= 0; k-- {
		if shape[k] > 1 && st[k] != want {
			return false
		}
		want *= shape[k]
	}
	return true
}

// Binary writes dst[i] = op(a[i·sa], b[i·sb]) over the 4-axis index space shape.
func (b *Backend) Binary(op tensor.BinaryOp, dst, a tensor.Storage, sa tensor.Strides4, bb tensor.Storage, sb tensor.Strides4, shape [tensor.MaxBroadcastDims]int) {
	defer b.exit(b.enter("Binary"))
	d, as, bs := b.f32(dst, "Binary"), b.f32(a, "Binary"), b.f32(bb, "Binary")
	n := shape[0] * shape[1] * shape[2] * shape[3]
	if n != d.n {
		panic(fmt.Sprintf("cuda: Binary: shape %v into a storage of %d", shape, d.n))
	}
	if n == 0 {
		return
	}
	if contiguous(sa, shape) && contiguous(sb, shape) {
		b.launch("binary_contig_f32", grid1(n, threads), dim3{threads, 1, 1}, 0, i32(int(op)), ptr(d), ptr(as), ptr(bs), i32(n))
		return
	}
	b.launch("binary_f32", grid1(n, threads), dim3{threads, 1, 1}, 0, i32(int(op)), ptr(d),
		ptr(as), i32(sa[0]), i32(sa[1]), i32(sa[2]), i32(sa[3]),
		ptr(bs), i32(sb[0]), i32(sb[1]), i32(sb[2]), i32(sb[3]),
		i32(shape[0]), i32(shape[1]), i32(shape[2]), i32(shape[3]))
}

// Axpby writes dst = alpha·x + beta·y.
func (b *Backend) Axpby(dst tensor.Storage, alpha float32, x tensor.Storage, beta float32, y tensor.Storage) {
	defer b.exit(b.enter("Axpby"))
	d, xs, ys := b.f32(dst, "Axpby"), b.f32(x, "Axpby"), b.f32(y, "Axpby")
	sameLen("Axpby", d, xs, ys)
	if d.n > 0 {
		b.launch("axpby_f32", grid1((d.n+3)/4, threads), dim3{threads, 1, 1}, 0, ptr(d), f32(alpha), ptr(xs), f32(beta), ptr(ys), i32(d.n))
	}
}
