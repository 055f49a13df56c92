//go:build cuda

package cuda

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/flowtune/flowtune/tensor"
	"github.com/flowtune/flowtune/tensor/backendtest"
)

// Tier-2 tests: the conformance suite and CUDA-specific checks on a real GPU. Without a device
// (or driver) every test skips with the reason.

var (
	gpu     *Backend
	openErr error
)

func TestMain(m *testing.M) {
	gpu, openErr = Open(Options{})
	if openErr == nil {
		fmt.Fprintf(os.Stderr, "cuda: %s\n", gpu.Info())
	}
	os.Exit(m.Run())
}

func need(tb testing.TB) *Backend {
	tb.Helper()
	if openErr != nil {
		tb.Skipf("no usable CUDA device: %v", openErr)
	}
	return gpu
}

// withMatMul runs f with the backend's matmul precision set to p.
func withMatMul(b *Backend, p Precision, f func()) {
	old := b.Options().MatMul
	b.SetMatMul(p)
	defer b.SetMatMul(old)
	f()
}

// TestKernelImage checks that Open loaded the image chosen for the card, without falling back.
func TestKernelImage(t *testing.T) {
	b := need(t)
	info := b.Info()
	want, err := imageFromEnv(info.Major, info.Minor)
	if err != nil {
		t.Fatal(err)
	}
	if info.Image != want || info.ImageNote != "" {
		t.Errorf("sm_%d%d loaded the %s image (%s), want %s", info.Major, info.Minor, info.Image, info.ImageNote, want)
	}
	if len(kernelNames()) < 40 {
		t.Errorf("only %d kernels found in the PTX", len(kernelNames()))
	}
}

func TestConformance(t *testing.T) {
	b := need(t)
	withMatMul(b, FP32, func() { backendtest.Run(t, b) })
}

func TestConformanceTF32(t *testing.T) {
	b := need(t)
	withMatMul(b, TF32, func() { backendtest.RunWith(t, b, backendtest.Options{MatMulTol: 2e-3}) })
}

func TestConformanceBF16(t *testing.T) {
	b := need(t)
	withMatMul(b, BF16, func() { backendtest.RunWith(t, b, backendtest.Options{MatMulTol: 1e-2}) })
}

// The validating wrapper must pass the suite too (it forwards the GPU's results) and must not
// raise false alarms on it.
func TestConformanceValidating(t *testing.T) {
	b := need(t)
	withMatMul(b, FP32, func() { backendtest.Run(t, NewValidating(b, tensor.CPU())) })
}

func randn(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

func put(b tensor.Backend, v []float32, dt tensor.DType) tensor.Storage {
	s := b.Alloc(len(v), dt)
	b.Upload(s, v)
	return s
}

func get(b tensor.Backend, s tensor.Storage) []float32 {
	v := make([]float32, s.Len())
	b.Download(v, s)
	return v
}

func roundBF16(v []float32) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = fromBF16(toBF16(x))
	}
	return out
}

// closeTo checks |got − want| ≤ tol·max|want| elementwise, reporting the worst index.
func closeTo(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	scale := 0.0
	for _, w := range want {
		scale = math.Max(scale, math.Abs(float64(w)))
	}
	worst, wi := 0.0, -1
	for i := range got {
		e := math.Abs(float64(got[i]) - float64(want[i]))
		if math.IsNaN(e) {
			e = math.Inf(1)
		}
		if e > worst {
			worst, wi = e, i
		}
	}
	if worst > tol*scale {
		t.Errorf("%s: worst error %.3g at [%d] (got %v want %v) > %.3g·%.3g", what, worst, wi, got[wi], want[wi], tol, scale)
	}
}

