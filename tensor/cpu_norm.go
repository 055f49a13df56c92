package tensor

import (
	"math"

	"github.com/flowtune/flowtune/tensor/internal/vec"
)

// Softmax, LayerNorm and RMSNorm over the last axis of a [rows, cols] view, forward and
// backward. Rows are independent and split across goroutines; the per-row statistics are
// accumulated in float64. The weight gradients of the norms add up over rows: each chunk of
// rows keeps its own float64 partial, and the partials are added in chunk order, so the result
// does not depend on the number of cores.

func (cpuBackend) Softmax(y, x Storage, rows, cols int) {
	ys, xs := cpuData(y), cpuData(x)
	parallelFor(rows, rowGrain(cols)/4, func(lo, hi int) {
		softmaxRows(ys[lo*cols:hi*cols], xs[lo*cols:hi*cols], hi-lo, cols, nil)
	})
}

// softmaxRows is softmaxRow on each of the rows cols-wide rows of in, into out, with each row's
// log-sum-exp in lse[r] when lse is not nil. The rows' float64 sums, the one serial part, run
// four rows side by side (four independent chains the processor overlaps, each in its row's
// order), so every value is softmaxRow's bit for bit.
func softmaxRows(out, in []float32, rows, cols int, lse []float32) {
	for r0 := 0; r0 < rows; r0 += 4 {
		if rows-r0 < 4 || cols == 0 {
			for r := r0; r < rows; r++ {
				l := softmaxRow(out[r*cols:(r+1)*cols], in[r*cols:(r+1)*cols])
				if lse != nil {
					lse[r] = float32(l)
				}
			}
			return
		}
		var m [4]float32
		for i := range 4 {
			o := out[(r0+i)*cols : (r0+i+1)*cols]
			m[i] = vec.Max(in[(r0+i)*cols : (r0+i+1)*cols])
			vec.ApplyScalar(vec.OpSub, o, in[(r0+i)*cols:], m[i])
			expfSlice(o, o)
		}
		for i, sum := range rowSums4(out, r0, cols) {
			o := out[(r0+i)*cols : (r0+i+1)*cols]
			vec.ApplyScalar(vec.OpMul, o, o, float32(1/sum))
			if lse != nil {
				lse[r0+i] = float32(float64(m[i]) + math.Log(sum))
			}
		}
	}
}

// softmaxRow writes out = softmax(in), subtracting the row maximum first so that exp never
// overflows, and returns the log-sum-exp of in.
func softmaxRow(out, in []float32) float64 {
	m := vec.Max(in) // a NaN is skipped here but still poisons its row through exp below
	vec.ApplyScalar(vec.OpSub, out, in, m)
	expfSlice(out, out)
	var sum float64
	for _, e := range out {
		sum += float64(e)
	}
	vec.ApplyScalar(vec.OpMul, out, out, float32(1/sum))
	return float64(m) + math.Log(sum)
}

// SoftmaxBackward: dx = y ⊙ (dy − Σ_j y_j dy_j).
func (cpuBackend) SoftmaxBackward(dx, y, dy Storage, rows, cols int) {
	dxs, ys, dys := cpuData(dx), cpuData(y), cpuData(dy)
	parallelFor(rows, rowGrain(cols)/2, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			yr, gr, out := ys[r*cols:(r+1)*cols], dys[r*cols:(r+1)*cols], dxs[r*cols:(r+1)*cols]
			var dot float64
			for j := range yr {
				dot += float64(yr[j]) * float64(gr[j])
			}
			for j := range out {
				out[j] = float32(float64(yr[j]) * (float64(gr[j]) - dot))
			}
		}
	})
}

func (cpuBackend) LayerNorm(y, mean, rstd, x, w, b Storage, rows, cols int, eps float32) {
	ys, ms, rs, xs := cpuData(y), cpuData(mean), cpuData(rstd), cpuData(x)
	ws, bs := cpuDataOrNil(w), cpuDataOrNil(b)
	parallelFor(rows, rowGrain(cols)/2, func(lo, hi int) {
		var mus, rstds [4]float64
		for r := lo; r < hi; r++ {
			if (r-lo)%4 == 0 { // the next four rows' statistics, side by side
				mus, rstds = meanRstdRows(xs, r, min(4, hi-r), cols, eps)
			}
			in, out := xs[r*cols:(r+1)*cols], ys[r*cols:(r+1)*cols]
			mu, rs64 := mus[(r-lo)%4], rstds[(r-lo)%4]
			ms[r], rs[r] = float32(mu), float32(rs64)
			j0 := 0
			if bs == nil { // the same operations four lanes at a time, then the rest below
				j0 = normRowVector(out, in, ws, mu, rs64)
			}
			for j := j0; j < len(in); j++ {
				v := in[j]
				h := (float64(v) - mu) * rs64
				if ws != nil {
					h *= float64(ws[j])
				}
				if bs != nil {
					h += float64(bs[j])
				}
				out[j] = float32(h)
			}
		}
	})
}

