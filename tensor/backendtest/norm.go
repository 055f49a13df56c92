package backendtest

import (
	"fmt"
	"math"

	"github.com/flowtune/flowtune/tensor"
)

// Softmax, LayerNorm and RMSNorm over the last axis, forward and backward. The float64
// backward formulas are first checked against finite differences of the float64 forward on a
// small case; then they judge the backend on every size.

var normShapes = [][2]int{{1, 1}, {3, 31}, {33, 257}, {5, 1025}, {257, 33}, {300, 257}}

// normScale is the spread of the norm inputs for a shape: rows of [3,31] are tiny, so that eps
// weighs as much as the variance.
func normScale(cols int) float64 {
	if cols == 31 {
		return 1e-3
	}
	return 2
}

// ---- Softmax ----------------------------------------------------------------------------------

func softmaxRef(x []float64, rows, cols int) []float64 {
	y := make([]float64, len(x))
	for r := 0; r < rows; r++ {
		in, out := x[r*cols:(r+1)*cols], y[r*cols:(r+1)*cols]
		m := math.Inf(-1)
		for _, v := range in {
			m = math.Max(m, v)
		}
		z := 0.0
		for j, v := range in {
			out[j] = math.Exp(v - m)
			z += out[j]
		}
		for j := range out {
			out[j] /= z
		}
	}
	return y
}

// softmaxBackwardRef: dx = y ⊙ (dy − Σ y·dy), row by row; mag is the size of the terms of
// each dx (for the tolerance).
func softmaxBackwardRef(y, dy []float64, rows, cols int) (dx, mag []float64) {
	dx, mag = make([]float64, len(y)), make([]float64, len(y))
	for r := 0; r < rows; r++ {
		dot, absDot := 0.0, 0.0
		for j := r * cols; j < (r+1)*cols; j++ {
			dot += y[j] * dy[j]
			absDot += math.Abs(y[j] * dy[j])
		}
		for j := r * cols; j < (r+1)*cols; j++ {
			dx[j] = y[j] * (dy[j] - dot)
			mag[j] = math.Abs(y[j]) * (math.Abs(dy[j]) + absDot)
		}
	}
	return dx, mag
}

// dotWith returns f(x) = Σ dy·g(x): the scalar whose gradient is the backward of g under dy.
func dotWith(dy []float64, g func(x []float64) []float64) func(x []float64) float64 {
	return func(x []float64) float64 {
		y, sum := g(x), 0.0
		for i := range y {
			sum += dy[i] * y[i]
		}
		return sum
	}
}

func testSoftmax(s *suite) {
	s.sub("reference-vs-FD", func(s *suite) {
		rows, cols := 2, 5
		x, dy := f64(s.normal(rows*cols, 2)), f64(s.normal(rows*cols, 1))
		dx, _ := softmaxBackwardRef(softmaxRef(x, rows, cols), dy, rows, cols)
		s.checkFD("softmax backward", dotWith(dy, func(x []float64) []float64 { return softmaxRef(x, rows, cols) }), x, dx)
	})
	for _, sh := range normShapes {
		rows, cols := sh[0], sh[1]
		for _, shift := range []float64{0, 1000, -1000} {
			s.sub(fmt.Sprintf("[%d,%d]/shift=%g", rows, cols, shift), func(s *suite) {
				// A shift of ±1000 overflows or underflows exp unless the row maximum is
				// subtracted first.
				x := s.normal(rows*cols, 3)
				for i := range x {
					x[i] += float32(shift)
				}
				ref := softmaxRef(f64(x), rows, cols)
				y := s.poisoned(rows * cols)
				s.b.Softmax(y, s.put(x), rows, cols)
				got := s.get(y)
				s.near("Softmax", got, ref, 1e-7*s.opt.Tol, 1e-5*s.opt.Tol)

				// Backward from the backend's own y, as the autograd tape will call it.
				dy := s.normal(rows*cols, 1)
				dref, mag := softmaxBackwardRef(f64(got), f64(dy), rows, cols)
				dx := s.poisoned(rows * cols)
				s.b.SoftmaxBackward(dx, y, s.put(dy), rows, cols)
				// The row dot product may be added in float32: room grows with √cols.
				tol := s.opt.Tol * (1e-6 + 1e-7*math.Sqrt(float64(cols)))
				s.within("SoftmaxBackward", s.get(dx), dref, func(i int) float64 { return tol * mag[i] })
			})
		}
	}
}

