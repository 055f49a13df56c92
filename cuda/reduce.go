//go:build cuda

package cuda

import (
	"fmt"
	"unsafe"

	"github.com/flowtune/flowtune/tensor"
)

// Reductions (kernels.cu §4). Long reductions are cut into parts that run as separate blocks
// and are added in part order by a second small kernel. The number of parts depends only on the
// shape (never on the device), so a result is the same on every GPU and every run.

// targetBlocks is how many blocks a split reduction aims for: enough to fill an H100 a few
// times over.
const targetBlocks = 1024

// parts splits a reduction of n items, done `units` times side by side, into P parts of at
// least minChunk items each, aiming for targetBlocks blocks in all. It returns the chunk length
// and the number of parts.
func parts(n, units, minChunk int) (chunk, p int) {
	p = max(1, min((targetBlocks+units-1)/max(units, 1), (n+minChunk-1)/minChunk, 65535))
	chunk = (n + p - 1) / p
	return chunk, (n + chunk - 1) / chunk
}

// doubles allocates scratch for n float64 values.
func (b *Backend) doubles(n int) *buffer { return b.tmp(2*n, tensor.Float32) }

// Sum views x as [outer, n, inner] and writes dst[o, i] = Σ_j x[o, j, i].
func (b *Backend) Sum(dst, x tensor.Storage, outer, n, inner int) {
	defer b.exit(b.enter("Sum"))
	d, xs := b.f32(dst, "Sum"), b.f32(x, "Sum")
	if d.n != outer*inner || xs.n != outer*n*inner {
		panic(fmt.Sprintf("cuda: Sum over [%d,%d,%d]: storages of %d and %d", outer, n, inner, xs.n, d.n))
	}
	if outer == 0 || inner == 0 {
		return
	}
	if n == 0 {
		b.launch("fill_f32", grid1(d.n, threads), dim3{threads, 1, 1}, 0, ptr(d), f32(0), i32(d.n))
		return
	}
	var part *buffer
	if inner == 1 {
		chunk, p := parts(n, outer, 2048)
		if p > 1 {
			part = b.doubles(p * outer)
		}
		b.launch("sum_rows_partial", dim3{outer, p, 1}, dim3{threads, 1, 1}, 0, ptr(d), optPtr(part), ptr(xs), i32(outer), i32(n), i32(chunk))
		if p > 1 {
			b.launch("sum_parts", grid1(outer, threads), dim3{threads, 1, 1}, 0, ptr(d), ptr(part), i32(p), i32(outer), i32(0))
		}
	} else {
		tiles := (inner + 31) / 32
		chunk, p := parts(n, outer*tiles, 64)
		if p > 1 {
			part = b.doubles(p * outer * inner)
		}
		b.launch("sum_mid_partial", dim3{outer * tiles, p, 1}, dim3{32, 8, 1}, 0, ptr(d), optPtr(part), ptr(xs),
			i32(outer), i32(n), i32(inner), i32(chunk))
		if p > 1 {
			b.launch("sum_parts", grid1(outer*inner, threads), dim3{threads, 1, 1}, 0, ptr(d), ptr(part), i32(p), i32(outer*inner), i32(0))
		}
	}
	if part != nil {
		b.release(part)
	}
}

func optPtr(s *buffer) uint64 {
	if s == nil {
		return 0
	}
	return ptr(s)
}

// sumsqBlocks caps the blocks (and partials) of SumSquares.
const sumsqBlocks = 1024

// SumSquaresMany returns Σ_k SumSquares(xs[k]) with one download for all of them (one wait
// for the device instead of one per storage), adding in the same order, so the sum is the same
// to the bit (tensor.SquareSummer; the gradient norm over every parameter).
func (b *Backend) SumSquaresMany(xs []tensor.Storage) float64 {
	if b.opt.Legacy {
		var s float64
		for _, x := range xs {
			s += b.SumSquares(x)
		}
		return s
	}
	defer b.exit(b.enter("SumSquaresMany"))
	bufs := make([]*buffer, len(xs))
	blocks := make([]int, len(xs))
	total := 0
	for i, x := range xs {
		bufs[i] = b.f32(x, "SumSquaresMany")
		blocks[i] = max(1, min(sumsqBlocks, (bufs[i].n+threads*8-1)/(threads*8)))
		if bufs[i].n == 0 {
			blocks[i] = 0
		}
		total += blocks[i]
	}
	if total == 0 {
		return 0
	}
	part := b.doubles(total)
	off := 0
	for i, xb := range bufs {
		if blocks[i] > 0 {
			b.launch("sumsq_partial", dim3{blocks[i], 1, 1}, dim3{threads, 1, 1}, 0, uint64(part.ptr)+uint64(8*off), ptr(xb), i32(xb.n))
			off += blocks[i]
		}
	}
	host := make([]float64, total)
	b.download(unsafe.Pointer(&host[0]), part.ptr, int64(8*total))
	b.release(part)
	var s float64
	off = 0
	for _, g := range blocks {
		var one float64 // SumSquares' own order: its partials, then into the running sum
		for _, v := range host[off : off+g] {
			one += v
		}
		s += one
		off += g
	}
	return s
}

// SumSquares returns Σ x² in float64 (synchronises).
func (b *Backend) SumSquares(x tensor.Storage) float64 {
	defer b.exit(b.enter("SumSquares"))
	xs := b.f32(x, "SumSquares")
	if xs.n == 0 {
		return 0
	}
	g := max(1, min(sumsqBlocks, (xs.n+threads*8-1)/(threads*8)))
	b.launch("sumsq_partial", dim3{g, 1, 1}, dim3{threads, 1, 1}, 0, uint64(b.sumsqPart), ptr(xs), i32(xs.n))
	part := make([]float64, g)
	b.download(unsafe.Pointer(&part[0]), b.sumsqPart, int64(8*g))
	var s float64
	for _, v := range part {
		s += v
	}
	return s
}
