//go:build cuda

package cuda

import (
	"fmt"
	"unsafe"

	"github.com/flowtune/flowtune/tensor"
)

// Embedding rows (kernels.cu §11). The indices live on the host; they travel to the device in
// a scratch buffer with each call.

// uploadInts copies v into a scratch buffer of int32.
func (b *Backend) uploadInts(v []int32) *buffer {
	t := b.tmp(len(v), tensor.Float32) // 4-byte elements
	b.upload(t.ptr, unsafe.Pointer(&v[0]), int64(4*len(v)))
	return t
}

func checkIdx(op string, idx []int32, rows int) {
	for i, r := range idx {
		if r < 0 || int(r) >= rows {
			panic(fmt.Sprintf("cuda: %s: index %d at position %d outside a table of %d rows", op, r, i, rows))
		}
	}
}

func (b *Backend) Gather(dst, table tensor.Storage, idx []int32, dim int) {
	defer b.exit(b.enter("Gather"))
	d, tb := b.f32(dst, "Gather"), b.f32(table, "Gather")
	if dim <= 0 || d.n != len(idx)*dim || tb.n%dim != 0 {
		panic(fmt.Sprintf("cuda: Gather of %d rows of %d from a table of %d into %d", len(idx), dim, tb.n, d.n))
	}
	checkIdx("Gather", idx, tb.n/dim)
	if len(idx) == 0 {
		return
	}
	ix := b.uploadInts(idx)
	b.launch("gather_rows", grid1(d.n, threads), dim3{threads, 1, 1}, 0, ptr(d), ptr(tb), ptr(ix), i32(len(idx)), i32(dim))
	b.release(ix)
}

// ScatterAdd adds dy row i into dtable row idx[i]. The host groups the rows by destination
// (a counting sort, stable in i), so every destination row is summed by one thread per column
// in increasing i — the CPU twin's order — with no atomics.
func (b *Backend) ScatterAdd(dtable, dy tensor.Storage, idx []int32, dim int) {
	defer b.exit(b.enter("ScatterAdd"))
	dt, g := b.f32(dtable, "ScatterAdd"), b.f32(dy, "ScatterAdd")
	if dim <= 0 || g.n != len(idx)*dim || dt.n%dim != 0 {
		panic(fmt.Sprintf("cuda: ScatterAdd of %d rows of %d into a table of %d from %d", len(idx), dim, dt.n, g.n))
	}
	rows := dt.n / dim
	checkIdx("ScatterAdd", idx, rows)
	if len(idx) == 0 {
		return
	}
	plan := scatterPlan(idx, rows)
	nuniq := (len(plan) - 1 - len(idx)) / 2
	pl := b.uploadInts(plan)
	b.launch("scatter_add_rows", dim3{nuniq, (dim + scatterCols - 1) / scatterCols, 1}, dim3{scatterCols, 1, 1}, 0, ptr(dt), ptr(g), ptr(pl), i32(nuniq), i32(dim))
	b.release(pl)
}
