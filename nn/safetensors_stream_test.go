package nn

import (
	"math"
	"path/filepath"
	"testing"
)

// TestStreamSafetensorsRoundTrip: a streamed file reads back with the values fill wrote, in
// each dtype (F16 and BF16 to their rounding).
func TestStreamSafetensorsRoundTrip(t *testing.T) {
	specs := []SafetensorsSpec{{"b", []int{2, 3}}, {"a", []int{4}}, {"empty", []int{0, 5}}}
	val := func(name string, i int) float32 { return float32(len(name)) + 0.1*float32(i) - 0.35 }
	for _, dtype := range []string{SafetensorsF32, SafetensorsBF16, SafetensorsF16} {
		path := filepath.Join(t.TempDir(), "s.safetensors")
		err := StreamSafetensors(path, specs, map[string]string{"k": "v"}, dtype, func(name string, dst []float32) error {
			for i := range dst {
				dst[i] = val(name, i)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		ts, meta, err := ReadSafetensors(path)
		if err != nil {
			t.Fatal(err)
		}
		if meta["k"] != "v" || len(ts) != 3 {
			t.Fatalf("%s: meta %v, %d tensors", dtype, meta, len(ts))
		}
		tol := map[string]float64{SafetensorsF32: 0, SafetensorsBF16: 1.0 / 128, SafetensorsF16: 1.0 / 1024}[dtype]
		for _, s := range specs {
			for i, v := range ts[s.Name].Data {
				if d := math.Abs(float64(v - val(s.Name, i))); d > tol*math.Abs(float64(val(s.Name, i))) {
					t.Fatalf("%s %s[%d] = %g, wrote %g", dtype, s.Name, i, v, val(s.Name, i))
				}
			}
		}
	}
}

// TestFloat32ToF16: exact values survive, rounding is to nearest even, and the range ends
// (overflow, subnormals, underflow) behave as IEEE halves do.
func TestFloat32ToF16(t *testing.T) {
	for _, c := range []struct {
		in   float32
		want float32
	}{
		{1, 1}, {-2.5, -2.5}, {65504, 65504}, {1e6, float32(math.Inf(1))},
		{1 + 1.0/2048, 1}, {1 + 3.0/2048, 1 + 2.0/1024}, // ties to even
		{5.960464477539063e-08, 5.960464477539063e-08}, // smallest subnormal
		{2e-8, 0}, {float32(math.Inf(-1)), float32(math.Inf(-1))},
	} {
		if got := F16ToFloat32(Float32ToF16(c.in)); got != c.want {
			t.Errorf("F16(%g) = %g, want %g", c.in, got, c.want)
		}
	}
	if got := F16ToFloat32(Float32ToF16(float32(math.NaN()))); !math.IsNaN(float64(got)) {
		t.Errorf("NaN became %g", got)
	}
}
