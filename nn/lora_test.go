package nn

import (
	"math"
	"strings"
	"testing"

	"github.com/flowtune/flowtune/tensor"
)

// The LoRA formula on literal matrices: y = x·Wᵀ + b + (α/r)·(x·Aᵀ)·Bᵀ with α = 3, r = 2, worked
// out by hand: x·Wᵀ + b = [[-0.55, 1.9], [1.2, -2.2]], x·Aᵀ = [[2, 3.5], [-2.5, 1.25]],
// 1.5·(x·Aᵀ)·Bᵀ = [[-2.775, 4.35], [-2.4375, -3.75]].
func TestLoRAFormulaLiteral(t *testing.T) {
	l := &Linear{
		Weight: tensor.New(cpu, []float32{0.1, -0.2, 0.3, 0.4, 0.5, -0.6}, 2, 3),
		Bias:   tensor.New(cpu, []float32{0.05, -0.1}, 2),
	}
	a := l.AddAdapter("policy", 2, 3, tensor.NewRNG(1))
	a.A.SetData([]float32{1, 0, -1, 0.5, 2, 1})
	a.B.SetData([]float32{0.3, -0.7, 1.1, 0.2})
	x := tensor.New(cpu, []float32{1, 2, -1, 0.5, -1, 3}, 2, 3)

	checkClose(t, "base", f64(l.Forward(x).Data()), []float64{-0.55, 1.9, 1.2, -2.2}, 1e-6, 1e-6)
	l.Use("policy")
	if a.Scale() != 1.5 {
		t.Fatalf("scale %g, want α/r = 1.5", a.Scale())
	}
	checkClose(t, "with adapter", f64(l.Forward(x).Data()), []float64{-3.325, 6.25, -1.2375, -5.95}, 1e-6, 1e-6)
}

// refLoRA computes x·Wᵀ + b + s·(x·Aᵀ)·Bᵀ in float64 with plain loops.
func refLoRA(x []float64, n int, l *Linear, a *LoRA) []float64 {
	w, in, out := f64(l.Weight.Data()), l.In(), l.Out()
	var bias []float64
	if l.Bias != nil {
		bias = f64(l.Bias.Data())
	}
	y := make([]float64, n*out)
	for i := 0; i < n; i++ {
		var h []float64
		if a != nil {
			av, r := f64(a.A.Data()), a.Rank
			h = make([]float64, r)
			for k := 0; k < r; k++ {
				for j := 0; j < in; j++ {
					h[k] += x[i*in+j] * av[k*in+j]
				}
			}
		}
		for o := 0; o < out; o++ {
			s := 0.0
			if bias != nil {
				s = bias[o]
			}
			for j := 0; j < in; j++ {
				s += x[i*in+j] * w[o*in+j]
			}
			if a != nil {
				bv := f64(a.B.Data())
				for k := 0; k < a.Rank; k++ {
					s += float64(a.Scale()) * h[k] * bv[o*a.Rank+k]
				}
			}
			y[i*out+o] = s
		}
	}
	return y
}

