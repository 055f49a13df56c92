package nn

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/flowtune/flowtune/tensor"
)

// Shared test helpers: float conversions and the project's tolerance rule
// |got − ref| ≤ atol + rtol·|ref|, reporting the worst index and the first few pairs.

var cpu = tensor.CPU()

func f64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

func f32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

// checkClose fails t when any pair breaks the tolerance rule.
func checkClose(t *testing.T, what string, got, ref []float64, atol, rtol float64) {
	t.Helper()
	if len(got) != len(ref) {
		t.Errorf("%s: %d values, reference has %d", what, len(got), len(ref))
		return
	}
	bad, worst, worstRatio := 0, -1, 0.0
	for i := range got {
		err := math.Abs(got[i] - ref[i])
		lim := atol + rtol*math.Abs(ref[i])
		ratio := err / lim
		if math.IsNaN(got[i]) || math.IsNaN(ref[i]) {
			ratio = math.Inf(1)
		}
		if ratio > 1 {
			bad++
			if ratio > worstRatio || worst < 0 {
				worst, worstRatio = i, ratio
			}
		}
	}
	if bad == 0 {
		return
	}
	var sb strings.Builder
	for i := 0; i < len(got) && i < 6; i++ {
		fmt.Fprintf(&sb, " (%.8g, %.8g)", got[i], ref[i])
	}
	t.Errorf("%s: %d of %d outside |got−ref| ≤ %g + %g·|ref|; worst at %d: got %.8g ref %.8g (%.3g× the limit); first pairs (got, ref):%s",
		what, bad, len(got), atol, rtol, worst, got[worst], ref[worst], worstRatio, sb.String())
}

// checkEqual fails t unless got and ref are identical element by element.
func checkEqual(t *testing.T, what string, got, ref []float32) {
	t.Helper()
	if len(got) != len(ref) {
		t.Fatalf("%s: %d values, reference has %d", what, len(got), len(ref))
	}
	for i := range got {
		if got[i] != ref[i] {
			t.Errorf("%s: first difference at %d: %g vs %g", what, i, got[i], ref[i])
			return
		}
	}
}

func maxAbs(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		m = math.Max(m, math.Abs(x))
	}
	return m
}

func maxDiff(a, b []float32) float64 {
	m := 0.0
	for i := range a {
		m = math.Max(m, math.Abs(float64(a[i])-float64(b[i])))
	}
	return m
}
