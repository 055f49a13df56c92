package tensor_test

import (
	"math"
	"runtime"
	"strings"
	"testing"

	"github.com/flowtune/flowtune/tensor"
	"github.com/flowtune/flowtune/tensor/backendtest"
)

// TestCPUConformance runs the backend conformance suite on the CPU reference backend.
func TestCPUConformance(t *testing.T) {
	backendtest.Run(t, tensor.CPU())
}

// foreignStorage belongs to no real backend: handing it to the CPU backend is a programming
// error that must panic with a message saying so.
type foreignStorage struct{}

func (foreignStorage) Backend() tensor.Backend { return fakeBackend{} }
func (foreignStorage) Len() int                { return 1 }
func (foreignStorage) DType() tensor.DType     { return tensor.Float32 }

type fakeBackend struct{ tensor.Backend }

func (fakeBackend) Name() string { return "fake" }

// cpuMustPanic runs f and checks that it panics with a message containing every word of want.
func cpuMustPanic(t *testing.T, what string, f func(), want ...string) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if r == nil {
			t.Fatalf("%s: no panic", what)
		}
		msg, _ := r.(string)
		for _, w := range want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: panic %q does not mention %q", what, msg, w)
			}
		}
	}()
	f()
}

func TestCPUMisuse(t *testing.T) {
	cpu := tensor.CPU()
	if cpu.Name() != "cpu" || tensor.CPU() != cpu {
		t.Fatalf("CPU() = %v named %q: want one process-wide backend named cpu", cpu, cpu.Name())
	}
	cpuMustPanic(t, "Alloc bfloat16", func() { cpu.Alloc(4, tensor.BFloat16) }, "bfloat16", "float32")
	cpuMustPanic(t, "Upload length", func() { cpu.Upload(cpu.Alloc(3, tensor.Float32), make([]float32, 4)) }, "Upload", "4", "3")
	cpuMustPanic(t, "foreign storage", func() { cpu.Fill(foreignStorage{}, 1) }, "fake")
	s := cpu.Alloc(2, tensor.Float32)
	if s.Backend() != cpu || s.Len() != 2 || s.DType() != tensor.Float32 {
		t.Errorf("storage reports backend %v, len %d, dtype %v", s.Backend().Name(), s.Len(), s.DType())
	}
}

// TestCPUDeterministic runs the primitives that add across parallel chunks with 1 and with 4
// goroutines: the results must be the same bits, so a seeded run reproduces on any machine.
func TestCPUDeterministic(t *testing.T) {
	cpu := tensor.CPU()
	fill := func(n int, seed uint64) tensor.Storage {
		s := cpu.Alloc(n, tensor.Float32)
		cpu.RandNormal(s, seed, 0)
		return s
	}
	get := func(s tensor.Storage) []float32 {
		out := make([]float32, s.Len())
		cpu.Download(out, s)
		return out
	}
	const rows, cols = 1000, 257
	run := func() (out [][]float32, ss float64) {
		x, dy, w := fill(rows*cols, 1), fill(rows*cols, 2), fill(cols, 3)
		sum := cpu.Alloc(cols, tensor.Float32)
		cpu.Sum(sum, x, 1, rows, cols)
		y, mean, rstd, dx := cpu.Alloc(rows*cols, 0), cpu.Alloc(rows, 0), cpu.Alloc(rows, 0), cpu.Alloc(rows*cols, 0)
		dw, db := cpu.Alloc(cols, 0), cpu.Alloc(cols, 0)
		cpu.LayerNorm(y, mean, rstd, x, w, nil, rows, cols, 1e-5)
		cpu.LayerNormBackward(dx, dw, db, dy, x, mean, rstd, w, rows, cols)
		drw := cpu.Alloc(cols, 0)
		cpu.RMSNorm(y, rstd, x, w, rows, cols, 1e-6)
		cpu.RMSNormBackward(dx, drw, dy, x, rstd, w, rows, cols)
		a := tensor.AttnArgs{B: 1, H: 2, Lq: 100, Lk: 300, Dh: 16, Scale: 0.25}
		q, k, v, do := fill(3200, 4), fill(9600, 5), fill(9600, 6), fill(3200, 7)
		o, lse, dq, dk, dv := cpu.Alloc(3200, 0), cpu.Alloc(200, 0), cpu.Alloc(3200, 0), cpu.Alloc(9600, 0), cpu.Alloc(9600, 0)
		cpu.Attention(o, lse, q, k, v, nil, a)
		cpu.AttentionBackward(dq, dk, dv, do, q, k, v, o, lse, nil, a)
		for _, s := range []tensor.Storage{sum, dw, db, drw, o, dq, dk, dv} {
			out = append(out, get(s))
		}
		return out, cpu.SumSquares(x)
	}
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	one, ss1 := run()
	runtime.GOMAXPROCS(4)
	four, ss4 := run()
	if ss1 != ss4 {
		t.Errorf("SumSquares: %v with 1 goroutine, %v with 4", ss1, ss4)
	}
	for i := range one {
		for j := range one[i] {
			if math.Float32bits(one[i][j]) != math.Float32bits(four[i][j]) {
				t.Errorf("result %d differs at %d: %v with 1 goroutine, %v with 4", i, j, one[i][j], four[i][j])
				break
			}
		}
	}
}
