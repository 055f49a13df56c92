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
