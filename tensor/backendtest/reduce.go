package backendtest

import (
	"fmt"
	"math"
)

// Reductions: Sum over the middle axis of [outer, n, inner], and SumSquares. A backend may add
// in any order, so the tolerance is relative to the sum of magnitudes, growing like √n.

func testSum(s *suite) {
	shapes := [][3]int{
		{1, 1, 1}, {3, 31, 1}, {1, 257, 33}, {5, 33, 257}, {2, 1025, 3}, {7, 3, 300},
		{1, 100003, 1}, {300, 1025, 1}, {1, 1025, 1025}, {4, 1, 31},
	}
	for _, sh := range shapes {
		outer, n, inner := sh[0], sh[1], sh[2]
		s.sub(fmt.Sprintf("[%d,%d,%d]", outer, n, inner), func(s *suite) {
			x := s.normal(outer*n*inner, 1)
			ref, mag := make([]float64, outer*inner), make([]float64, outer*inner)
			for o := 0; o < outer; o++ {
				for j := 0; j < n; j++ {
					for i := 0; i < inner; i++ {
						v := float64(x[(o*n+j)*inner+i])
						ref[o*inner+i] += v
						mag[o*inner+i] += math.Abs(v)
					}
				}
			}
			dst := s.poisoned(outer * inner)
			s.b.Sum(dst, s.put(x), outer, n, inner)
			s.within("Sum", s.get(dst), ref, func(i int) float64 {
				return 2e-7*s.opt.Tol*math.Sqrt(float64(n))*mag[i] + 1e-7*math.Abs(ref[i])
			})
		})
	}
}

func testSumSquares(s *suite) {
	for _, n := range append(sizes, 1<<20+3) {
		s.sub(fmt.Sprintf("n=%d", n), func(s *suite) {
			x := s.normal(n, 2)
			ref := 0.0
			for _, v := range x {
				ref += float64(v) * float64(v)
			}
			got := s.b.SumSquares(s.put(x))
			// The contract asks for float64 accumulation: far tighter than a float32 sum, though
			// each square may be rounded to float32 first.
			s.scalarNear("SumSquares", got, ref, 0, s.opt.Tol*(1e-7+1e-9*math.Sqrt(float64(n))))
		})
	}
}