// TestMatMulLarge runs the GEMM kernels on multi-tile shapes (aligned and not) in all layouts
// and precisions against the CPU backend on the same (bf16-rounded where the device rounds)
// inputs, including the accumulate-over-batch case (StrideC = 0).
func TestMatMulLarge(t *testing.T) {
	b := need(t)
	cpu := tensor.CPU()
	r := rand.New(rand.NewPCG(1, 2))
	shapes := [][3]int{{512, 384, 640}, {300, 520, 1000}, {129, 257, 33}}
	for _, prec := range []Precision{FP32, TF32, BF16} {
		for _, sh := range shapes {
			for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
				for _, accum := range []bool{false, true} {
					m, n, k := sh[0], sh[1], sh[2]
					batch := 2
					args := tensor.MatMulArgs{Batch: batch, M: m, N: n, K: k, TransA: tr[0], TransB: tr[1], Alpha: 0.5, Beta: 0.25,
						StrideA: m * k, StrideB: k * n, StrideC: m * n}
					if accum {
						args.StrideC, args.Beta = 0, 1
					}
					name := fmt.Sprintf("%s/%dx%dx%d/%s/accum=%v", prec, m, n, k, layout(tr[0], tr[1]), accum)
					t.Run(name, func(t *testing.T) {
						a, bb := randn(r, batch*m*k), randn(r, batch*k*n)
						c0 := randn(r, batch*m*n)
						if prec == BF16 {
							a, bb = roundBF16(a), roundBF16(bb)
						}
						cc := put(cpu, c0, tensor.Float32)
						cpu.MatMul(cc, put(cpu, a, tensor.Float32), put(cpu, bb, tensor.Float32), args)
						gc := put(b, c0, tensor.Float32)
						withMatMul(b, prec, func() {
							b.MatMul(gc, put(b, a, tensor.Float32), put(b, bb, tensor.Float32), args)
						})
						tol := map[Precision]float64{FP32: 1e-5, TF32: 3e-3, BF16: 2e-5}[prec]
						closeTo(t, name, get(b, gc), get(cpu, cc), tol)
					})
				}
			}
		}
	}
}

// TestBFloat16Storage: bf16 storages round on upload, copy exactly, and feed the bf16 GEMM.
func TestBFloat16Storage(t *testing.T) {
	b := need(t)
	r := rand.New(rand.NewPCG(3, 4))
	v := randn(r, 1000)
	s := put(b, v, tensor.BFloat16)
	if s.DType() != tensor.BFloat16 {
		t.Fatalf("dtype %v", s.DType())
	}
	closeTo(t, "bf16 round trip", get(b, s), roundBF16(v), 0)
	d := b.Alloc(1000, tensor.BFloat16)
	b.CopyBlocks(d, 1, 10, s, 0, 10, 99, 7)
	got, want := get(b, d), make([]float32, 1000)
	src := roundBF16(v)
	for row := 0; row < 99; row++ {
		copy(want[1+row*10:1+row*10+7], src[row*10:row*10+7])
	}
	closeTo(t, "bf16 CopyBlocks", got, want, 0)
	b.Fill(d, 1.5)
	closeTo(t, "bf16 Fill", get(b, d)[:3], []float32{1.5, 1.5, 1.5}, 0)

	m, n, k := 200, 136, 264
	a, bb := randn(r, m*k), randn(r, k*n)
	c := b.Alloc(m*n, tensor.Float32)
	b.MatMul(c, put(b, a, tensor.BFloat16), put(b, bb, tensor.BFloat16), tensor.MatMulArgs{Batch: 1, M: m, N: n, K: k, Alpha: 1})
	cpu := tensor.CPU()
	cc := cpu.Alloc(m*n, tensor.Float32)
	cpu.MatMul(cc, put(cpu, roundBF16(a), tensor.Float32), put(cpu, roundBF16(bb), tensor.Float32), tensor.MatMulArgs{Batch: 1, M: m, N: n, K: k, Alpha: 1})
	closeTo(t, "bf16 MatMul", get(b, c), get(cpu, cc), 2e-5)
}

func mustPanic(t *testing.T, want string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if r == nil {
			t.Fatalf("no panic, want one mentioning %q", want)
		}
		if msg := fmt.Sprint(r); !strings.Contains(msg, want) {
			t.Fatalf("panic %q does not mention %q", msg, want)
		}
	}()
	f()
}