// LayerNormBackward, with x̂ = (x−μ)·rstd and g = dy·w (or dy without affine):
//
//	dx = rstd · (g − mean(g) − x̂ · mean(g·x̂)),  dw += Σ_rows dy·x̂,  db += Σ_rows dy.
func (cpuBackend) LayerNormBackward(dx, dw, db, dy, x, mean, rstd, w Storage, rows, cols int) {
	dxs, dys, xs, ms, rs := cpuData(dx), cpuData(dy), cpuData(x), cpuData(mean), cpuData(rstd)
	dws, dbs, ws := cpuDataOrNil(dw), cpuDataOrNil(db), cpuDataOrNil(w)
	grain := rowGrain(cols) / 4
	_, count := chunking(rows, grain)
	pdw, pdb := newPartials(dws != nil, count, cols), newPartials(dbs != nil, count, cols)
	parallelChunks(rows, grain, func(c, lo, hi int) {
		g := make([]float64, cols)
		for r := lo; r < hi; r++ {
			in, gy, out := xs[r*cols:(r+1)*cols], dys[r*cols:(r+1)*cols], dxs[r*cols:(r+1)*cols]
			mu, rs64 := float64(ms[r]), float64(rs[r])
			var sumG, sumGX float64
			for j := range in {
				xh := (float64(in[j]) - mu) * rs64
				gj := float64(gy[j])
				if pdw != nil {
					pdw[c][j] += gj * xh
				}
				if pdb != nil {
					pdb[c][j] += gj
				}
				if ws != nil {
					gj *= float64(ws[j])
				}
				g[j] = gj
				sumG += gj
				sumGX += gj * xh
			}
			meanG, meanGX := sumG/float64(cols), sumGX/float64(cols)
			for j := range out {
				xh := (float64(in[j]) - mu) * rs64
				out[j] = float32(rs64 * (g[j] - meanG - xh*meanGX))
			}
		}
	})
	addPartials(dws, pdw)
	addPartials(dbs, pdb)
}

func (cpuBackend) RMSNorm(y, rstd, x, w Storage, rows, cols int, eps float32) {
	ys, rs, xs, ws := cpuData(y), cpuData(rstd), cpuData(x), cpuDataOrNil(w)
	parallelFor(rows, rowGrain(cols)/2, func(lo, hi int) {
		var sums [4]float64
		for r := lo; r < hi; r++ {
			if (r-lo)%4 == 0 {
				sums = sumSquaresRows(xs, r, min(4, hi-r), cols)
			}
			in, out := xs[r*cols:(r+1)*cols], ys[r*cols:(r+1)*cols]
			rs64 := 1 / math.Sqrt(sums[(r-lo)%4]/float64(cols)+float64(eps))
			rs[r] = float32(rs64)
			// (v − 0)·rs is v·rs exactly: the vector form of the loop below.
			for j := normRowVector(out, in, ws, 0, rs64); j < len(in); j++ {
				v := in[j]
				h := float64(v) * rs64
				if ws != nil {
					h *= float64(ws[j])
				}
				out[j] = float32(h)
			}
		}
	})
}

// RMSNormBackward, with x̂ = x·rstd and g = dy·w (or dy):
//
//	dx = rstd · (g − x̂ · mean(g·x̂)),  dw += Σ_rows dy·x̂.
func (cpuBackend) RMSNormBackward(dx, dw, dy, x, rstd, w Storage, rows, cols int) {
	dxs, dys, xs, rs := cpuData(dx), cpuData(dy), cpuData(x), cpuData(rstd)
	dws, ws := cpuDataOrNil(dw), cpuDataOrNil(w)
	grain := rowGrain(cols) / 4
	_, count := chunking(rows, grain)
	pdw := newPartials(dws != nil, count, cols)
	parallelChunks(rows, grain, func(c, lo, hi int) {
		g := make([]float64, cols)
		for r := lo; r < hi; r++ {
			in, gy, out := xs[r*cols:(r+1)*cols], dys[r*cols:(r+1)*cols], dxs[r*cols:(r+1)*cols]
			rs64 := float64(rs[r])
			var sumGX float64
			for j := range in {
				xh := float64(in[j]) * rs64
				gj := float64(gy[j])
				if pdw != nil {
					pdw[c][j] += gj * xh
				}
				if ws != nil {
					gj *= float64(ws[j])
				}
				g[j] = gj
				sumGX += gj * xh
			}
			meanGX := sumGX / float64(cols)
			for j := range out {
				xh := float64(in[j]) * rs64
				out[j] = float32(rs64 * (g[j] - xh*meanGX))
			}
		}
	})
	addPartials(dws, pdw)
}

