package tensor

import (
	"fmt"
	"slices"
)

// Shape ops. Reshape accepts one -1 and shares storage; Permute/Transpose copy (tensors are
// always contiguous). Concat, Split and Slice move blocks with Backend.CopyBlocks.

// Reshape views x with a new shape of the same size (one axis may be -1: inferred). The result
// shares x's storage but is its own node of the graph.
func Reshape(x *Tensor, shape ...int) *Tensor {
	shape = append([]int(nil), shape...)
	infer, known := -1, 1
	for i, d := range shape {
		switch {
		case d == -1 && infer < 0:
			infer = i
		case d < 0:
			panic(fmt.Sprintf("tensor.Reshape: bad target shape %v for %v", shape, x.shape))
		default:
			known *= d
		}
	}
	if infer >= 0 {
		if known == 0 || x.Size()%known != 0 {
			panic(fmt.Sprintf("tensor.Reshape: cannot infer -1 in %v for %v", shape, x.shape))
		}
		shape[infer] = x.Size() / known
	}
	if numel(shape) != x.Size() {
		panic(fmt.Sprintf("tensor.Reshape: %v has %d elements, %v needs %d", x.shape, x.Size(), shape, numel(shape)))
	}
	out := &Tensor{shape: shape, data: x.data}
	return record(out, "Reshape", func(g *Tensor) []*Tensor {
		return []*Tensor{Reshape(g, x.shape...)}
	}, x)
}

// Permute reorders the axes: result axis i is x's axis perm[i].
func Permute(x *Tensor, perm ...int) *Tensor {
	n := len(x.shape)
	if len(perm) != n {
		panic(fmt.Sprintf("tensor.Permute: permutation %v for shape %v", perm, x.shape))
	}
	perm = append([]int(nil), perm...)
	seen := make([]bool, n)
	inv := make([]int, n)
	shape := make([]int, n)
	for i, p := range perm {
		if p < 0 {
			p += n
			perm[i] = p
		}
		if p < 0 || p >= n || seen[p] {
			panic(fmt.Sprintf("tensor.Permute: %v is not a permutation of the axes of %v", perm, x.shape))
		}
		seen[p] = true
		inv[p] = i
		shape[i] = x.shape[p]
	}
	be := x.Backend()
	out := Empty(be, shape...)
	srcShape, srcPerm := simplifyPermute(x.shape, perm)
	switch {
	case len(srcShape) <= 1: // identity after dropping size-1 axes and merging
		be.Copy(out.data, 0, x.data, 0, x.Size())
	case len(srcShape) > 6:
		panic(fmt.Sprintf("tensor.Permute: %v of shape %v needs %d axes after merging; at most 6 are supported", perm, x.shape, len(srcShape)))
	default:
		be.Permute(out.data, x.data, srcShape, srcPerm)
	}
	return record(out, "Permute", func(g *Tensor) []*Tensor {
		return []*Tensor{Permute(g, inv...)}
	}, x)
}

// simplifyPermute drops size-1 axes and merges runs of source axes that stay neighbours in the
// same order after the permutation. It returns the reduced source shape and permutation; the
// permutation is the identity exactly when one axis (or none) remains.
func simplifyPermute(shape, perm []int) ([]int, []int) {
	// Drop size-1 axes, renumbering the rest.
	newIndex := make([]int, len(shape))
	var sizes []int
	for i, d := range shape {
		newIndex[i] = len(sizes)
		if d != 1 {
			sizes = append(sizes, d)
		}
	}
	var p []int
	for _, a := range perm {
		if shape[a] != 1 {
			p = append(p, newIndex[a])
		}
	}
	// Runs in output order whose source axes are consecutive become one axis.
	type run struct{ first, last int }
	var runs []run
	for _, a := range p {
		if k := len(runs) - 1; k >= 0 && runs[k].last+1 == a {
			runs[k].last = a
			continue
		}
		runs = append(runs, run{a, a})
	}
	// Number the runs in source order: run r starts at source axis runs[r].first.
	rank := make([]int, len(sizes)) // source axis -> index among runs in source order
	for i := range rank {
		rank[i] = -1
	}
	for _, r := range runs {
		rank[r.first] = 0
	}
	next := 0
	for i := range rank {
		if rank[i] == 0 {
			rank[i] = next
			next++
		}
	}
	srcShape := make([]int, len(runs))
	srcPerm := make([]int, len(runs))
	for i, r := range runs {
		size := 1
		for a := r.first; a <= r.last; a++ {
			size *= sizes[a]
		}
		srcShape[rank[r.first]] = size
		srcPerm[i] = rank[r.first]
	}
	return srcShape, srcPerm
}

