package diffusion

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

// checkClose64 applies the project's tolerance rule |got − want| ≤ atol + rtol·|want| to every
// element; on failure it reports the worst element and the first few pairs.
func checkClose64(t *testing.T, what string, got, want []float64, atol, rtol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	worst, worstExcess := -1, 0.0
	for i := range got {
		excess := math.Abs(got[i]-want[i]) - (atol + rtol*math.Abs(want[i]))
		if math.IsNaN(got[i]) || excess > worstExcess {
			worst, worstExcess = i, excess
			if math.IsNaN(got[i]) {
				worstExcess = math.Inf(1)
			}
		}
	}
	if worst < 0 {
		return
	}
	var sb strings.Builder
	for i := 0; i < len(got) && i < 6; i++ {
		fmt.Fprintf(&sb, " [%d] %.10g vs %.10g;", i, got[i], want[i])
	}
	t.Fatalf("%s: worst element %d: got %.10g, want %.10g (|diff| %.3g > atol %g + rtol %g·|want|); first pairs:%s",
		what, worst, got[worst], want[worst], math.Abs(got[worst]-want[worst]), atol, rtol, sb.String())
}

// sampleMoments returns the mean and covariance (row-major D×D) of n×D row-major points.
func sampleMoments(xs []float64, D int) (mean, cov []float64) {
	n := len(xs) / D
	mean = make([]float64, D)
	for i := 0; i < n; i++ {
		for d := 0; d < D; d++ {
			mean[d] += xs[i*D+d]
		}
	}
	for d := range mean {
		mean[d] /= float64(n)
	}
	cov = make([]float64, D*D)
	for i := 0; i < n; i++ {
		for a := 0; a < D; a++ {
			for b := 0; b < D; b++ {
				cov[a*D+b] += (xs[i*D+a] - mean[a]) * (xs[i*D+b] - mean[b])
			}
		}
	}
	for j := range cov {
		cov[j] /= float64(n - 1)
	}
	return mean, cov
}

// momentTolerances returns, for n samples of a law with covariance c, four standard errors of
// each mean coordinate and of each covariance entry (Gaussian approximation
// Var(ŝ_ab) ≈ (c_aa c_bb + c_ab²)/n, inflated ×1.5 for mixture kurtosis).
func momentTolerances(c []float64, D, n int) (meanTol, covTol []float64) {
	meanTol = make([]float64, D)
	covTol = make([]float64, D*D)
	for a := 0; a < D; a++ {
		meanTol[a] = 4 * math.Sqrt(c[a*D+a]/float64(n))
		for b := 0; b < D; b++ {
			covTol[a*D+b] = 4 * 1.5 * math.Sqrt((c[a*D+a]*c[b*D+b]+c[a*D+b]*c[a*D+b])/float64(n))
		}
	}
	return meanTol, covTol
}

// checkWithin checks |got_i − want_i| ≤ tol_i elementwise.
func checkWithin(t *testing.T, what string, got, want, tol []float64) {
	t.Helper()
	for i := range got {
		if math.Abs(got[i]-want[i]) > tol[i] {
			t.Fatalf("%s: element %d: got %.6g, want %.6g ± %.3g (all: got %v want %v)", what, i, got[i], want[i], tol[i], got, want)
		}
	}
}
