package tensor

import "math"

// GroupNorm, Im2Col and Col2Im on the CPU: the image primitives behind convolutions and the
// VAE. Statistics accumulate in float64 like the other norms; every output element is written
// by exactly one goroutine, so the results do not depend on the number of cores.

func (cpuBackend) GroupNorm(y, mean, rstd, x, w, b Storage, a GroupNormArgs) {
	ys, ms, rs, xs := cpuData(y), cpuData(mean), cpuData(rstd), cpuData(x)
	ws, bs := cpuDataOrNil(w), cpuDataOrNil(b)
	L, cpg := a.RowLen(), a.C/a.Groups
	parallelFor(a.Rows(), rowGrain(L)/2, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			in, out := xs[r*L:(r+1)*L], ys[r*L:(r+1)*L]
			var s float64
			for _, v := range in {
				s += float64(v)
			}
			mu := s / float64(L)
			var ss float64
			for _, v := range in {
				d := float64(v) - mu
				ss += d * d
			}
			rs64 := 1 / math.Sqrt(ss/float64(L)+float64(a.Eps))
			ms[r], rs[r] = float32(mu), float32(rs64)
			c0 := (r % a.Groups) * cpg
			for k := 0; k < cpg; k++ {
				scale, shift := rs64, -mu*rs64
				if ws != nil {
					scale *= float64(ws[c0+k])
					shift *= float64(ws[c0+k])
				}
				if bs != nil {
					shift += float64(bs[c0+k])
				}
				seg := in[k*a.HW : (k+1)*a.HW]
				dst := out[k*a.HW : (k+1)*a.HW]
				for j, v := range seg {
					dst[j] = float32(float64(v)*scale + shift)
				}
			}
		}
	})
}

// GroupNormBackward, with x̂ = (x−μ)·rstd over a group row and g = dy·w[c]:
//
//	dx = rstd · (g − mean(g) − x̂ · mean(g·x̂)),  dw[c] += Σ_{n,hw} dy·x̂,  db[c] += Σ_{n,hw} dy.
func (cpuBackend) GroupNormBackward(dx, dw, db, dy, x, mean, rstd, w Storage, a GroupNormArgs) {
	dxs, dys, xs, ms, rs := cpuData(dx), cpuData(dy), cpuData(x), cpuData(mean), cpuData(rstd)
	dws, dbs, ws := cpuDataOrNil(dw), cpuDataOrNil(db), cpuDataOrNil(w)
	L, cpg, HW := a.RowLen(), a.C/a.Groups, a.HW
	parallelFor(a.Rows(), rowGrain(L)/4, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			in, gy, out := xs[r*L:(r+1)*L], dys[r*L:(r+1)*L], dxs[r*L:(r+1)*L]
			mu, rs64 := float64(ms[r]), float64(rs[r])
			c0 := (r % a.Groups) * cpg
			var sumG, sumGX float64
			for j := range in {
				gj := float64(gy[j])
				if ws != nil {
					gj *= float64(ws[c0+j/HW])
				}
				sumG += gj
				sumGX += gj * (float64(in[j]) - mu) * rs64
			}
			meanG, meanGX := sumG/float64(L), sumGX/float64(L)
			for j := range out {
				gj := float64(gy[j])
				if ws != nil {
					gj *= float64(ws[c0+j/HW])
				}
				xh := (float64(in[j]) - mu) * rs64
				out[j] = float32(rs64 * (gj - meanG - xh*meanGX))
			}
		}
	})
	if dws == nil && dbs == nil {
		return
	}
	parallelFor(a.C, rowGrain(a.N*HW), func(lo, hi int) {
		for c := lo; c < hi; c++ {
			var sw, sb float64
			for n := 0; n < a.N; n++ {
				r := n*a.Groups + c/cpg
				mu, rs64 := float64(ms[r]), float64(rs[r])
				base := (n*a.C + c) * HW
				for j := base; j < base+HW; j++ {
					g := float64(dys[j])
					sw += g * (float64(xs[j]) - mu) * rs64
					sb += g
				}
			}
			if dws != nil {
				dws[c] = float32(float64(dws[c]) + sw)
			}
			if dbs != nil {
				dbs[c] = float32(float64(dbs[c]) + sb)
			}
		}
	})
}

func (cpuBackend) Im2Col(col, x Storage, xOff int, a ConvArgs) {
	cs, xs := cpuData(col), cpuData(x)
	K, P, img := a.ColRows(), a.ColCols(), a.C*a.H*a.W
	parallelFor(a.Batch*K, rowGrain(P), func(lo, hi int) {
		for row := lo; row < hi; row++ {
			n, k := row/K, row%K
			c, i, j := k/(a.KH*a.KW), k/a.KW%a.KH, k%a.KW
			src := xs[xOff+n*img+c*a.H*a.W:]
			dst := cs[row*P : (row+1)*P]
			for oh := 0; oh < a.OH; oh++ {
				h := oh*a.Stride - a.Pad + i
				for ow := 0; ow < a.OW; ow++ {
					w := ow*a.Stride - a.Pad + j
					v := float32(0)
					if h >= 0 && h < a.H && w >= 0 && w < a.W {
						v = src[h*a.W+w]
					}
					dst[oh*a.OW+ow] = v
				}
			}
		}
	})
}

// Col2Im gathers: each pixel sums, in increasing (kernel row, kernel column) order, the col
// entries it was copied to, so every output is written once (the CUDA twin does the same).
func (cpuBackend) Col2Im(dx Storage, dxOff int, col Storage, a ConvArgs) {
	ds, cs := cpuData(dx), cpuData(col)
	K, P, HW := a.ColRows(), a.ColCols(), a.H*a.W
	parallelFor(a.Batch*a.C, rowGrain(HW*a.KH*a.KW), func(lo, hi int) {
		for nc := lo; nc < hi; nc++ {
			n, c := nc/a.C, nc%a.C
			dst := ds[dxOff+nc*HW : dxOff+(nc+1)*HW]
			for p := range dst {
				dst[p] = col2imPixel(cs, n*K*P, c, p/a.W, p%a.W, a)
			}
		}
	})
}

// col2imPixel sums the col entries of image n (starting at base) that pixel (c, h, w) feeds.
func col2imPixel(cs []float32, base, c, h, w int, a ConvArgs) float32 {
	P := a.ColCols()
	var s float32
	for i := 0; i < a.KH; i++ {
		th := h + a.Pad - i
		if th < 0 || th%a.Stride != 0 || th/a.Stride >= a.OH {
			continue
		}
		oh := th / a.Stride
		for j := 0; j < a.KW; j++ {
			tw := w + a.Pad - j
			if tw < 0 || tw%a.Stride != 0 || tw/a.Stride >= a.OW {
				continue
			}
			k := (c*a.KH+i)*a.KW + j
			s += cs[base+k*P+oh*a.OW+tw/a.Stride]
		}
	}
	return s
}
