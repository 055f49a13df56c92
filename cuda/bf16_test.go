package cuda

import (
	"math"
	"testing"
)

func TestBF16RoundTrip(t *testing.T) {
	cases := []struct {
		in   float32
		want float32
	}{
		{1, 1},
		{-2.5, -2.5},
		{float32(math.Inf(1)), float32(math.Inf(1))},
		// 1 + 2^-8 lies exactly between 1 and 1 + 2^-7: ties go to the even mantissa (1).
		{1 + 1.0/256, 1},
		// 1 + 3·2^-8 lies between 1 + 2^-7 and 1 + 2^-6: ties to even gives 1 + 2^-6.
		{1 + 3.0/256, 1 + 1.0/64},
		// Just above the tie rounds up.
		{math.Float32frombits(math.Float32bits(1+1.0/256) + 1), 1 + 1.0/128},
		// The largest float32 overflows to +Inf in bf16.
		{math.MaxFloat32, float32(math.Inf(1))},
	}
	for _, c := range cases {
		if got := fromBF16(toBF16(c.in)); got != c.want {
			t.Errorf("bf16(%v) = %v, want %v", c.in, got, c.want)
		}
	}
	if got := fromBF16(toBF16(float32(math.NaN()))); !math.IsNaN(float64(got)) {
		t.Errorf("bf16(NaN) = %v, want NaN", got)
	}
	// bf16 keeps 8 significant bits: the relative rounding error is at most 2^-8 for normals.
	for _, x := range []float32{3.14159, -1e-3, 6.02e23, 1.5e-38} {
		if r := math.Abs(float64(fromBF16(toBF16(x))-x)) / math.Abs(float64(x)); r > 1.0/256 {
			t.Errorf("bf16(%v) relative error %g > 2^-8", x, r)
		}
	}
}