// ---- LayerNorm ---------------------------------------------------------------------------------

// layerNormRef returns y, the row means and the row rstd = 1/√(var + eps) (two-pass variance).
func layerNormRef(x, w, b []float64, rows, cols int, eps float64) (y, mean, rstd []float64) {
	y, mean, rstd = make([]float64, len(x)), make([]float64, rows), make([]float64, rows)
	for r := 0; r < rows; r++ {
		in := x[r*cols : (r+1)*cols]
		mu := 0.0
		for _, v := range in {
			mu += v
		}
		mu /= float64(cols)
		vr := 0.0
		for _, v := range in {
			vr += (v - mu) * (v - mu)
		}
		rs := 1 / math.Sqrt(vr/float64(cols)+eps)
		mean[r], rstd[r] = mu, rs
		for j, v := range in {
			h := (v - mu) * rs
			if w != nil {
				h = h*w[j] + b[j]
			}
			y[r*cols+j] = h
		}
	}
	return y, mean, rstd
}

// layerNormBackwardRef returns dx, dw, db (dw and db nil without affine) and, per element of
// dx, the magnitude of the terms it was computed from (for the tolerance).
func layerNormBackwardRef(x, w, dy, mean, rstd []float64, rows, cols int) (dx, dw, db, mag []float64) {
	dx, mag = make([]float64, len(x)), make([]float64, len(x))
	if w != nil {
		dw, db = make([]float64, cols), make([]float64, cols)
	}
	for r := 0; r < rows; r++ {
		g, xh := make([]float64, cols), make([]float64, cols)
		mg, mgx := 0.0, 0.0
		for j := 0; j < cols; j++ {
			i := r*cols + j
			xh[j] = (x[i] - mean[r]) * rstd[r]
			g[j] = dy[i]
			if w != nil {
				dw[j] += dy[i] * xh[j]
				db[j] += dy[i]
				g[j] *= w[j]
			}
			mg += g[j] / float64(cols)
			mgx += g[j] * xh[j] / float64(cols)
		}
		for j := 0; j < cols; j++ {
			dx[r*cols+j] = rstd[r] * (g[j] - mg - xh[j]*mgx)
			mag[r*cols+j] = rstd[r] * (math.Abs(g[j]) + math.Abs(mg) + math.Abs(xh[j]*mgx))
		}
	}
	return dx, dw, db, mag
}