func TestMisuseAndErrors(t *testing.T) {
	b := need(t)
	mustPanic(t, "storage of backend cpu", func() { b.Fill(tensor.CPU().Alloc(3, tensor.Float32), 1) })
	s := b.Alloc(4, tensor.Float32)
	b.Free(s)
	mustPanic(t, "after Free", func() { b.Fill(s, 1) })
	mustPanic(t, "needs float32", func() { b.Unary(tensor.OpExp, b.Alloc(2, tensor.BFloat16), b.Alloc(2, tensor.BFloat16), 0) })
	mustPanic(t, "head dimension 129", func() {
		a := tensor.AttnArgs{B: 1, H: 1, Lq: 1, Lk: 1, Dh: 129, Scale: 1}
		b.Attention(b.Alloc(129, tensor.Float32), b.Alloc(1, tensor.Float32), b.Alloc(129, tensor.Float32),
			b.Alloc(129, tensor.Float32), b.Alloc(129, tensor.Float32), nil, a)
	})
	if _, err := Open(Options{Device: 999}); err == nil || !strings.Contains(err.Error(), "999") {
		t.Errorf("Open(device 999) = %v, want an error naming the device", err)
	}
	// A driver failure inside a launch surfaces as *Error naming op and kernel: a block of 2048
	// threads is invalid on every GPU.
	mustPanic(t, "cuda: bad-launch (kernel fill_f32)", func() {
		d := b.Alloc(8, tensor.Float32).(*buffer)
		defer b.exit(b.enter("bad-launch"))
		b.launch("fill_f32", dim3{1, 1, 1}, dim3{2048, 1, 1}, 0, ptr(d), f32(1), i32(8))
	})
	// The backend still works afterwards.
	x := b.Alloc(5, tensor.Float32)
	b.Fill(x, 2)
	closeTo(t, "after a failed launch", get(b, x), []float32{2, 2, 2, 2, 2}, 0)
}

func TestSyncDebug(t *testing.T) {
	b := need(t)
	b.mu.Lock()
	b.opt.SyncDebug = true
	b.mu.Unlock()
	defer func() { b.mu.Lock(); b.opt.SyncDebug = false; b.mu.Unlock() }()
	x := put(b, []float32{1, 4, 9}, tensor.Float32)
	y := b.Alloc(3, tensor.Float32)
	b.Unary(tensor.OpSqrt, y, x, 0)
	closeTo(t, "sqrt under sync-debug", get(b, y), []float32{1, 2, 3}, 1e-7)
}

// skewed is a reference backend with a planted bug in Unary.
type skewed struct{ tensor.Backend }

func (s skewed) Unary(op tensor.UnaryOp, dst, x tensor.Storage, p float32) {
	s.Backend.Unary(op, dst, x, p)
	v := get(s.Backend, dst)
	v[2] += 1
	s.Backend.Upload(dst, v)
}

func TestValidateReportsDivergence(t *testing.T) {
	b := need(t)
	w := NewValidating(b, skewed{tensor.CPU()})
	x := put(w, []float32{0, 1, 2, 3}, tensor.Float32)
	y := w.Alloc(4, tensor.Float32)
	w.Axpby(y, 2, x, 1, x) // agrees
	closeTo(t, "validated axpby", get(w, y), []float32{0, 3, 6, 9}, 0)
	mustPanic(t, "Unary exp: output dst (4 elements) diverges first at index 2", func() { w.Unary(tensor.OpExp, y, x, 0) })
}

func TestProfileSteps(t *testing.T) {
	b := need(t)
	p := ProfileSteps(b, 1, 2)
	for i := 0; i < 4; i++ {
		p.Step(i)
		end := Range("step")
		b.Fill(b.Alloc(16, tensor.Float32), float32(i))
		end()
	}
	p.Stop()
	if p.Capturing() {
		t.Error("still capturing after Stop")
	}
}

// ---- benchmarks (tier 3: speed is reported, never asserted) --------------------------------