// newPartials makes one float64 accumulator of length n per chunk, or nil when not wanted.
func newPartials(want bool, chunks, n int) [][]float64 {
	if !want {
		return nil
	}
	p := make([][]float64, chunks)
	for i := range p {
		p[i] = make([]float64, n)
	}
	return p
}

// addPartials adds the per-chunk partials, in chunk order, onto dst (+=).
func addPartials(dst []float32, partials [][]float64) {
	if dst == nil {
		return
	}
	for j := range dst {
		s := float64(dst[j])
		for _, p := range partials {
			s += p[j]
		}
		dst[j] = float32(s)
	}
}

// meanRstdRows is meanRstd of n ≤ 4 consecutive rows of x starting at row r, each row's sums
// in meanRstd's order. Each row's running sum is one chain of dependent float64 additions; four
// rows in one loop are four independent chains, which the processor overlaps, and every result
// is meanRstd's bit for bit.
func meanRstdRows(x []float32, r, n, cols int, eps float32) (mu, rstd [4]float64) {
	if n < 4 {
		for i := range n {
			mu[i], rstd[i] = meanRstd(x[(r+i)*cols:(r+i+1)*cols], eps)
		}
		return mu, rstd
	}
	sums := rowSums4(x, r, cols)
	n64 := float64(cols)
	mu = [4]float64{sums[0] / n64, sums[1] / n64, sums[2] / n64, sums[3] / n64}
	a, b, c, d := rows4(x, r, cols)
	var q0, q1, q2, q3 float64
	for j, v := range a {
		d0, d1, d2, d3 := float64(v)-mu[0], float64(b[j])-mu[1], float64(c[j])-mu[2], float64(d[j])-mu[3]
		q0 += d0 * d0
		q1 += d1 * d1
		q2 += d2 * d2
		q3 += d3 * d3
	}
	for i, q := range [4]float64{q0, q1, q2, q3} {
		rstd[i] = 1 / math.Sqrt(q/n64+float64(eps))
	}
	return mu, rstd
}

// sumSquaresRows is Σ float64(v)² of n ≤ 4 consecutive rows from row r, each in row order, four
// chains side by side as in meanRstdRows.
func sumSquaresRows(x []float32, r, n, cols int) (ss [4]float64) {
	if n < 4 {
		for i := range n {
			for _, v := range x[(r+i)*cols : (r+i+1)*cols] {
				ss[i] += float64(v) * float64(v)
			}
		}
		return ss
	}
	a, b, c, d := rows4(x, r, cols)
	var s0, s1, s2, s3 float64
	for j, v := range a {
		s0 += float64(v) * float64(v)
		s1 += float64(b[j]) * float64(b[j])
		s2 += float64(c[j]) * float64(c[j])
		s3 += float64(d[j]) * float64(d[j])
	}
	return [4]float64{s0, s1, s2, s3}
}

// rowSums4 is the float64 sum of each of rows r…r+3 of x, each in row order: four chains of
// dependent additions in one loop, which the processor overlaps.
func rowSums4(x []float32, r, cols int) [4]float64 {
	a, b, c, d := rows4(x, r, cols)
	var s0, s1, s2, s3 float64
	for j, v := range a {
		s0 += float64(v)
		s1 += float64(b[j])
		s2 += float64(c[j])
		s3 += float64(d[j])
	}
	return [4]float64{s0, s1, s2, s3}
}

// rows4 returns rows r…r+3 of x (cols wide), as slices of one length.
func rows4(x []float32, r, cols int) (a, b, c, d []float32) {
	a = x[r*cols : (r+1)*cols]
	return a, x[(r+1)*cols : (r+2)*cols][:len(a)], x[(r+2)*cols : (r+3)*cols][:len(a)], x[(r+3)*cols : (r+4)*cols][:len(a)]
}

// meanRstd is the mean of v and 1/√(variance + eps), the population variance taken in two
// passes (the mean, then the squares around it: no cancellation), in float64.
func meanRstd(v []float32, eps float32) (mu, rstd float64) {
	var s float64
	for _, x := range v {
		s += float64(x)
	}
	mu = s / float64(len(v))
	var ss float64
	for _, x := range v {
		d := float64(x) - mu
		ss += d * d
	}
	return mu, 1 / math.Sqrt(ss/float64(len(v))+float64(eps))
}
