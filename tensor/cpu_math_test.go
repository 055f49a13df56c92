package tensor

import (
	"math"
	"testing"
)

// ulpDiff is the distance between two float32 values in units in the last place.
func ulpDiff(a, b float32) int64 {
	ia, ib := int64(math.Float32bits(a)), int64(math.Float32bits(b))
	if ia < 0x80000000 != (ib < 0x80000000) {
		return math.MaxInt64
	}
	d := ia - ib
	if d < 0 {
		d = -d
	}
	return d
}

// TestExpf sweeps every 331st float32 in the normal-result range and checks expf against the
// correctly rounded float64 exponential.
func TestExpf(t *testing.T) {
	worst, at := int64(0), float32(0)
	check := func(x float32) {
		want := float32(math.Exp(float64(x)))
		if want < math.SmallestNonzeroFloat32*(1<<23) { // subnormal results flush to zero
			return
		}
		if d := ulpDiff(expf(x), want); d > worst {
			worst, at = d, x
		}
	}
	for bits := uint32(0); bits < 0x42b17218; bits += 331 { // 0 ≤ x < 88.72
		x := math.Float32frombits(bits)
		check(x)
		check(-x)
	}
	t.Logf("expf: worst error %d ulp at x = %g", worst, at)
	if worst > 2 {
		t.Errorf("expf: error %d ulp at x = %g (expf %g, exp %g)", worst, at, expf(at), math.Exp(float64(at)))
	}
	for _, c := range []struct{ x, want float32 }{
		{0, 1}, {89, float32(math.Inf(1))}, {-88, 0}, {float32(math.Inf(-1)), 0}, {float32(math.Inf(1)), float32(math.Inf(1))},
	} {
		if got := expf(c.x); got != c.want {
			t.Errorf("expf(%g) = %g, want %g", c.x, got, c.want)
		}
	}
	if nan := expf(float32(math.NaN())); nan == nan {
		t.Errorf("expf(NaN) = %g, want NaN", nan)
	}
}

// specialFloats are inputs every elementwise fast path must treat like its scalar form.
func specialFloats() []float32 {
	inf := float32(math.Inf(1))
	return []float32{0, float32(math.Copysign(0, -1)), 1, -1, 88.72283, 88.7229, 89, -87.33654, -87.34, -100, 100,
		inf, -inf, float32(math.NaN()), math.SmallestNonzeroFloat32, math.MaxFloat32, -math.MaxFloat32, 1e-30, -1e-30}
}

// sameFloat is bitwise equality, with every NaN equal to every NaN.
func sameFloat(a, b float32) bool {
	return math.Float32bits(a) == math.Float32bits(b) || (a != a && b != b)
}

// A block through expfSlice gives every element expf's result bit for bit, also in place and
// on the edge values.
func TestExpfSliceIsExpf(t *testing.T) {
	xs := specialFloats()
	for bits := uint32(0); bits < 0x43000000; bits += 7919 { // 0 ≤ x < 128, both signs
		x := math.Float32frombits(bits)
		xs = append(xs, x, -x)
	}
	d := make([]float32, len(xs))
	expfSlice(d, xs)
	inPlace := append([]float32(nil), xs...)
	expfSlice(inPlace, inPlace)
	for i, x := range xs {
		if want := expf(x); !sameFloat(d[i], want) || !sameFloat(inPlace[i], want) {
			t.Fatalf("expfSlice at x = %g: %g (in place %g), expf %g", x, d[i], inPlace[i], want)
		}
	}
}

// The vector path (AVX2 where the CPU has it) gives expf's result bit for bit over a sweep of
// every 997th float32 bit pattern: both signs, every exponent, the infinities and NaNs, and
// each of a vector's eight lanes.
func TestExpfVectorIsExpf(t *testing.T) {
	if expfVectorLanes() == 0 {
		t.Skip("no vector expf on this CPU or build; expfSlice is expfScalar")
	}
	const step = 997
	xs := make([]float32, 0, 1<<32/step+1)
	for bits := uint64(0); bits < 1<<32; bits += step {
		xs = append(xs, math.Float32frombits(uint32(bits)))
	}
	xs = xs[:len(xs)&^7]
	d := make([]float32, len(xs))
	if n := expfVector(d, xs); n != len(xs) {
		t.Fatalf("expfVector did %d of %d", n, len(xs))
	}
	for i, x := range xs {
		if want := expf(x); !sameFloat(d[i], want) {
			t.Fatalf("vector expf at x = %g (bits %#x, lane %d): %g, expf %g", x, math.Float32bits(x), i%8, d[i], want)
		}
	}
}

