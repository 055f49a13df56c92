package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// awkward sizes: 1, primes and off-by-ones around the tile and vector widths.
var awkward = []int{1, 2, 5, 7, 15, 17, 31, 33, 64, 65, 100, 257}

// testKernels are all kernels this machine runs, plus copies with tiny cache blocks so that
// modest sizes already cross every loop boundary of the driver (several jc, pc and ic blocks,
// ragged last blocks, row blocks that are not a multiple of the tile).
func testKernels() []*microKernel {
	var ks []*microKernel
	for _, k := range kernels {
		ks = append(ks, k)
		tiny := *k
		tiny.name += "-tinyblocks"
		tiny.kc, tiny.mc, tiny.nc = 13, 2*k.mr, 3*k.nr+5
		ks = append(ks, &tiny)
	}
	return ks
}

// problem is one Sgemm call: operands with padded strides (padding filled with NaN so that a
// read outside the matrix poisons the result) and a C whose padding must stay untouched.
type problem struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a, b, c        []float32
	lda, ldb, ldc  int
}

func newProblem(rng *rand.Rand, transA, transB bool, m, n, k, pad int, alpha, beta float32) *problem {
	p := &problem{transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, beta: beta}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	p.lda, p.ldb, p.ldc = ac+pad, bc+pad, n+pad
	p.a = randMatrix(rng, ar, ac, p.lda, float32(math.NaN()))
	p.b = randMatrix(rng, br, bc, p.ldb, float32(math.NaN()))
	p.c = randMatrix(rng, m, n, p.ldc, -7) // sentinel padding, checked after the call
	return p
}

// randMatrix returns rows×cols uniform values in [-1, 1) stored with row stride ld; the
// padding columns hold fill.
func randMatrix(rng *rand.Rand, rows, cols, ld int, fill float32) []float32 {
	x := make([]float32, max(0, (rows-1)*ld+cols))
	for i := range x {
		if i%ld < cols {
			x[i] = 2*rng.Float32() - 1
		} else {
			x[i] = fill
		}
	}
	return x
}

func (p *problem) String() string {
	return fmt.Sprintf("transA=%v transB=%v m=%d n=%d k=%d lda=%d ldb=%d ldc=%d alpha=%g beta=%g",
		p.transA, p.transB, p.m, p.n, p.k, p.lda, p.ldb, p.ldc, p.alpha, p.beta)
}

// check runs the kernel on a copy of C and compares with sgemmRef. The tolerance follows the
// project rule |got − ref| ≤ atol + rtol·|ref|, with atol growing with k because the two
// sum in different orders (inputs are O(1), so rounding error grows at most ~k·eps).
func (p *problem) check(t *testing.T, kern *microKernel, workers int) {
	t.Helper()
	want := append([]float32(nil), p.c...)
	got := append([]float32(nil), p.c...)
	sgemmRef(p.transA, p.transB, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, want, p.ldc)
	sgemmWith(kern, workers, p.transA, p.transB, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, got, p.ldc)
	atol := 1e-6 * float64(p.k+1)
	if msg := compare(got, want, p.n, p.ldc, atol, 1e-5); msg != "" {
		t.Fatalf("%s workers=%d %v: %s", kern.name, workers, p, msg)
	}
}

// compare checks the m×n matrices (stride ld) elementwise and that padding is bit-identical.
// It returns "" or a description of the worst element and the first few mismatches.
func compare(got, want []float32, n, ld int, atol, rtol float64) string {
	worst, worstExcess := -1, 0.0
	var bad []string
	for i := range want {
		g, w := float64(got[i]), float64(want[i])
		if i%ld >= n {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				return fmt.Sprintf("padding element %d changed: %g, was %g", i, g, w)
			}
			continue
		}
		excess := math.Abs(g-w) - (atol + rtol*math.Abs(w))
		if math.IsNaN(g) || math.IsNaN(w) {
			excess = math.Inf(1)
		}
		if excess > 0 {
			if len(bad) < 4 {
				bad = append(bad, fmt.Sprintf("(%d,%d): got %g want %g", i/ld, i%ld, g, w))
			}
			if worst < 0 || excess > worstExcess {
				worst, worstExcess = i, excess
			}
		}
	}
	if worst < 0 {
		return ""
	}
	return fmt.Sprintf("worst at (%d,%d): got %g want %g (atol %.2g rtol %.2g); first: %s",
		worst/ld, worst%ld, got[worst], want[worst], atol, rtol, strings.Join(bad, ", "))
}

var scalars = [][2]float32{{1, 0}, {1, 1}, {-0.5, 0.3}, {2, 0}, {0.75, -1}}

// TestSgemmAwkwardSizes sweeps every awkward size through m, n and k in turn (the other two
// fixed at awkward values), then random combinations, over all four transpose combinations,
// every kernel and 1–3 workers.
func TestSgemmAwkwardSizes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, kern := range testKernels() {
		for tr := 0; tr < 4; tr++ {
			transA, transB := tr&1 != 0, tr&2 != 0
			var dims [][3]int
			for _, s := range awkward {
				dims = append(dims, [3]int{s, 33, 17}, [3]int{31, s, 65}, [3]int{17, 15, s})
			}
			for range 12 {
				dims = append(dims, [3]int{awkward[rng.IntN(len(awkward))], awkward[rng.IntN(len(awkward))], awkward[rng.IntN(len(awkward))]})
			}
			for i, d := range dims {
				s := scalars[i%len(scalars)]
				p := newProblem(rng, transA, transB, d[0], d[1], d[2], i%3*5, s[0], s[1])
				p.check(t, kern, 1+i%3)
			}
		}
	}
}