func TestLoRANoOpSwitchingAndCoexistence(t *testing.T) {
	rng := tensor.NewRNG(7)
	l := NewLinear(cpu, 64, 24, true, rng)
	x := rng.Normal(cpu, 3, 64)
	base := l.Forward(x).Data()

	// A fresh adapter is an exact no-op, bitwise.
	p := l.AddAdapter("policy", 8, 16, rng)
	l.Use("policy")
	checkEqual(t, "fresh adapter vs base", l.Forward(x).Data(), base)
	for i, v := range p.B.Data() {
		if v != 0 {
			t.Fatalf("B[%d] = %g at init, want 0", i, v)
		}
	}
	// A ~ N(0, (1/r)²): 512 draws, the sample std must be within 10% of 1/8 (fixed seed).
	av := f64(p.A.Data())
	var ss float64
	for _, v := range av {
		ss += v * v
	}
	if std := math.Sqrt(ss / float64(len(av))); math.Abs(std-0.125) > 0.0125 {
		t.Errorf("A sample std %g, want ≈ 1/r = 0.125", std)
	}

	// Perturbing B changes the output, and it matches the float64 formula.
	InitNormal(p.B, rng, 0.1)
	withP := l.Forward(x).Data()
	if diff := maxDiff(withP, base); diff < 1e-2 {
		t.Fatalf("output moved by at most %g after perturbing B", diff)
	}
	checkClose(t, "policy vs formula", f64(withP), refLoRA(f64(x.Data()), 3, l, p), 1e-5, 1e-5)

	// Switching off reproduces the base exactly.
	l.Use("")
	checkEqual(t, "adapter off vs base", l.Forward(x).Data(), base)

	// A second adapter coexists; each name gives its own output.
	o := l.AddAdapter("old", 4, 4, rng)
	InitNormal(o.B, rng, 0.1)
	l.Use("old")
	if l.Active() != "old" {
		t.Fatalf("active %q", l.Active())
	}
	withO := l.Forward(x).Data()
	checkClose(t, "old vs formula", f64(withO), refLoRA(f64(x.Data()), 3, l, o), 1e-5, 1e-5)
	l.Use("policy")
	checkEqual(t, "policy again", l.Forward(x).Data(), withP)
	l.Use("old")
	checkEqual(t, "old again", l.Forward(x).Data(), withO)
	l.Use("")
	checkEqual(t, "off again", l.Forward(x).Data(), base)

	// Parameter names follow PEFT.
	var names []string
	l.Params("blk.q", func(n string, _ *tensor.Tensor) { names = append(names, n) })
	want := "blk.q.weight blk.q.bias blk.q.lora_A.policy.weight blk.q.lora_B.policy.weight blk.q.lora_A.old.weight blk.q.lora_B.old.weight"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("names %q, want %q", got, want)
	}
}

// A LoRA-adapted linear with a frozen base trains only A and B, and its tape gradients match
// the closed form: with s = α/r, L = Σ G⊙y, dB = s·Gᵀ·(x·Aᵀ), dA = s·(G·B)ᵀ·x.
func TestLoRAGradientsFrozenBase(t *testing.T) {
	rng := tensor.NewRNG(3)
	l := NewLinear(cpu, 5, 4, true, rng)
	a := l.AddAdapter("policy", 3, 6, rng)
	InitNormal(a.B, rng, 0.5)
	l.Use("policy")
	FreezeBase(l)
	tr := Trainable(l)
	if len(tr) != 2 || tr[0].Name != "lora_A.policy.weight" || tr[1].Name != "lora_B.policy.weight" {
		t.Fatalf("trainable after FreezeBase: %v", names(tr))
	}
	x := rng.Normal(cpu, 6, 5)
	g := rng.Normal(cpu, 6, 4)
	tensor.Sum(tensor.Mul(l.Forward(x), g)).Backward()
	if l.Weight.Grad() != nil || l.Bias.Grad() != nil {
		t.Fatal("frozen base received a gradient")
	}
	xs, gs, av, bv := f64(x.Data()), f64(g.Data()), f64(a.A.Data()), f64(a.B.Data())
	s := float64(a.Scale())
	dA, dB := make([]float64, 3*5), make([]float64, 4*3)
	for n := 0; n < 6; n++ {
		h := make([]float64, 3)  // x·Aᵀ
		gb := make([]float64, 3) // G·B
		for k := 0; k < 3; k++ {
			for j := 0; j < 5; j++ {
				h[k] += xs[n*5+j] * av[k*5+j]
			}
			for o := 0; o < 4; o++ {
				gb[k] += gs[n*4+o] * bv[o*3+k]
			}
		}
		for o := 0; o < 4; o++ {
			for k := 0; k < 3; k++ {
				dB[o*3+k] += s * gs[n*4+o] * h[k]
			}
		}
		for k := 0; k < 3; k++ {
			for j := 0; j < 5; j++ {
				dA[k*5+j] += s * gb[k] * xs[n*5+j]
			}
		}
	}
	checkClose(t, "dA", f64(a.A.Grad().Data()), dA, 1e-5, 1e-4)
	checkClose(t, "dB", f64(a.B.Grad().Data()), dB, 1e-5, 1e-4)
}

