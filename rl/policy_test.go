package rl

import (
	"testing"

	"github.com/flowtune/flowtune/nn"
	"github.com/flowtune/flowtune/tensor"
)

// Each evaluation runs under its own adapter set and leaves the previously active one in place;
// the stop-gradient evaluations record no tape.
func TestPoliciesSwitchAndRestore(t *testing.T) {
	m := newMLP(6, 8, false, nil, 150)
	nn.AddAdapter(m, PolicyAdapter, 2, 2, tensor.NewRNG(151), nil)
	randomizeAdapter(m, PolicyAdapter, 0.5, 152)
	nn.CopyAdapter(m, OldAdapter, PolicyAdapter)
	randomizeAdapter(m, OldAdapter, 0.5, 153)
	p := NewPolicies(m)
	if p.Old != OldAdapter || p.EMA != "" || p.Policy != PolicyAdapter {
		t.Fatalf("NewPolicies: %+v", p)
	}
	x := tensor.NewRNG(154).Normal(cpu, 2, 2, 3)
	sigma, c := []float32{0.3, 0.8}, testCond(1, 2)
	direct := func(adapter string) []float64 {
		nn.UseAdapter(m, adapter)
		var v []float64
		tensor.NoGrad(func() { v = f64(m.Velocity(x, sigma, c).Data()) })
		return v
	}
	wantRef, wantPol, wantOld := direct(""), direct(PolicyAdapter), direct(OldAdapter)

	nn.UseAdapter(m, OldAdapter) // an unrelated active set that every call must restore
	theta := p.Theta(x, sigma, c)
	if !theta.RequiresGrad() {
		t.Error("Theta recorded no tape")
	}
	ref, old := p.Ref(x, sigma, c), p.OldVelocity(x, sigma, c)
	if ref.RequiresGrad() || old.RequiresGrad() {
		t.Error("stop-gradient velocities are on the tape")
	}
	if a := nn.ActiveAdapter(m); a != OldAdapter {
		t.Errorf("active adapter after the calls: %q, want %q", a, OldAdapter)
	}
	checkClose(t, "v_θ", f64(theta.Data()), wantPol, 0, 0)
	checkClose(t, "v_ref", f64(ref.Data()), wantRef, 0, 0)
	checkClose(t, "v_old", f64(old.Data()), wantOld, 0, 0)
	p.Old = ""
	checkClose(t, "v_old without a lagged set = sg(v_θ)", f64(p.OldVelocity(x, sigma, c).Data()), wantPol, 0, 0)

	// Guidance is v_u + w(v_c − v_u) with both branches on the tape.
	uncond := testCond(0)
	var vc, vu []float64
	tensor.NoGrad(func() {
		vc = f64(p.Velocity(PolicyAdapter, x, sigma, c).Data())
		vu = f64(p.Velocity(PolicyAdapter, x, sigma, uncond.Repeat(x.Dim(0))).Data())
	})
	want := make([]float64, len(vc))
	for i := range want {
		want[i] = vu[i] + 4*(vc[i]-vu[i])
	}
	g := p.Guided(PolicyAdapter, x, sigma, c, uncond, 4)
	if !g.RequiresGrad() {
		t.Error("guided velocity recorded no tape")
	}
	checkClose(t, "CFG value", f64(g.Data()), want, 1e-6, 1e-5)
}