// Every unary op's loop gives unaryF's result bit for bit, on lengths that end mid-block and
// in place.
func TestUnaryLoopIsUnaryF(t *testing.T) {
	rng := NewRNG(3)
	for op := UnaryOp(0); op < numUnaryOps; op++ {
		p := float32(1.7)
		for _, n := range []int{1, expBlock - 1, expBlock, 3*expBlock + 5} {
			xs := append(specialFloats(), make([]float32, n)...)
			for i := len(specialFloats()); i < len(xs); i++ {
				xs[i] = float32(rng.NormFloat64() * 6)
			}
			f := unaryF(op, p)
			d := make([]float32, len(xs))
			unaryLoop(op, p)(d, xs)
			inPlace := append([]float32(nil), xs...)
			unaryLoop(op, p)(inPlace, inPlace)
			for i, x := range xs {
				if want := f(x); !sameFloat(d[i], want) || !sameFloat(inPlace[i], want) {
					t.Fatalf("%v at x = %g (n %d): loop %g, in place %g, unaryF %g", op, x, n, d[i], inPlace[i], want)
				}
			}
		}
	}
}

// The backward of sigmoid, SiLU and GELU, done a block at a time, gives g·unaryGrad bit for
// bit, on lengths that end mid-block.
func TestSigmoidFamilyBackwardIsUnaryGrad(t *testing.T) {
	rng := NewRNG(4)
	for _, op := range []UnaryOp{OpSigmoid, OpSiLU, OpGELU} {
		for _, n := range []int{1, expBlock - 1, expBlock, 3*expBlock + 5} {
			xs := append(specialFloats(), make([]float32, n)...)
			g := make([]float32, len(xs))
			for i := range xs {
				if i >= len(specialFloats()) {
					xs[i] = float32(rng.NormFloat64() * 6)
				}
				g[i] = float32(rng.NormFloat64())
			}
			df := unaryGrad(op, 0)
			d := make([]float32, len(xs))
			sigmoidFamilyBackward(op, d, xs, g)
			for i, x := range xs {
				if want := float32(float64(g[i]) * df(x)); !sameFloat(d[i], want) {
					t.Fatalf("%v backward at x = %g (n %d): block %g, unaryGrad %g", op, x, n, d[i], want)
				}
			}
		}
	}
}