func names(ps []Named) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name)
	}
	return out
}

// Model-wide adapter switches on an MMDiT block: the filter picks the attention projections of
// both streams, UseAdapter/CopyAdapter/UpdateAdapterEMA act on all of them.
func TestModelWideAdapters(t *testing.T) {
	rng := tensor.NewRNG(11)
	blk := NewMMDiTBlock(cpu, 16, 2, BlockOptions{QKNorm: true}, rng)
	randomizeParams(blk, rng) // non-zero adaLN so attention matters
	attnOnly := func(p string) bool { return strings.Contains(p, ".attn.") }
	if n := AddAdapter(blk, "policy", 4, 8, rng, attnOnly); n != 8 {
		t.Fatalf("adapted %d layers, want 8 (q/k/v/out of two streams)", n)
	}
	ap := AdapterParams(blk, "policy")
	if len(ap) != 16 || ap[0].Name != "x.attn.to_q.lora_A.policy.weight" || ap[15].Name != "context.attn.to_out.lora_B.policy.weight" {
		t.Fatalf("adapter params: %v", names(ap))
	}
	FreezeBase(blk)
	if tr := Trainable(blk); len(tr) != 16 {
		t.Fatalf("%d trainable after FreezeBase, want the 16 adapter tensors: %v", len(tr), names(tr))
	}

	x, c, y := rng.Normal(cpu, 2, 5, 16), rng.Normal(cpu, 2, 3, 16), rng.Normal(cpu, 2, 16)
	run := func() []float32 { xo, _ := blk.Forward(x, c, y, nil); return xo.Data() }
	ref := run()
	UseAdapter(blk, "policy")
	if ActiveAdapter(blk) != "policy" {
		t.Fatalf("active %q", ActiveAdapter(blk))
	}
	checkEqual(t, "fresh policy", run(), ref)
	for _, p := range ap {
		if strings.Contains(p.Name, "lora_B") {
			InitNormal(p.P, rng, 0.2)
		}
	}
	pol := run()
	if maxDiff(pol, ref) < 1e-3 {
		t.Fatal("policy adapter did not change the output")
	}

	CopyAdapter(blk, "old", "policy")
	for _, p := range AdapterParams(blk, "old") {
		if p.P.RequiresGrad() {
			t.Fatalf("%s requires grad; snapshots are frozen", p.Name)
		}
	}
	UseAdapter(blk, "old")
	checkEqual(t, "old copy", run(), pol)
	UseAdapter(blk, "")
	checkEqual(t, "reference model", run(), ref)

	// EMA of the adapter: old ← 0.75·old + 0.25·policy, checked against the hand formula.
	before := f64(AdapterParams(blk, "old")[1].P.Data())
	for _, p := range AdapterParams(blk, "policy") {
		if strings.Contains(p.Name, "lora_B") {
			InitNormal(p.P, rng, 0.2)
		}
	}
	src := f64(AdapterParams(blk, "policy")[1].P.Data())
	UpdateAdapterEMA(blk, "old", "policy", 0.75)
	want := make([]float64, len(before))
	for i := range want {
		want[i] = 0.75*before[i] + 0.25*src[i]
	}
	checkClose(t, "adapter EMA", f64(AdapterParams(blk, "old")[1].P.Data()), want, 1e-7, 1e-6)
}

// randomizeParams gives every parameter of m a random value (norm weights near 1) so that no
// zero-initialised layer hides a mistake.
func randomizeParams(m Module, rng *tensor.RNG) {
	for _, p := range NamedParams(m) {
		InitNormal(p.P, rng, 0.25)
		if strings.Contains(p.Name, "norm") {
			v := p.P.Data()
			for i := range v {
				v[i] += 1
			}
			p.P.SetData(v)
		}
	}
}
