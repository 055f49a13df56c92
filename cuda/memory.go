//go:build cuda

package cuda

import (
	"fmt"
	"unsafe"

	"github.com/mumax/3/cuda/cu"

	"github.com/flowtune/flowtune/tensor"
)

// Memory primitives: allocation, host transfers, fill, copies and permute.

const threads = 256 // block size of the one-thread-per-element kernels

// Alloc returns a zero-filled storage of n elements.
func (b *Backend) Alloc(n int, dt tensor.DType) tensor.Storage {
	defer b.exit(b.enter("Alloc"))
	s := b.alloc(n, dt)
	if n > 0 {
		b.cnt.DevCopies++
		cu.MemsetD8Async(s.ptr, 0, int64(n*dt.Size()), 0)
	}
	return s
}

// AllocUninit returns a storage of n elements with undefined contents: no fill is queued
// (tensor.Empty, for outputs a primitive overwrites whole). With Options.Poison it is filled
// with NaN bytes instead, so that a primitive that reads such an output before writing it
// shows up as NaNs.
func (b *Backend) AllocUninit(n int, dt tensor.DType) tensor.Storage {
	defer b.exit(b.enter("AllocUninit"))
	s := b.alloc(n, dt)
	if n > 0 && (b.opt.Poison || b.opt.Legacy) {
		fill := byte(0xff)
		if b.opt.Legacy {
			fill = 0
		}
		b.cnt.DevCopies++
		cu.MemsetD8Async(s.ptr, fill, int64(n*dt.Size()), 0)
	}
	return s
}

// Upload copies host values in, rounding to bfloat16 for BFloat16 storages.
func (b *Backend) Upload(dst tensor.Storage, src []float32) {
	defer b.exit(b.enter("Upload"))
	d := b.buf(dst, "Upload")
	if len(src) != d.n {
		panic(fmt.Sprintf("cuda: Upload of %d values into a storage of %d", len(src), d.n))
	}
	if d.n == 0 {
		return
	}
	if d.dt == tensor.BFloat16 {
		h := make([]uint16, len(src))
		for i, v := range src {
			h[i] = toBF16(v)
		}
		b.upload(d.ptr, unsafe.Pointer(&h[0]), int64(2*len(h)))
		return
	}
	b.upload(d.ptr, unsafe.Pointer(&src[0]), int64(4*len(src)))
}

// Download copies a storage to the host (synchronising with all queued work).
func (b *Backend) Download(dst []float32, src tensor.Storage) {
	defer b.exit(b.enter("Download"))
	s := b.buf(src, "Download")
	if len(dst) != s.n {
		panic(fmt.Sprintf("cuda: Download of a storage of %d into %d values", s.n, len(dst)))
	}
	if s.n == 0 {
		b.cnt.Syncs++
		cu.CtxSynchronize()
		return
	}
	if s.dt == tensor.BFloat16 {
		h := make([]uint16, s.n)
		b.download(unsafe.Pointer(&h[0]), s.ptr, int64(2*s.n))
		for i, v := range h {
			dst[i] = fromBF16(v)
		}
		return
	}
	b.download(unsafe.Pointer(&dst[0]), s.ptr, int64(4*s.n))
}

// Fill sets every element to v.
func (b *Backend) Fill(dst tensor.Storage, v float32) {
	defer b.exit(b.enter("Fill"))
	d := b.buf(dst, "Fill")
	if d.n == 0 {
		return
	}
	if d.dt == tensor.BFloat16 {
		b.launch("fill_u16", grid1(d.n, threads), dim3{threads, 1, 1}, 0, ptr(d), uint64(toBF16(v)), i32(d.n))
		return
	}
	b.launch("fill_f32", grid1(d.n, threads), dim3{threads, 1, 1}, 0, ptr(d), f32(v), i32(d.n))
}

func sameDType(op string, a, c *buffer) {
	if a.dt != c.dt {
		panic(fmt.Sprintf("cuda: %s: %s destination, %s source", op, a.dt, c.dt))
	}
}

