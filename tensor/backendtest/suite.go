package backendtest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/flowtune/flowtune/tensor"
)

// Options loosen the suite for backends that do not compute in full float32.
type Options struct {
	// MatMulTol bounds the MatMul error relative to the size of the terms it adds:
	// |got − ref| ≤ MatMulTol·√K·(|α|·Σ_k |a_ik·b_kj| + |β|·|c_ij|). Zero means the float32
	// default, 2e-6; a TF32 GEMM needs about 2e-3, a bf16 one about 1e-2.
	MatMulTol float64
	// AttentionTol bounds Attention and its backward, relative to the largest reference value
	// of each output tensor. Zero means the float32 default, 2e-5.
	AttentionTol float64
	// Tol multiplies every other tolerance (elementwise, reductions, norms, optimiser, fused
	// diffusion ops). Zero means 1.
	Tol float64
}

func (o Options) withDefaults() Options {
	if o.MatMulTol == 0 {
		o.MatMulTol = 2e-6
	}
	if o.AttentionTol == 0 {
		o.AttentionTol = 2e-5
	}
	if o.Tol == 0 {
		o.Tol = 1
	}
	return o
}

// Run runs the whole suite on b with the float32 tolerances.
func Run(t *testing.T, b tensor.Backend) { RunWith(t, b, Options{}) }

// RunWith runs the whole suite on b with the given tolerances.
func RunWith(t *testing.T, b tensor.Backend, opt Options) {
	opt = opt.withDefaults()
	groups := []struct {
		name string
		run  func(*suite)
	}{
		{"Memory", testMemory},
		{"Permute", testPermute},
		{"Unary", testUnary},
		{"UnaryBackward", testUnaryBackward},
		{"Binary", testBinary},
		{"Axpby", testAxpby},
		{"Sum", testSum},
		{"SumSquares", testSumSquares},
		{"MatMul", testMatMul},
		{"MatMulBias", testMatMulBias},
		{"Softmax", testSoftmax},
		{"LayerNorm", testLayerNorm},
		{"RMSNorm", testRMSNorm},
		{"GroupNorm", testGroupNorm},
		{"Im2Col", testIm2Col},
		{"Col2Im", testCol2Im},
		{"Attention", testAttention},
		{"Embedding", testEmbedding},
		{"AdamW", testAdamW},
		{"Random", testRandom},
		{"SDEStep", testSDEStep},
		{"SqErr", testSqErr},
		{"FusedMatchesComposed", testFusedMatchesComposed},
	}
	for i, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			g.run(&suite{t: t, b: b, opt: opt, rng: rand.New(rand.NewPCG(uint64(i)+1, 0x5eed))})
		})
	}
}

// suite carries what every test needs: the backend, the tolerances and a seeded generator for
// inputs (host-side math/rand; the backend's own RNG is under test in random.go).
type suite struct {
	t   *testing.T
	b   tensor.Backend
	opt Options
	rng *rand.Rand
}

// sub runs f as a subtest with its own suite value.
func (s *suite) sub(name string, f func(s *suite)) {
	s.t.Run(name, func(t *testing.T) {
		f(&suite{t: t, b: s.b, opt: s.opt, rng: s.rng})
	})
}

// ---- Storage helpers --------------------------------------------------------------------------

// put uploads host values into a new storage.
func (s *suite) put(v []float32) tensor.Storage {
	st := s.b.Alloc(len(v), tensor.Float32)
	s.b.Upload(st, v)
	return st
}

// get downloads a storage into a new host slice.
func (s *suite) get(st tensor.Storage) []float32 {
	out := make([]float32, st.Len())
	s.b.Download(out, st)
	return out
}

// poisoned allocates an output storage filled with NaN, so that an element the primitive
// forgets to write fails every comparison.
func (s *suite) poisoned(n int) tensor.Storage {
	st := s.b.Alloc(n, tensor.Float32)
	s.b.Fill(st, float32(math.NaN()))
	return st
}

// ---- Input generators -------------------------------------------------------------------------

// normal returns n draws of N(0, scale²).
func (s *suite) normal(n int, scale float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(s.rng.NormFloat64() * scale)
	}
	return v
}

// uniform returns n draws of U(lo, hi).
func (s *suite) uniform(n int, lo, hi float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(lo + (hi-lo)*s.rng.Float64())
	}
	return v
}