func testLayerNorm(s *suite) {
	const eps = 1e-5
	s.sub("reference-vs-FD", func(s *suite) {
		rows, cols := 2, 6
		x, w, b := f64(s.normal(rows*cols, 2)), f64(s.normal(cols, 1)), f64(s.normal(cols, 1))
		dy := f64(s.normal(rows*cols, 1))
		_, mean, rstd := layerNormRef(x, w, b, rows, cols, eps)
		dx, dw, db, _ := layerNormBackwardRef(x, w, dy, mean, rstd, rows, cols)
		// One vector holding x, w and b, so one FD pass checks all three gradients.
		all := append(append(append([]float64(nil), x...), w...), b...)
		grad := append(append(append([]float64(nil), dx...), dw...), db...)
		s.checkFD("layernorm backward", dotWith(dy, func(v []float64) []float64 {
			y, _, _ := layerNormRef(v[:rows*cols], v[rows*cols:rows*cols+cols], v[rows*cols+cols:], rows, cols, eps)
			return y
		}), all, grad)
	})
	for _, sh := range normShapes {
		rows, cols := sh[0], sh[1]
		for _, affine := range []bool{true, false} {
			s.sub(fmt.Sprintf("[%d,%d]/affine=%v", rows, cols, affine), func(s *suite) {
				x := s.normal(rows*cols, normScale(cols))
				for i := range x {
					x[i] += 5 * float32(normScale(cols)) // an offset mean: a one-pass E[x²]−E[x]² loses digits here
				}
				var w, b []float32
				var w64, b64 []float64
				if affine {
					w, b = s.normal(cols, 1), s.normal(cols, 1)
					w64, b64 = f64(w), f64(b)
				}
				yRef, meanRef, rstdRef := layerNormRef(f64(x), w64, b64, rows, cols, eps)

				xs := s.put(x)
				ws, bs := s.optional(w), s.optional(b)
				y, mean, rstd := s.poisoned(rows*cols), s.poisoned(rows), s.poisoned(rows)
				s.b.LayerNorm(y, mean, rstd, xs, ws, bs, rows, cols, eps)
				tol := s.opt.Tol
				s.near("LayerNorm mean", s.get(mean), meanRef, 1e-6*tol*maxAbs(meanRef), 1e-6*tol)
				s.near("LayerNorm rstd", s.get(rstd), rstdRef, 0, 1e-5*tol)
				s.near("LayerNorm y", s.get(y), yRef, 1e-5*tol, 1e-5*tol)

				// Backward, from the backend's saved statistics; dw and db accumulate onto
				// what they already hold.
				dy := s.normal(rows*cols, 1)
				dxRef, dwRef, dbRef, mag := layerNormBackwardRef(f64(x), w64, f64(dy), f64(s.get(mean)), f64(s.get(rstd)), rows, cols)
				dx := s.poisoned(rows * cols)
				var dw0, db0 []float32
				if affine {
					dw0, db0 = s.normal(cols, 1), s.normal(cols, 1)
				}
				dws, dbs := s.optional(dw0), s.optional(db0)
				s.b.LayerNormBackward(dx, dws, dbs, s.put(dy), xs, mean, rstd, ws, rows, cols)
				s.within("LayerNormBackward dx", s.get(dx), dxRef, func(i int) float64 { return 1e-5 * tol * mag[i] })
				if affine {
					s.checkAccumulated("LayerNormBackward dw", s.get(dws), dw0, dwRef, rows)
					s.checkAccumulated("LayerNormBackward db", s.get(dbs), db0, dbRef, rows)
				}
			})
		}
	}
}

// optional uploads v, or returns a nil Storage for a nil slice.
func (s *suite) optional(v []float32) tensor.Storage {
	if v == nil {
		return nil
	}
	return s.put(v)
}

// checkAccumulated checks got = initial + sum, where sum adds up terms over rows: the
// tolerance grows with the number of rows added.
func (s *suite) checkAccumulated(what string, got, initial []float32, sum []float64, rows int) {
	s.t.Helper()
	ref := make([]float64, len(sum))
	for i := range ref {
		ref[i] = float64(initial[i]) + sum[i]
	}
	scale := maxAbs(ref)
	s.near(what, got, ref, 1e-6*s.opt.Tol*math.Sqrt(float64(rows))*scale, 1e-5*s.opt.Tol)
}

// ---- RMSNorm -----------------------------------------------------------------------------------

func rmsNormRef(x, w []float64, rows, cols int, eps float64) (y, rstd []float64) {
	y, rstd = make([]float64, len(x)), make([]float64, rows)
	for r := 0; r < rows; r++ {
		ms := 0.0
		for _, v := range x[r*cols : (r+1)*cols] {
			ms += v * v
		}
		rs := 1 / math.Sqrt(ms/float64(cols)+eps)
		rstd[r] = rs
		for j := 0; j < cols; j++ {
			h := x[r*cols+j] * rs
			if w != nil {
				h *= w[j]
			}
			y[r*cols+j] = h
		}
	}
	return y, rstd
}