// Copy moves n elements; overlapping ranges of one storage behave like memmove.
func (b *Backend) Copy(dst tensor.Storage, dstOff int, src tensor.Storage, srcOff int, n int) {
	defer b.exit(b.enter("Copy"))
	d, s := b.buf(dst, "Copy"), b.buf(src, "Copy")
	sameDType("Copy", d, s)
	if dstOff < 0 || srcOff < 0 || n < 0 || dstOff+n > d.n || srcOff+n > s.n {
		panic(fmt.Sprintf("cuda: Copy of %d elements from %d (of %d) to %d (of %d)", n, srcOff, s.n, dstOff, d.n))
	}
	if n == 0 || (d == s && dstOff == srcOff) {
		return
	}
	bytes := int64(n * d.dt.Size())
	if d == s && dstOff < srcOff+n && srcOff < dstOff+n { // overlap: stage through scratch
		t := b.tmp(n, d.dt)
		b.dtod(t.ptr, cu.DevicePtr(ptrAt(s, srcOff)), bytes)
		b.dtod(cu.DevicePtr(ptrAt(d, dstOff)), t.ptr, bytes)
		b.release(t)
		return
	}
	b.dtod(cu.DevicePtr(ptrAt(d, dstOff)), cu.DevicePtr(ptrAt(s, srcOff)), bytes)
}

// CopyBlocks copies rows blocks of cols elements between strided layouts.
func (b *Backend) CopyBlocks(dst tensor.Storage, dOff, dStride int, src tensor.Storage, sOff, sStride, rows, cols int) {
	defer b.exit(b.enter("CopyBlocks"))
	d, s := b.buf(dst, "CopyBlocks"), b.buf(src, "CopyBlocks")
	sameDType("CopyBlocks", d, s)
	if rows <= 0 || cols <= 0 {
		return
	}
	if dOff < 0 || sOff < 0 || dOff+(rows-1)*dStride+cols > d.n || sOff+(rows-1)*sStride+cols > s.n {
		panic(fmt.Sprintf("cuda: CopyBlocks %d×%d from %d/%d (of %d) to %d/%d (of %d) is out of range",
			rows, cols, sOff, sStride, s.n, dOff, dStride, d.n))
	}
	if d == s { // the blocks may overlap: copy the source span out first
		span := (rows-1)*sStride + cols
		t := b.tmp(span, s.dt)
		b.dtod(t.ptr, cu.DevicePtr(ptrAt(s, sOff)), int64(span*s.dt.Size()))
		b.copyBlocks(d, dOff, dStride, t, 0, sStride, rows, cols)
		b.release(t)
		return
	}
	b.copyBlocks(d, dOff, dStride, s, sOff, sStride, rows, cols)
}

func (b *Backend) copyBlocks(d *buffer, dOff, dStride int, s *buffer, sOff, sStride, rows, cols int) {
	if dStride == cols && sStride == cols { // one contiguous run
		b.dtod(cu.DevicePtr(ptrAt(d, dOff)), cu.DevicePtr(ptrAt(s, sOff)), int64(rows*cols*d.dt.Size()))
		return
	}
	name := "copy_blocks_f32"
	if d.dt == tensor.BFloat16 {
		name = "copy_blocks_u16"
	}
	g := dim3{(cols + threads - 1) / threads, min(rows, 65535), 1}
	b.launch(name, g, dim3{threads, 1, 1}, 0, ptr(d), i32(dOff), i32(dStride), ptr(s), i32(sOff), i32(sStride), i32(rows), i32(cols))
}

// Permute writes dst = src with its axes reordered (at most 6).
func (b *Backend) Permute(dst, src tensor.Storage, shape []int, perm []int) {
	defer b.exit(b.enter("Permute"))
	d, s := b.f32(dst, "Permute"), b.f32(src, "Permute")
	nd := len(shape)
	if nd > 6 || len(perm) != nd {
		panic(fmt.Sprintf("cuda: Permute of shape %v by %v (at most 6 axes)", shape, perm))
	}
	n := 1
	for _, v := range shape {
		n *= v
	}
	if n != d.n || n != s.n {
		panic(fmt.Sprintf("cuda: Permute of shape %v: storages hold %d and %d elements", shape, s.n, d.n))
	}
	if n == 0 {
		return
	}
	// dims/steps describe dst axis i (size, and the src stride it walks), padded in front to
	// six axes of size 1.
	var srcStride [6]int
	acc := 1
	for i := nd - 1; i >= 0; i-- {
		srcStride[i] = acc
		acc *= shape[i]
	}
	dims, steps := [6]int{1, 1, 1, 1, 1, 1}, [6]int{}
	for i := 0; i < nd; i++ {
		dims[6-nd+i] = shape[perm[i]]
		steps[6-nd+i] = srcStride[perm[i]]
	}
	b.launch("permute_f32", grid1(n, threads), dim3{threads, 1, 1}, 0, ptr(d), ptr(s), i32(n),
		i32(dims[0]), i32(dims[1]), i32(dims[2]), i32(dims[3]), i32(dims[4]), i32(dims[5]),
		i32(steps[0]), i32(steps[1]), i32(steps[2]), i32(steps[3]), i32(steps[4]), i32(steps[5]))
}
