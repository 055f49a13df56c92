package diffusion

// Small dense linear algebra for the Gaussian-mixture testbed: symmetric positive definite
// D×D matrices (D is tiny, 1–4 in practice), row-major []float64.

import "math"

// cholesky returns the lower-triangular L with L·Lᵀ = a, or ok = false when a is not
// (numerically) positive definite.
func cholesky(a []float64, n int) (l []float64, ok bool) {
	l = make([]float64, n*n)
	for i := 0; i < n; i++ {
		for j := 0; j <= i; j++ {
			s := a[i*n+j]
			for k := 0; k < j; k++ {
				s -= l[i*n+k] * l[j*n+k]
			}
			if i == j {
				if !(s > 0) {
					return nil, false
				}
				l[i*n+i] = math.Sqrt(s)
			} else {
				l[i*n+j] = s / l[j*n+j]
			}
		}
	}
	return l, true
}

// cholLogDet is log|a| from a's Cholesky factor.
func cholLogDet(l []float64, n int) float64 {
	s := 0.0
	for i := 0; i < n; i++ {
		s += math.Log(l[i*n+i])
	}
	return 2 * s
}

// cholSolve solves a·x = b given a's Cholesky factor (forward then back substitution).
func cholSolve(l []float64, n int, b []float64) []float64 {
	x := append([]float64(nil), b...)
	for i := 0; i < n; i++ {
		for k := 0; k < i; k++ {
			x[i] -= l[i*n+k] * x[k]
		}
		x[i] /= l[i*n+i]
	}
	for i := n - 1; i >= 0; i-- {
		for k := i + 1; k < n; k++ {
			x[i] -= l[k*n+i] * x[k]
		}
		x[i] /= l[i*n+i]
	}
	return x
}

// cholInverse returns a⁻¹ from a's Cholesky factor, symmetrised.
func cholInverse(l []float64, n int) []float64 {
	inv := make([]float64, n*n)
	e := make([]float64, n)
	for j := 0; j < n; j++ {
		clear(e)
		e[j] = 1
		col := cholSolve(l, n, e)
		for i := 0; i < n; i++ {
			inv[i*n+j] = col[i]
		}
	}
	for i := 0; i < n; i++ {
		for j := 0; j < i; j++ {
			m := 0.5 * (inv[i*n+j] + inv[j*n+i])
			inv[i*n+j], inv[j*n+i] = m, m
		}
	}
	return inv
}

// linMatVec writes dst = a·x for a D×D matrix a.
func linMatVec(dst, a []float64, n int, x []float64) {
	for i := 0; i < n; i++ {
		s := 0.0
		row := a[i*n : i*n+n]
		for j, v := range row {
			s += v * x[j]
		}
		dst[i] = s
	}
}

// linMatMul returns a·b for D×D matrices.
func linMatMul(a, b []float64, n int) []float64 {
	c := make([]float64, n*n)
	for i := 0; i < n; i++ {
		for k := 0; k < n; k++ {
			aik := a[i*n+k]
			for j := 0; j < n; j++ {
				c[i*n+j] += aik * b[k*n+j]
			}
		}
	}
	return c
}

func linDot(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}