// awayFromZero returns n values with |v| in [lo, hi] and random sign (divisors).
func (s *suite) awayFromZero(n int, lo, hi float64) []float32 {
	v := s.uniform(n, lo, hi)
	for i := range v {
		if s.rng.IntN(2) == 0 {
			v[i] = -v[i]
		}
	}
	return v
}

func f64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

func maxAbs(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		m = math.Max(m, math.Abs(x))
	}
	return m
}

// ---- Comparison -------------------------------------------------------------------------------

// near checks got against ref with |got − ref| ≤ atol + rtol·|ref| (atol and rtol already
// scaled by the caller where they depend on Options).
func (s *suite) near(what string, got []float32, ref []float64, atol, rtol float64) {
	s.t.Helper()
	s.within(what, got, ref, func(i int) float64 { return atol + rtol*math.Abs(ref[i]) })
}

// exact checks bit-for-bit float32 equality (NaN equals NaN of the same bits).
func (s *suite) exact(what string, got, want []float32) {
	s.t.Helper()
	if len(got) != len(want) {
		s.t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	bad, first := 0, -1
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			if first < 0 {
				first = i
			}
			bad++
		}
	}
	if bad > 0 {
		var pairs string
		for i, shown := first, 0; i < len(got) && shown < 5; i++ {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				pairs += fmt.Sprintf("\n  [%d] got %v want %v", i, got[i], want[i])
				shown++
			}
		}
		s.t.Errorf("%s: %d of %d elements differ, first at %d:%s", what, bad, len(got), first, pairs)
	}
}

// within checks |got[i] − ref[i]| ≤ tol(i) for every i, reporting the worst offender relative
// to its tolerance and the first few failures.
func (s *suite) within(what string, got []float32, ref []float64, tol func(i int) float64) {
	s.t.Helper()
	if len(got) != len(ref) {
		s.t.Fatalf("%s: %d values, reference has %d", what, len(got), len(ref))
	}
	bad, worst, worstRatio := 0, -1, 0.0
	var pairs string
	for i := range got {
		if float64(got[i]) == ref[i] { // also equal infinities
			continue
		}
		err := math.Abs(float64(got[i]) - ref[i])
		lim := tol(i)
		ok := err <= lim
		if math.IsNaN(err) {
			ok = math.IsNaN(ref[i]) && math.IsNaN(float64(got[i]))
			err = math.Inf(1)
		}
		if ok {
			continue
		}
		bad++
		if r := err / lim; worst < 0 || r > worstRatio {
			worst, worstRatio = i, r
		}
		if bad <= 5 {
			pairs += fmt.Sprintf("\n  [%d] got %.9g ref %.9g (err %.3g > tol %.3g)", i, got[i], ref[i], err, lim)
		}
	}
	if bad > 0 {
		s.t.Errorf("%s: %d of %d elements out of tolerance; worst [%d] got %.9g ref %.9g (%.3g× its tolerance); first failures:%s",
			what, bad, len(got), worst, got[worst], ref[worst], worstRatio, pairs)
	}
}

// scalarNear checks one float64 result.
func (s *suite) scalarNear(what string, got, ref, atol, rtol float64) {
	s.t.Helper()
	if err := math.Abs(got - ref); !(err <= atol+rtol*math.Abs(ref)) {
		s.t.Errorf("%s: got %.12g ref %.12g (err %.3g > tol %.3g)", what, got, ref, err, atol+rtol*math.Abs(ref))
	}
}

// checkFD asserts that a float64 reference gradient matches central finite differences of the
// reference function: it validates the suite's own analytic formulas before they judge a
// backend. f is evaluated at x with x[i] moved by ±h for every i.
func (s *suite) checkFD(what string, f func(x []float64) float64, x, grad []float64) {
	s.t.Helper()
	fd := make([]float64, len(x))
	for i := range x {
		h := 1e-6 * math.Max(1, math.Abs(x[i]))
		keep := x[i]
		x[i] = keep + h
		fp := f(x)
		x[i] = keep - h
		fm := f(x)
		x[i] = keep
		fd[i] = (fp - fm) / (2 * h)
	}
	scale := maxAbs(fd)
	for i := range fd {
		if err := math.Abs(fd[i] - grad[i]); !(err <= 1e-5*scale+1e-5*math.Abs(fd[i])) {
			s.t.Fatalf("%s: the suite's reference gradient disagrees with finite differences at %d: analytic %.12g, FD %.12g",
				what, i, grad[i], fd[i])
		}
	}
}
