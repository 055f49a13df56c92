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
