package tensor

import (
	"fmt"
	"slices"
)

// Broadcasting helpers. Backend.Binary sees at most MaxBroadcastDims axes, each with one
// stride per operand (0 = broadcast). Any NumPy broadcast is first reduced to that form by
// dropping size-1 output axes and merging neighbouring axes on which every operand behaves the
// same way (present in both, or stretched in one of them): a run of such axes is laid out
// contiguously in every operand, so it acts as one long axis.
//
// The same grouping drives reductions: summing a gradient back to a broadcast operand, or Sum
// over a set of axes, becomes one Backend.Sum per run of reduced axes.

// broadcastShape returns the NumPy broadcast of shapes a and b, panicking with the op name when
// they are incompatible.
func broadcastShape(op string, a, b []int) []int {
	n := max(len(a), len(b))
	out := make([]int, n)
	for i := range n {
		da, db := dimFromRight(a, n-1-i), dimFromRight(b, n-1-i)
		switch {
		case da == db || db == 1:
			out[i] = da
		case da == 1:
			out[i] = db
		default:
			panic(fmt.Sprintf("tensor.%s: shapes %v and %v do not broadcast", op, a, b))
		}
	}
	return out
}

// dimFromRight returns shape[len(shape)-1-i] counted from the right, or 1 past the left end.
func dimFromRight(shape []int, i int) int {
	j := len(shape) - 1 - i
	if j < 0 {
		return 1
	}
	return shape[j]
}

// padLeft returns shape with leading 1s up to n axes.
func padLeft(shape []int, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = dimFromRight(shape, n-1-i)
	}
	return out
}

// binaryPlan is one call of Backend.Binary: the merged output shape and each operand's strides.
type binaryPlan struct {
	shape  [MaxBroadcastDims]int
	sa, sb Strides4
}

// planBinary maps out = broadcast(a, b) onto at most MaxBroadcastDims merged axes. Operand
// shapes must already broadcast to out.
func planBinary(op string, out, a, b []int) binaryPlan {
	n := len(out)
	pa, pb := padLeft(a, n), padLeft(b, n)
	type group struct {
		size     int
		inA, inB bool // the operand has this axis (not stretched)
	}
	var groups []group
	for i, d := range out {
		if d == 1 {
			continue // size-1 axes carry no index
		}
		inA, inB := pa[i] == d, pb[i] == d
		if k := len(groups) - 1; k >= 0 && groups[k].inA == inA && groups[k].inB == inB {
			groups[k].size *= d
			continue
		}
		groups = append(groups, group{d, inA, inB})
	}
	if len(groups) > MaxBroadcastDims {
		panic(fmt.Sprintf("tensor.%s: broadcasting %v with %v alternates over %d axis groups; at most %d are supported",
			op, a, b, len(groups), MaxBroadcastDims))
	}
	var p binaryPlan
	for i := range p.shape {
		p.shape[i] = 1
	}
	strideA, strideB := 1, 1
	for g := len(groups) - 1; g >= 0; g-- {
		slot := MaxBroadcastDims - len(groups) + g
		p.shape[slot] = groups[g].size
		if groups[g].inA {
			p.sa[slot] = strideA
			strideA *= groups[g].size
		}
		if groups[g].inB {
			p.sb[slot] = strideB
			strideB *= groups[g].size
		}
	}
	return p
}

// sumAxes sums x (of the given shape) over the axes flagged in reduce and returns a new storage
// holding the remaining axes in order. Runs of neighbouring reduced (or kept) axes are merged,
// so the cost is one Backend.Sum per run of reduced axes. When nothing needs summing (every
// flagged axis has size 1) x itself is returned: tensors are immutable, so sharing is safe.
func sumAxes(x Storage, shape []int, reduce []bool) Storage {
	type group struct {
		size   int
		reduce bool
	}
	var groups []group
	for i, d := range shape {
		if d == 1 {
			continue
		}
		if k := len(groups) - 1; k >= 0 && groups[k].reduce == reduce[i] {
			groups[k].size *= d
			continue
		}
		groups = append(groups, group{d, reduce[i]})
	}
	be := x.Backend()
	cur := x
	for {
		// Reduce the rightmost remaining run of reduced axes.
		r := -1
		for g := len(groups) - 1; g >= 0; g-- {
			if groups[g].reduce {
				r = g
				break
			}
		}
		if r < 0 {
			break
		}
		outer, inner := 1, 1
		for g := 0; g < r; g++ {
			outer *= groups[g].size
		}
		for g := r + 1; g < len(groups); g++ {
			inner *= groups[g].size
		}
		dst := be.Alloc(outer*inner, Float32)
		be.Sum(dst, cur, outer, groups[r].size, inner)
		cur = dst
		groups = append(groups[:r], groups[r+1:]...)
	}
	return cur
}

// sumTo sums a gradient g of a broadcast result back to the shape of the operand that was
// stretched to produce it. g's shape must be a broadcast of shape.
func sumTo(g *Tensor, shape []int) *Tensor {
	if slices.Equal(g.shape, shape) {
		return g
	}
	n := len(g.shape)
	if len(shape) > n {
		panic(fmt.Sprintf("tensor: cannot sum gradient of shape %v back to %v", g.shape, shape))
	}
	p := padLeft(shape, n)
	reduce := make([]bool, n)
	for i, d := range g.shape {
		switch {
		case p[i] == d:
		case p[i] == 1:
			reduce[i] = true
		default:
			panic(fmt.Sprintf("tensor: cannot sum gradient of shape %v back to %v", g.shape, shape))
		}
	}
	return FromStorage(sumAxes(g.data, g.shape, reduce), shape...)
}