func benchOp(bm *testing.B, b *Backend, flops, bytes float64, f func()) {
	f() // warm up (and JIT/attribute setup)
	b.Synchronize()
	bm.ResetTimer()
	ms := b.Time(bm.N, f)
	bm.StopTimer()
	if flops > 0 {
		bm.ReportMetric(flops/(ms*1e-3)/1e12, "TFLOP/s")
	}
	if bytes > 0 {
		bm.ReportMetric(bytes/(ms*1e-3)/1e9, "GB/s")
	}
	bm.ReportMetric(ms*1e3, "µs/op")
}

func BenchmarkMatMul4096(bm *testing.B) {
	b := need(bm)
	const n = 4096
	for _, prec := range []Precision{BF16, TF32, FP32} {
		bm.Run(prec.String(), func(bm *testing.B) {
			dt := tensor.Float32
			if prec == BF16 {
				dt = tensor.BFloat16
			}
			a, bb, c := b.Alloc(n*n, dt), b.Alloc(n*n, dt), b.Alloc(n*n, tensor.Float32)
			b.RandNormal(c, 1, 0)
			withMatMul(b, prec, func() {
				benchOp(bm, b, 2*n*n*n, 0, func() {
					b.MatMul(c, a, bb, tensor.MatMulArgs{Batch: 1, M: n, N: n, K: n, Alpha: 1})
				})
			})
		})
	}
}

func BenchmarkAttention(bm *testing.B) {
	b := need(bm)
	for _, L := range []int{256, 1024, 4096} {
		a := tensor.AttnArgs{B: 2, H: 8, Lq: L, Lk: L, Dh: 64, Scale: 0.125}
		n, nl := a.B*a.H*L*a.Dh, a.B*a.H*L
		q, k, v, o, lse := b.Alloc(n, tensor.Float32), b.Alloc(n, tensor.Float32), b.Alloc(n, tensor.Float32), b.Alloc(n, tensor.Float32), b.Alloc(nl, tensor.Float32)
		for i, s := range []tensor.Storage{q, k, v} {
			b.RandNormal(s, uint64(i), 0)
		}
		fwd := 4 * float64(a.B*a.H) * float64(L) * float64(L) * float64(a.Dh)
		bm.Run(fmt.Sprintf("fwd/L=%d", L), func(bm *testing.B) {
			benchOp(bm, b, fwd, 0, func() { b.Attention(o, lse, q, k, v, nil, a) })
		})
		dq, dk, dv := b.Alloc(n, tensor.Float32), b.Alloc(n, tensor.Float32), b.Alloc(n, tensor.Float32)
		bm.Run(fmt.Sprintf("bwd/L=%d", L), func(bm *testing.B) {
			benchOp(bm, b, 2.5*fwd, 0, func() { b.AttentionBackward(dq, dk, dv, o, q, k, v, o, lse, nil, a) })
		})
	}
}

func BenchmarkStreaming(bm *testing.B) {
	b := need(bm)
	const n = 1 << 26
	x, v, z, y := b.Alloc(n, tensor.Float32), b.Alloc(n, tensor.Float32), b.Alloc(n, tensor.Float32), b.Alloc(n, tensor.Float32)
	m, g := b.Alloc(n, tensor.Float32), b.Alloc(n, tensor.Float32)
	lp := b.Alloc(16, tensor.Float32)
	bm.Run("Axpby", func(bm *testing.B) { benchOp(bm, b, 0, 12*n, func() { b.Axpby(y, 1, x, -0.1, v) }) })
	bm.Run("AdamW", func(bm *testing.B) {
		benchOp(bm, b, 0, 28*n, func() {
			b.AdamW(x, g, m, v, tensor.AdamWArgs{LR: 1e-4, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01, Step: 3, GradScale: 1})
		})
	})
	bm.Run("SDEStep", func(bm *testing.B) {
		a := tensor.SDEArgs{Kind: tensor.SDEFlow, Batch: 16, Dim: n / 16, Sigma: 0.8, SigmaNext: 0.7, ST: 0.7}
		benchOp(bm, b, 0, 16*n, func() { b.SDEStep(y, lp, x, v, z, a) })
	})
}
