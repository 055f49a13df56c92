package nn

import (
	"strings"
	"testing"

	"github.com/flowtune/flowtune/tensor"
)

func mustPanic(t *testing.T, what, substr string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if r == nil {
			t.Errorf("%s: no panic", what)
		} else if msg, _ := r.(string); !strings.Contains(msg, substr) {
			t.Errorf("%s: panic %v, want it to mention %q", what, r, substr)
		}
	}()
	f()
}

// dupModule names two different tensors alike.
type dupModule struct{ a, b *tensor.Tensor }

func (d dupModule) Params(prefix string, visit func(string, *tensor.Tensor)) {
	visit(Join(prefix, "w"), d.a)
	visit(Join(prefix, "w"), d.b)
}

func TestModuleWalkAndMisuse(t *testing.T) {
	rng := tensor.NewRNG(1)
	m := List[*MLP]{NewMLP(cpu, 4, 8, rng), NewMLP(cpu, 4, 8, rng)}
	var paths []string
	Walk(m, func(p string, _ Module) { paths = append(paths, p) })
	if got := strings.Join(paths, ","); got != ",0,0.fc1,0.fc2,1,1.fc1,1.fc2" {
		t.Errorf("walk order %q", got)
	}
	if n := CountParams(m); n != 2*(4*8+8+8*4+4) {
		t.Errorf("CountParams %d", n)
	}
	// Only the layers the filter picks get the adapter.
	if n := AddAdapter(m, "policy", 2, 2, rng, func(p string) bool { return strings.HasSuffix(p, "fc2") }); n != 2 {
		t.Errorf("adapted %d layers, want 2", n)
	}
	if m[0].FC1.Adapter("policy") != nil || m[1].FC2.Adapter("policy") == nil {
		t.Error("filter not applied")
	}
	// Gradients accumulate and ZeroGrads clears them.
	x := rng.Normal(cpu, 3, 4)
	tensor.Sum(m[1].Forward(m[0].Forward(x))).Backward()
	if m[0].FC1.Weight.Grad() == nil {
		t.Fatal("no gradient")
	}
	ZeroGrads(m)
	for _, p := range NamedParams(m) {
		if p.P.Grad() != nil {
			t.Fatalf("%s still has a gradient", p.Name)
		}
	}

	// Construction is deterministic per seed.
	m2 := List[*MLP]{NewMLP(cpu, 4, 8, tensor.NewRNG(1)), NewMLP(cpu, 4, 8, tensor.NewRNG(1))}
	checkEqual(t, "same seed, same weights", m2[0].FC1.Weight.Data(), NewMLP(cpu, 4, 8, tensor.NewRNG(1)).FC1.Weight.Data())
	if maxDiff(m2[0].FC1.Weight.Data(), m2[0].FC2.Weight.Data()[:32]) == 0 {
		t.Error("two layers drew the same weights")
	}

	mustPanic(t, "duplicate names", "two parameters", func() { NamedParams(dupModule{tensor.Zeros(cpu, 1), tensor.Zeros(cpu, 1)}) })
	mustPanic(t, "no layer matched", "no Linear", func() { AddAdapter(m, "x", 2, 2, rng, func(string) bool { return false }) })
	mustPanic(t, "unknown adapter", "no layer has", func() { UseAdapter(m, "nope") })
	mustPanic(t, "adapter twice", "already exists", func() { AddAdapter(m, "policy", 2, 2, rng, nil) })
	mustPanic(t, "dotted name", "without dots", func() { AddAdapter(m, "a.b", 2, 2, rng, nil) })
	mustPanic(t, "bad input width", "nn.Linear", func() { m[0].FC1.Forward(tensor.Zeros(cpu, 2, 5)) })
}
