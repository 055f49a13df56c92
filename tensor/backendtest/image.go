package backendtest

import (
	"fmt"
	"math"

	"github.com/flowtune/flowtune/tensor"
)

// GroupNorm, Im2Col and Col2Im: the image primitives behind convolutions. GroupNorm follows the
// LayerNorm tests (reference checked by finite differences, then every size); Im2Col only
// copies, so it must match bit for bit; Col2Im adds at most KH·KW terms per pixel.

type gnCase struct{ n, c, hw, groups int }

var gnCases = []gnCase{{1, 1, 1, 1}, {2, 6, 31, 3}, {3, 64, 33, 32}, {1, 32, 1025, 32}, {2, 4, 257, 1}, {5, 8, 7, 8}}

// groupNormRef returns y, mean and rstd ([n·groups]) in float64; w, b may be nil.
func groupNormRef(x, w, b []float64, a tensor.GroupNormArgs) (y, mean, rstd []float64) {
	L, cpg := a.RowLen(), a.C/a.Groups
	y, mean, rstd = make([]float64, len(x)), make([]float64, a.Rows()), make([]float64, a.Rows())
	for r := 0; r < a.Rows(); r++ {
		row := x[r*L : (r+1)*L]
		mu, v := 0.0, 0.0
		for _, e := range row {
			mu += e
		}
		mu /= float64(L)
		for _, e := range row {
			v += (e - mu) * (e - mu)
		}
		mean[r], rstd[r] = mu, 1/math.Sqrt(v/float64(L)+float64(a.Eps))
		for j, e := range row {
			h := (e - mu) * rstd[r]
			if c := (r%a.Groups)*cpg + j/a.HW; w != nil {
				h = h*w[c] + b[c]
			}
			y[r*L+j] = h
		}
	}
	return y, mean, rstd
}

// groupNormBackwardRef returns dx (with the size of its terms, for the tolerance) and, with
// w, the sums dw and db over images and pixels.
func groupNormBackwardRef(x, w, dy, mean, rstd []float64, a tensor.GroupNormArgs) (dx, dw, db, mag []float64) {
	L, cpg := a.RowLen(), a.C/a.Groups
	dx, mag = make([]float64, len(x)), make([]float64, len(x))
	if w != nil {
		dw, db = make([]float64, a.C), make([]float64, a.C)
	}
	for r := 0; r < a.Rows(); r++ {
		g, xh := make([]float64, L), make([]float64, L)
		mg, mgx := 0.0, 0.0
		for j := 0; j < L; j++ {
			i, c := r*L+j, (r%a.Groups)*cpg+j/a.HW
			xh[j], g[j] = (x[i]-mean[r])*rstd[r], dy[i]
			if w != nil {
				dw[c] += dy[i] * xh[j]
				db[c] += dy[i]
				g[j] *= w[c]
			}
			mg += g[j] / float64(L)
			mgx += g[j] * xh[j] / float64(L)
		}
		for j := 0; j < L; j++ {
			dx[r*L+j] = rstd[r] * (g[j] - mg - xh[j]*mgx)
			mag[r*L+j] = rstd[r] * (math.Abs(g[j]) + math.Abs(mg) + math.Abs(xh[j]*mgx))
		}
	}
	return dx, dw, db, mag
}

func testGroupNorm(s *suite) {
	const eps = 1e-6
	s.sub("reference-vs-FD", func(s *suite) {
		a := tensor.GroupNormArgs{N: 2, C: 4, HW: 3, Groups: 2, Eps: eps}
		n := a.N * a.C * a.HW
		x, w, b := f64(s.normal(n, 2)), f64(s.normal(a.C, 1)), f64(s.normal(a.C, 1))
		dy := f64(s.normal(n, 1))
		_, mean, rstd := groupNormRef(x, w, b, a)
		dx, dw, db, _ := groupNormBackwardRef(x, w, dy, mean, rstd, a)
		all := append(append(append([]float64(nil), x...), w...), b...)
		grad := append(append(append([]float64(nil), dx...), dw...), db...)
		s.checkFD("groupnorm backward", dotWith(dy, func(v []float64) []float64 {
			y, _, _ := groupNormRef(v[:n], v[n:n+a.C], v[n+a.C:], a)
			return y
		}), all, grad)
	})
	for _, c := range gnCases {
		for _, affine := range []bool{true, false} {
			s.sub(fmt.Sprintf("[%d,%d,%d]/groups=%d/affine=%v", c.n, c.c, c.hw, c.groups, affine), func(s *suite) {
				a := tensor.GroupNormArgs{N: c.n, C: c.c, HW: c.hw, Groups: c.groups, Eps: eps}
				n := c.n * c.c * c.hw
				x := s.normal(n, 2)
				for i := range x {
					x[i] += 10 // an offset mean: a one-pass E[x²]−E[x]² loses digits here
				}
				var w, b []float32
				var w64, b64 []float64
				if affine {
					w, b = s.normal(c.c, 1), s.normal(c.c, 1)
					w64, b64 = f64(w), f64(b)
				}
				yRef, meanRef, rstdRef := groupNormRef(f64(x), w64, b64, a)
				xs, ws, bs := s.put(x), s.optional(w), s.optional(b)
				y, mean, rstd := s.poisoned(n), s.poisoned(a.Rows()), s.poisoned(a.Rows())
				s.b.GroupNorm(y, mean, rstd, xs, ws, bs, a)
				tol := s.opt.Tol
				s.near("GroupNorm mean", s.get(mean), meanRef, 1e-6*tol*maxAbs(meanRef), 1e-6*tol)
				s.near("GroupNorm rstd", s.get(rstd), rstdRef, 0, 1e-5*tol)
				s.near("GroupNorm y", s.get(y), yRef, 1e-5*tol, 1e-5*tol)

				dy := s.normal(n, 1)
				dxRef, dwRef, dbRef, mag := groupNormBackwardRef(f64(x), w64, f64(dy), f64(s.get(mean)), f64(s.get(rstd)), a)
				dx := s.poisoned(n)
				var dw0, db0 []float32
				if affine {
					dw0, db0 = s.normal(c.c, 1), s.normal(c.c, 1)
				}
				dws, dbs := s.optional(dw0), s.optional(db0)
				s.b.GroupNormBackward(dx, dws, dbs, s.put(dy), xs, mean, rstd, ws, a)
				s.within("GroupNormBackward dx", s.get(dx), dxRef, func(i int) float64 { return 1e-5 * tol * mag[i] })
				if affine {
					s.checkAccumulated("GroupNormBackward dw", s.get(dws), dw0, dwRef, c.n*c.hw)
					s.checkAccumulated("GroupNormBackward db", s.get(dbs), db0, dbRef, c.n*c.hw)
				}
			})
		}
	}
}

