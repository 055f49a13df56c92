package tensor_test

import (
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