// Transpose swaps axes i and j.
func Transpose(x *Tensor, i, j int) *Tensor {
	i, j = x.axis(i), x.axis(j)
	perm := make([]int, len(x.shape))
	for k := range perm {
		perm[k] = k
	}
	perm[i], perm[j] = j, i
	return Permute(x, perm...)
}

// Concat joins tensors along axis; every other axis must agree.
func Concat(axis int, ts ...*Tensor) *Tensor {
	if len(ts) == 0 {
		panic("tensor.Concat: no tensors")
	}
	be := mustSameBackend("Concat", ts...)
	ax := ts[0].axis(axis)
	shape := append([]int(nil), ts[0].shape...)
	shape[ax] = 0
	for _, t := range ts {
		if len(t.shape) != len(shape) {
			panic(fmt.Sprintf("tensor.Concat: shapes %v and %v differ in rank", ts[0].shape, t.shape))
		}
		for i, d := range t.shape {
			if i != ax && d != shape[i] {
				panic(fmt.Sprintf("tensor.Concat: shapes %v and %v differ off axis %d", ts[0].shape, t.shape, ax))
			}
		}
		shape[ax] += t.shape[ax]
	}
	outer, inner := numel(shape[:ax]), numel(shape[ax+1:])
	out := Empty(be, shape...) // the pieces tile it
	offsets := make([]int, len(ts))
	off := 0
	for i, t := range ts {
		offsets[i] = off
		be.CopyBlocks(out.data, off*inner, shape[ax]*inner, t.data, 0, t.shape[ax]*inner, outer, t.shape[ax]*inner)
		off += t.shape[ax]
	}
	return record(out, "Concat", func(g *Tensor) []*Tensor {
		gs := make([]*Tensor, len(ts))
		for i, t := range ts {
			if t.requiresGrad {
				gs[i] = Slice(g, ax, offsets[i], offsets[i]+t.shape[ax])
			}
		}
		return gs
	}, ts...)
}

// Split cuts x along axis into pieces of the given sizes, which must add up to the axis.
func Split(x *Tensor, axis int, sizes ...int) []*Tensor {
	ax := x.axis(axis)
	total := 0
	for _, s := range sizes {
		if s < 0 {
			panic(fmt.Sprintf("tensor.Split: negative size in %v", sizes))
		}
		total += s
	}
	if total != x.shape[ax] {
		panic(fmt.Sprintf("tensor.Split: sizes %v do not add up to axis %d of %v", sizes, ax, x.shape))
	}
	out := make([]*Tensor, len(sizes))
	off := 0
	for i, s := range sizes {
		out[i] = Slice(x, ax, off, off+s)
		off += s
	}
	return out
}

// Slice keeps indices [start, end) of axis.
func Slice(x *Tensor, axis, start, end int) *Tensor {
	ax := x.axis(axis)
	dim := x.shape[ax]
	if start < 0 || end > dim || start > end {
		panic(fmt.Sprintf("tensor.Slice: [%d,%d) out of range for axis %d of %v", start, end, ax, x.shape))
	}
	be := x.Backend()
	shape := append([]int(nil), x.shape...)
	shape[ax] = end - start
	outer, inner := numel(shape[:ax]), numel(shape[ax+1:])
	out := Empty(be, shape...)
	be.CopyBlocks(out.data, 0, (end-start)*inner, x.data, start*inner, dim*inner, outer, (end-start)*inner)
	return record(out, "Slice", func(g *Tensor) []*Tensor {
		gx := Zeros(be, x.shape...)
		be.CopyBlocks(gx.data, start*inner, dim*inner, g.data, 0, (end-start)*inner, outer, (end-start)*inner)
		return []*Tensor{gx}
	}, x)
}

// BroadcastTo stretches x to shape under the NumPy rules (x must broadcast to exactly shape).
func BroadcastTo(x *Tensor, shape ...int) *Tensor {
	shape = append([]int(nil), shape...)
	if !slices.Equal(broadcastShape("BroadcastTo", x.shape, shape), shape) {
		panic(fmt.Sprintf("tensor.BroadcastTo: %v does not broadcast to %v", x.shape, shape))
	}
	if slices.Equal(x.shape, shape) {
		return x
	}
	be := x.Backend()
	out := Empty(be, shape...)
	p := planBinary("BroadcastTo", shape, x.shape, x.shape)
	be.Binary(OpMax, out.data, x.data, p.sa, x.data, p.sa, p.shape) // max(x, x) = x, stretched
	return record(out, "BroadcastTo", func(g *Tensor) []*Tensor {
		return []*Tensor{sumTo(g, x.shape)}
	}, x)
}