// convCases: batch, channels, height, width, kernel, stride, padding.
var convCases = []struct{ b, c, h, w, k, stride, pad int }{
	{1, 1, 1, 1, 1, 1, 0}, {2, 3, 7, 5, 3, 1, 1}, {1, 2, 33, 31, 3, 2, 1}, {3, 5, 9, 9, 3, 1, 0},
	{2, 4, 6, 10, 1, 1, 0}, {1, 3, 17, 17, 4, 2, 2}, {1, 2, 3, 3, 3, 1, 2},
}

func convArgs(b, c, h, w, k, stride, pad int) tensor.ConvArgs {
	return tensor.ConvArgs{Batch: b, C: c, H: h, W: w, KH: k, KW: k, Stride: stride, Pad: pad,
		OH: tensor.ConvOut(h, k, stride, pad), OW: tensor.ConvOut(w, k, stride, pad)}
}

// im2colRef returns the column matrix and, per column entry, the x index it copies (−1 for
// padding).
func im2colRef(x []float32, a tensor.ConvArgs) (col []float32, src []int) {
	K, P := a.ColRows(), a.ColCols()
	col, src = make([]float32, a.Batch*K*P), make([]int, a.Batch*K*P)
	for n := 0; n < a.Batch; n++ {
		for c := 0; c < a.C; c++ {
			for i := 0; i < a.KH; i++ {
				for j := 0; j < a.KW; j++ {
					for oh := 0; oh < a.OH; oh++ {
						for ow := 0; ow < a.OW; ow++ {
							e := ((n*K+(c*a.KH+i)*a.KW+j)*a.OH+oh)*a.OW + ow
							h, w := oh*a.Stride-a.Pad+i, ow*a.Stride-a.Pad+j
							src[e] = -1
							if h >= 0 && h < a.H && w >= 0 && w < a.W {
								src[e] = ((n*a.C+c)*a.H+h)*a.W + w
								col[e] = x[src[e]]
							}
						}
					}
				}
			}
		}
	}
	return col, src
}

func testIm2Col(s *suite) {
	for _, c := range convCases {
		s.sub(fmt.Sprintf("[%d,%d,%d,%d]/k=%d/s=%d/p=%d", c.b, c.c, c.h, c.w, c.k, c.stride, c.pad), func(s *suite) {
			a := convArgs(c.b, c.c, c.h, c.w, c.k, c.stride, c.pad)
			img := c.c * c.h * c.w
			// Two spare images before the batch, so the offset is exercised.
			x := s.normal((c.b+2)*img, 1)
			want, _ := im2colRef(x[2*img:], a)
			col := s.poisoned(len(want))
			s.b.Im2Col(col, s.put(x), 2*img, a)
			s.exact("Im2Col", s.get(col), want)
		})
	}
}

func testCol2Im(s *suite) {
	for _, c := range convCases {
		s.sub(fmt.Sprintf("[%d,%d,%d,%d]/k=%d/s=%d/p=%d", c.b, c.c, c.h, c.w, c.k, c.stride, c.pad), func(s *suite) {
			a := convArgs(c.b, c.c, c.h, c.w, c.k, c.stride, c.pad)
			img := c.c * c.h * c.w
			_, src := im2colRef(make([]float32, c.b*img), a)
			col := s.normal(len(src), 1)
			ref, mag := make([]float64, (c.b+1)*img), make([]float64, (c.b+1)*img)
			for e, i := range src {
				if i >= 0 {
					ref[img+i] += float64(col[e])
					mag[img+i] += math.Abs(float64(col[e]))
				}
			}
			// One image before the batch must stay untouched (zero, as Alloc leaves it).
			dx := s.b.Alloc((c.b+1)*img, tensor.Float32)
			s.b.Col2Im(dx, img, s.put(col), a)
			s.within("Col2Im", s.get(dx), ref, func(i int) float64 { return 1e-6 * s.opt.Tol * mag[i] })
		})
	}
}
