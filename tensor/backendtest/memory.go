package backendtest

import (
	"fmt"
	"math"

	"github.com/flowtune/flowtune/tensor"
)

// Memory primitives move bits, so they must be exact: Upload/Download round trips, Fill,
// Copy, CopyBlocks (elements outside the blocks untouched) and Permute.

// sizes are the awkward lengths every elementwise test runs on; the largest crosses the
// chunking thresholds of a parallel implementation.
var sizes = []int{1, 3, 31, 33, 257, 1025, 100003}

func testMemory(s *suite) {
	s.sub("Alloc/zeroed", func(s *suite) {
		for _, n := range []int{1, 33, 1025} {
			s.exact(fmt.Sprintf("Alloc(%d)", n), s.get(s.b.Alloc(n, tensor.Float32)), make([]float32, n))
		}
	})
	s.sub("UploadDownload/special", func(s *suite) {
		v := []float32{0, float32(math.Copysign(0, -1)), 1, -1, float32(math.Inf(1)), float32(math.Inf(-1)),
			float32(math.NaN()), math.MaxFloat32, math.SmallestNonzeroFloat32, 1e-40, 3.14159}
		s.exact("round trip", s.get(s.put(v)), v)
	})
	for _, n := range sizes {
		s.sub(fmt.Sprintf("UploadDownload/n=%d", n), func(s *suite) {
			v := s.normal(n, 1)
			s.exact("round trip", s.get(s.put(v)), v)
		})
		s.sub(fmt.Sprintf("Fill/n=%d", n), func(s *suite) {
			st := s.put(s.normal(n, 1))
			s.b.Fill(st, -2.5)
			want := make([]float32, n)
			for i := range want {
				want[i] = -2.5
			}
			s.exact("Fill", s.get(st), want)
		})
	}
	s.sub("Copy", func(s *suite) {
		for _, c := range []struct{ nDst, dOff, nSrc, sOff, n int }{
			{1, 0, 1, 0, 1}, {40, 3, 33, 2, 31}, {2100, 999, 1500, 1, 1025}, {10, 4, 10, 4, 0},
		} {
			src, dst := s.normal(c.nSrc, 1), s.normal(c.nDst, 1)
			d := s.put(dst)
			s.b.Copy(d, c.dOff, s.put(src), c.sOff, c.n)
			want := append([]float32(nil), dst...)
			copy(want[c.dOff:c.dOff+c.n], src[c.sOff:c.sOff+c.n])
			s.exact(fmt.Sprintf("Copy %+v", c), s.get(d), want)
		}
	})
	s.sub("CopyBlocks", func(s *suite) {
		for _, c := range []struct{ dOff, dStride, sOff, sStride, rows, cols int }{
			{0, 1, 0, 1, 1, 1},
			{2, 40, 5, 33, 3, 31},        // rows of 31 from a [*,33] source into a [*,40] destination
			{7, 257, 0, 300, 33, 257},    // full-width destination rows
			{1, 3, 2, 1025, 257, 3},      // narrow columns of a wide source
			{0, 1100, 3, 1025, 40, 1025}, // wide rows, parallel in a chunked implementation
		} {
			nSrc := c.sOff + (c.rows-1)*c.sStride + c.cols
			nDst := c.dOff + (c.rows-1)*c.dStride + c.cols + 5
			src, dst := s.normal(nSrc, 1), s.normal(nDst, 1)
			d := s.put(dst)
			s.b.CopyBlocks(d, c.dOff, c.dStride, s.put(src), c.sOff, c.sStride, c.rows, c.cols)
			want := append([]float32(nil), dst...)
			for r := 0; r < c.rows; r++ {
				for j := 0; j < c.cols; j++ {
					want[c.dOff+r*c.dStride+j] = src[c.sOff+r*c.sStride+j]
				}
			}
			s.exact(fmt.Sprintf("CopyBlocks %+v", c), s.get(d), want)
		}
	})
}

func testPermute(s *suite) {
	cases := []struct{ shape, perm []int }{
		{[]int{1}, []int{0}},
		{[]int{31}, []int{0}},
		{[]int{3, 5}, []int{1, 0}},
		{[]int{33, 257}, []int{1, 0}},
		{[]int{2, 3, 4}, []int{2, 0, 1}},
		{[]int{4, 31, 33}, []int{0, 2, 1}},
		{[]int{2, 33, 3, 17}, []int{0, 2, 1, 3}}, // [B,L,H,Dh] → [B,H,L,Dh]
		{[]int{2, 3, 5, 1, 4}, []int{4, 1, 3, 0, 2}},
		{[]int{2, 1, 3, 5, 1, 4}, []int{5, 3, 0, 2, 4, 1}},
		{[]int{3, 64, 65}, []int{2, 1, 0}},
	}
	for _, c := range cases {
		s.sub(fmt.Sprintf("shape=%v/perm=%v", c.shape, c.perm), func(s *suite) {
			n := 1
			for _, d := range c.shape {
				n *= d
			}
			src := s.normal(n, 1)
			dst := s.poisoned(n)
			s.b.Permute(dst, s.put(src), c.shape, c.perm)
			s.exact("Permute", s.get(dst), permuteRef(src, c.shape, c.perm))
		})
	}
}

// permuteRef walks the source index space and writes each element to its permuted place.
func permuteRef(src []float32, shape, perm []int) []float32 {
	nd := len(shape)
	dShape := make([]int, nd)
	for i := range perm {
		dShape[i] = shape[perm[i]]
	}
	dStride := make([]int, nd)
	acc := 1
	for i := nd - 1; i >= 0; i-- {
		dStride[i] = acc
		acc *= dShape[i]
	}
	out := make([]float32, len(src))
	idx := make([]int, nd) // multi-index into src
	for lin := range src {
		rem := lin
		for ax := nd - 1; ax >= 0; ax-- {
			idx[ax] = rem % shape[ax]
			rem /= shape[ax]
		}
		off := 0
		for i := range perm {
			off += idx[perm[i]] * dStride[i]
		}
		out[off] = src[lin]
	}
	return out
}