// TestSgemmLarge covers sizes with several full cache blocks in each direction.
func TestSgemmLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("large products are slow in -short mode")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, kern := range kernels {
		for tr := 0; tr < 4; tr++ {
			p := newProblem(rng, tr&1 != 0, tr&2 != 0, 300, 290, 530, 3, 1.5, 0.5)
			p.check(t, kern, 2)
		}
	}
}

// TestSgemmBetaZeroIgnoresNaN: with beta = 0 the old C must be overwritten, not multiplied by
// zero (0·NaN = NaN); with k = 0 or alpha = 0, C = beta·C without reading A or B.
func TestSgemmBetaZeroIgnoresNaN(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	nan := float32(math.NaN())
	for _, kern := range testKernels() {
		for _, d := range [][3]int{{1, 1, 1}, {14, 32, 5}, {29, 70, 300}, {6, 16, 1}} {
			p := newProblem(rng, false, true, d[0], d[1], d[2], 2, 0.5, 0)
			for i := range p.c {
				if i%p.ldc < p.n {
					p.c[i] = nan
				}
			}
			got := append([]float32(nil), p.c...)
			sgemmWith(kern, 2, p.transA, p.transB, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, 0, got, p.ldc)
			want := make([]float32, len(p.c))
			copy(want, p.c)
			sgemmRef(p.transA, p.transB, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, 0, want, p.ldc)
			if msg := compare(got, want, p.n, p.ldc, 1e-6*float64(p.k+1), 1e-5); msg != "" {
				t.Fatalf("%s %v: %s", kern.name, p, msg)
			}
		}
	}

	// k = 0: C = beta·C, and with beta = 0 the NaNs are replaced by zeros.
	c := []float32{nan, 1, -7, 2, nan, -7}
	Sgemm(false, false, 2, 2, 0, 1, nil, 0, nil, 2, 0, c, 3)
	wantC := []float32{0, 0, -7, 0, 0, -7}
	if msg := compare(c, wantC, 2, 3, 0, 0); msg != "" {
		t.Fatalf("k=0 beta=0: %s", msg)
	}
	c = []float32{3, 1, -7, 2, -4, -7}
	Sgemm(true, true, 2, 2, 0, 1, nil, 2, nil, 0, 0.5, c, 3)
	wantC = []float32{1.5, 0.5, -7, 1, -2, -7}
	if msg := compare(c, wantC, 2, 3, 0, 0); msg != "" {
		t.Fatalf("k=0 beta=0.5: %s", msg)
	}
	// alpha = 0: A and B (here all NaN) are not read.
	a := []float32{nan, nan, nan, nan}
	c = []float32{3, 1, 2, -4}
	Sgemm(false, false, 2, 2, 2, 0, a, 2, a, 2, 2, c, 2)
	if msg := compare(c, []float32{6, 2, 4, -8}, 2, 2, 0, 0); msg != "" {
		t.Fatalf("alpha=0: %s", msg)
	}
}

// TestSgemmPublicPath runs the exported entry point (default kernel, automatic worker count)
// on a product big enough to be split across workers.
func TestSgemmPublicPath(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	p := newProblem(rng, true, false, 257, 200, 129, 1, 1, 0.5)
	want := append([]float32(nil), p.c...)
	sgemmRef(p.transA, p.transB, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, want, p.ldc)
	Sgemm(p.transA, p.transB, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, p.c, p.ldc)
	if msg := compare(p.c, want, p.n, p.ldc, 1e-6*float64(p.k+1), 1e-5); msg != "" {
		t.Fatalf("%s %v: %s", KernelName(), p, msg)
	}
}

// TestSgemmPanicsOnBadArgs: strides shorter than a row and slices shorter than their matrix
// are programmer errors.
func TestSgemmPanicsOnBadArgs(t *testing.T) {
	x := make([]float32, 12)
	cases := []struct {
		name string
		call func()
		want string
	}{
		{"short lda", func() { Sgemm(false, false, 2, 2, 3, 1, x, 2, x, 2, 0, x, 2) }, "lda=2 < 3"},
		{"short ldb transposed", func() { Sgemm(false, true, 2, 2, 3, 1, x, 3, x, 2, 0, x, 2) }, "ldb=2 < 3"},
		{"short c", func() { Sgemm(false, false, 4, 3, 1, 1, x, 1, x, 3, 0, x[:11], 3) }, "len(c)=11 < 12"},
		{"negative m", func() { Sgemm(false, false, -1, 2, 2, 1, x, 2, x, 2, 0, x, 2) }, "negative dimension"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if r == nil || !strings.Contains(fmt.Sprint(r), tc.want) {
					t.Fatalf("panic = %v, want one mentioning %q", r, tc.want)
				}
			}()
			tc.call()
		})
	}
}

// TestDetectedKernels: the kernel list always ends with the portable Go kernel, and each
// assembly kernel's tile fits the register file it was written for.
func TestDetectedKernels(t *testing.T) {
	if kernels[len(kernels)-1] != goKernel {
		t.Fatalf("last kernel is %s, want %s", kernels[len(kernels)-1].name, goKernel.name)
	}
	for _, k := range kernels {
		t.Logf("kernel %s: mr=%d nr=%d kc=%d mc=%d nc=%d", k.name, k.mr, k.nr, k.kc, k.mc, k.nc)
		if k.mc%k.mr != 0 || k.nc%k.nr != 0 {
			t.Errorf("%s: mc=%d, nc=%d not multiples of the %d×%d tile", k.name, k.mc, k.nc, k.mr, k.nr)
		}
	}
}