// rmsNormBackwardRef: dx = rstd·(g − x̂·mean(g·x̂)) with x̂ = x·rstd, g = dy·w; dw = Σ dy·x̂.
func rmsNormBackwardRef(x, w, dy, rstd []float64, rows, cols int) (dx, dw, mag []float64) {
	dx, mag = make([]float64, len(x)), make([]float64, len(x))
	if w != nil {
		dw = make([]float64, cols)
	}
	for r := 0; r < rows; r++ {
		mgx := 0.0
		g := make([]float64, cols)
		for j := 0; j < cols; j++ {
			i := r*cols + j
			xh := x[i] * rstd[r]
			g[j] = dy[i]
			if w != nil {
				dw[j] += dy[i] * xh
				g[j] *= w[j]
			}
			mgx += g[j] * xh / float64(cols)
		}
		for j := 0; j < cols; j++ {
			xh := x[r*cols+j] * rstd[r]
			dx[r*cols+j] = rstd[r] * (g[j] - xh*mgx)
			mag[r*cols+j] = rstd[r] * (math.Abs(g[j]) + math.Abs(xh*mgx))
		}
	}
	return dx, dw, mag
}

func testRMSNorm(s *suite) {
	const eps = 1e-6
	s.sub("reference-vs-FD", func(s *suite) {
		rows, cols := 2, 6
		x, w, dy := f64(s.normal(rows*cols, 2)), f64(s.normal(cols, 1)), f64(s.normal(rows*cols, 1))
		_, rstd := rmsNormRef(x, w, rows, cols, eps)
		dx, dw, _ := rmsNormBackwardRef(x, w, dy, rstd, rows, cols)
		s.checkFD("rmsnorm backward", dotWith(dy, func(v []float64) []float64 {
			y, _ := rmsNormRef(v[:rows*cols], v[rows*cols:], rows, cols, eps)
			return y
		}), append(append([]float64(nil), x...), w...), append(append([]float64(nil), dx...), dw...))
	})
	for _, sh := range normShapes {
		rows, cols := sh[0], sh[1]
		for _, affine := range []bool{true, false} {
			s.sub(fmt.Sprintf("[%d,%d]/affine=%v", rows, cols, affine), func(s *suite) {
				x := s.normal(rows*cols, normScale(cols))
				var w []float32
				var w64 []float64
				if affine {
					w = s.normal(cols, 1)
					w64 = f64(w)
				}
				yRef, rstdRef := rmsNormRef(f64(x), w64, rows, cols, eps)
				xs, ws := s.put(x), s.optional(w)
				y, rstd := s.poisoned(rows*cols), s.poisoned(rows)
				s.b.RMSNorm(y, rstd, xs, ws, rows, cols, eps)
				tol := s.opt.Tol
				s.near("RMSNorm rstd", s.get(rstd), rstdRef, 0, 1e-5*tol)
				s.near("RMSNorm y", s.get(y), yRef, 1e-6*tol, 1e-5*tol)

				dy := s.normal(rows*cols, 1)
				dxRef, dwRef, mag := rmsNormBackwardRef(f64(x), w64, f64(dy), f64(s.get(rstd)), rows, cols)
				dx := s.poisoned(rows * cols)
				var dw0 []float32
				if affine {
					dw0 = s.normal(cols, 1)
				}
				dws := s.optional(dw0)
				s.b.RMSNormBackward(dx, dws, s.put(dy), xs, rstd, ws, rows, cols)
				s.within("RMSNormBackward dx", s.get(dx), dxRef, func(i int) float64 { return 1e-5 * tol * mag[i] })
				if affine {
					s.checkAccumulated("RMSNormBackward dw", s.get(dws), dw0, dwRef, rows)
				}
			})
		}
	}
}