// The norms compute four rows' statistics side by side (meanRstdRows, sumSquaresRows); every
// row must come out as the one-row code gives it, bit for bit, whatever the row count, the
// split across goroutines, or where a group of four starts.
func TestNormRowsSideBySideAreOneRowAtATime(t *testing.T) {
	rng := NewRNG(5)
	for _, rows := range []int{1, 3, 4, 5, 8, 9, 37} {
		for _, cols := range []int{1, 7, 64, 129} {
			x := make([]float32, rows*cols)
			for i := range x {
				// Magnitudes from 2⁻³⁰ to 2³⁰: the float64 sums then round, so a different order
				// of additions would show in the last bits.
				x[i] = float32(math.Ldexp(rng.NormFloat64()+0.5, rng.Intn(61)-30))
			}
			var eps float32 = 1e-6
			y, mean, rstd := make([]float32, len(x)), make([]float32, rows), make([]float32, rows)
			CPU().LayerNorm(&cpuStorage{y}, &cpuStorage{mean}, &cpuStorage{rstd}, &cpuStorage{x}, nil, nil, rows, cols, eps)
			yr, rr := make([]float32, len(x)), make([]float32, rows)
			CPU().RMSNorm(&cpuStorage{yr}, &cpuStorage{rr}, &cpuStorage{x}, nil, rows, cols, eps)
			for r0 := 0; r0 < rows; r0 += 4 { // the float64 statistics themselves, bit for bit
				n := min(4, rows-r0)
				mus, rss := meanRstdRows(x, r0, n, cols, eps)
				sums := sumSquaresRows(x, r0, n, cols)
				for i := range n {
					in := x[(r0+i)*cols : (r0+i+1)*cols]
					mu, rs := meanRstd(in, eps)
					var ss float64
					for _, v := range in {
						ss += float64(v) * float64(v)
					}
					if mus[i] != mu || rss[i] != rs || sums[i] != ss {
						t.Fatalf("%d×%d row %d: side by side %v %v %v, one row %v %v %v", rows, cols, r0+i, mus[i], rss[i], sums[i], mu, rs, ss)
					}
				}
			}
			// With a weight (both norms) and a bias (LayerNorm), as the one-row loop computes them.
			w, b := make([]float32, cols), make([]float32, cols)
			for j := range w {
				w[j], b[j] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
			}
			yw, ywb, yrw := make([]float32, len(x)), make([]float32, len(x)), make([]float32, len(x))
			scratch := func() Storage { return &cpuStorage{make([]float32, rows)} }
			CPU().LayerNorm(&cpuStorage{yw}, scratch(), scratch(), &cpuStorage{x}, &cpuStorage{w}, nil, rows, cols, eps)
			CPU().LayerNorm(&cpuStorage{ywb}, scratch(), scratch(), &cpuStorage{x}, &cpuStorage{w}, &cpuStorage{b}, rows, cols, eps)
			CPU().RMSNorm(&cpuStorage{yrw}, scratch(), &cpuStorage{x}, &cpuStorage{w}, rows, cols, eps)
			for r := range rows {
				in := x[r*cols : (r+1)*cols]
				mu, rs := meanRstd(in, eps)
				var ss float64
				for _, v := range in {
					ss += float64(v) * float64(v)
				}
				rms := 1 / math.Sqrt(ss/float64(cols)+float64(eps))
				if !sameFloat(mean[r], float32(mu)) || !sameFloat(rstd[r], float32(rs)) || !sameFloat(rr[r], float32(rms)) {
					t.Fatalf("%d×%d row %d: LayerNorm mean %g rstd %g, RMSNorm rstd %g; one row at a time %g %g %g",
						rows, cols, r, mean[r], rstd[r], rr[r], mu, rs, rms)
				}
				for j, v := range in {
					if want := float32((float64(v) - mu) * rs); !sameFloat(y[r*cols+j], want) {
						t.Fatalf("%d×%d LayerNorm (%d,%d) = %g, want %g", rows, cols, r, j, y[r*cols+j], want)
					}
					if want := float32(float64(v) * rms); !sameFloat(yr[r*cols+j], want) {
						t.Fatalf("%d×%d RMSNorm (%d,%d) = %g, want %g", rows, cols, r, j, yr[r*cols+j], want)
					}
					h := (float64(v) - mu) * rs * float64(w[j])
					i := r*cols + j
					if !sameFloat(yw[i], float32(h)) || !sameFloat(ywb[i], float32(h+float64(b[j]))) ||
						!sameFloat(yrw[i], float32(float64(v)*rms*float64(w[j]))) {
						t.Fatalf("%d×%d (%d,%d) with weights: LayerNorm %g, with bias %g, RMSNorm %g; one row at a time %g %g %g",
							rows, cols, r, j, yw[i], ywb[i], yrw[i], float32(h), float32(h+float64(b[j])), float32(float64(v)*rms*float64(w[j])))
					}
				}
			}
		}
	}
}

// softmaxRows runs four rows' sums side by side; each row and its log-sum-exp must be
// softmaxRow's bit for bit, NaN and infinite rows included.
func TestSoftmaxRowsIsSoftmaxRow(t *testing.T) {
	rng := NewRNG(6)
	for _, rows := range []int{1, 3, 4, 5, 8, 11} {
		for _, cols := range []int{1, 7, 64, 141} {
			x := make([]float32, rows*cols)
			for i := range x {
				x[i] = float32(math.Ldexp(rng.NormFloat64(), rng.Intn(9)-2))
			}
			if rows > 2 {
				x[cols] = float32(math.NaN())    // row 1
				x[2*cols] = float32(math.Inf(1)) // row 2
				x[(rows-1)*cols] = float32(math.Inf(-1))
			}
			want, wantLSE := make([]float32, len(x)), make([]float32, rows)
			for r := range rows {
				wantLSE[r] = float32(softmaxRow(want[r*cols:(r+1)*cols], x[r*cols:(r+1)*cols]))
			}
			got, gotLSE := make([]float32, len(x)), make([]float32, rows)
			softmaxRows(got, x, rows, cols, gotLSE)
			inPlace := append([]float32(nil), x...)
			softmaxRows(inPlace, inPlace, rows, cols, nil)
			for i := range want {
				if !sameFloat(got[i], want[i]) || !sameFloat(inPlace[i], want[i]) {
					t.Fatalf("%d×%d element %d: %g (in place %g), softmaxRow %g", rows, cols, i, got[i], inPlace[i], want[i])
				}
			}
			for r := range rows {
				if !sameFloat(gotLSE[r], wantLSE[r]) {
					t.Fatalf("%d×%d row %d: log-sum-exp %g, softmaxRow %g", rows, cols, r, gotLSE[r], wantLSE[r])
				}
			}
		}
	}
}
