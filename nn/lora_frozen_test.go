package nn

import (
	"testing"

	"github.com/flowtune/flowtune/tensor"
)

// TestFreezeAdapter: a frozen adapter gives the literal LoRA formula (to rounding) without
// gradients, is ignored with gradients on or with another adapter active, and release restores
// the unmerged path exactly.
func TestFreezeAdapter(t *testing.T) {
	l := &Linear{
		Weight: tensor.New(cpu, []float32{0.1, -0.2, 0.3, 0.4, 0.5, -0.6}, 2, 3),
		Bias:   tensor.New(cpu, []float32{0.05, -0.1}, 2),
	}
	a := l.AddAdapter("policy", 2, 3, tensor.NewRNG(1))
	a.A.SetData([]float32{1, 0, -1, 0.5, 2, 1})
	a.B.SetData([]float32{0.3, -0.7, 1.1, 0.2})
	other := l.AddAdapter("old", 2, 3, tensor.NewRNG(2))
	other.B.SetData([]float32{1, 2, 3, 4})
	x := tensor.New(cpu, []float32{1, 2, -1, 0.5, -1, 3}, 2, 3)
	want := []float64{-3.325, 6.25, -1.2375, -5.95}

	l.Use("policy")
	taped := l.Forward(x).Data() // the unmerged path
	release := FreezeAdapter(l, "policy")
	var frozen []float32
	tensor.NoGrad(func() { frozen = l.Forward(x).Data() })
	checkClose(t, "frozen, no grad", f64(frozen), want, 1e-6, 1e-6)
	if l.frozen == nil {
		t.Fatal("FreezeAdapter kept no merged weight")
	}
	checkEqual(t, "frozen, grads on (unmerged path)", l.Forward(x).Data(), taped)
	l.Use("old")
	var old []float32
	tensor.NoGrad(func() { old = l.Forward(x).Data() })
	checkClose(t, "another adapter active", f64(old), refLoRA(f64(x.Data()), 2, l, other), 1e-6, 1e-6)
	l.Use("policy")
	release()
	if l.frozen != nil || l.frozenFor != nil {
		t.Fatal("release left the merged weight")
	}
	var after []float32
	tensor.NoGrad(func() { after = l.Forward(x).Data() })
	checkEqual(t, "released", after, taped)
	defer func() {
		if recover() == nil {
			t.Error("FreezeAdapter of a missing adapter did not panic")
		}
	}()
	FreezeAdapter(l, "missing")
}
