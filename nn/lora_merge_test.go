package nn

import (
	"math"
	"strings"
	"testing"

	"github.com/flowtune/flowtune/tensor"
)

// An adapter saved as host tensors and loaded onto a fresh copy of the base gives the adapted
// block's output exactly; merged into the base weights, the plain block gives it within float32
// rounding, and the adapter is gone.
func TestLoadAndMergeAdapter(t *testing.T) {
	build := func() *MMDiTBlock {
		rng := tensor.NewRNG(21)
		blk := NewMMDiTBlock(cpu, 16, 2, BlockOptions{QKNorm: true}, rng)
		randomizeParams(blk, rng)
		return blk
	}
	trained := build()
	rng := tensor.NewRNG(5)
	AddAdapter(trained, "policy", 4, 8, rng, func(p string) bool { return strings.Contains(p, ".attn.") })
	for _, p := range AdapterParams(trained, "policy") {
		InitNormal(p.P, rng, 0.3)
	}
	x, c, y := rng.Normal(cpu, 2, 5, 16), rng.Normal(cpu, 2, 3, 16), rng.Normal(cpu, 2, 16)
	out := func(blk *MMDiTBlock) []float32 { xo, _ := blk.Forward(x, c, y, nil); return xo.Data() }
	ref := out(trained)
	UseAdapter(trained, "policy")
	adapted := out(trained)
	if maxDiff(adapted, ref) < 1e-3 {
		t.Fatal("the adapter does not change the output; the test would prove nothing")
	}

	saved := map[string]HostTensor{}
	for _, p := range AdapterParams(trained, "policy") {
		saved[p.Name] = HostTensor{Shape: p.P.Shape(), Data: p.P.Data()}
	}
	fresh := build()
	n, err := LoadAdapter(fresh, "loaded", saved, "policy", 8)
	if err != nil || n != 8 {
		t.Fatalf("LoadAdapter: %d layers, %v; want 8", n, err)
	}
	checkEqual(t, "base of the fresh copy", out(fresh), ref)
	UseAdapter(fresh, "loaded")
	checkEqual(t, "loaded adapter", out(fresh), adapted)

	if n := MergeAdapter(fresh, "loaded"); n != 8 {
		t.Fatalf("merged %d layers, want 8", n)
	}
	if HasAdapter(fresh, "loaded") || ActiveAdapter(fresh) != "" {
		t.Fatal("the merged adapter should be gone")
	}
	checkClose(t, "merged weights", f64(out(fresh)), f64(adapted), 1e-5, 1e-4)
}

func TestLoadAdapterNamesWhatDoesNotFit(t *testing.T) {
	blk := NewMMDiTBlock(cpu, 16, 2, BlockOptions{QKNorm: true}, tensor.NewRNG(1))
	a := HostTensor{Shape: []int{4, 16}, Data: make([]float32, 64)}
	b := HostTensor{Shape: []int{16, 4}, Data: make([]float32, 64)}
	nan := HostTensor{Shape: []int{16, 4}, Data: append(make([]float32, 63), float32(math.NaN()))}
	wide := HostTensor{Shape: []int{4, 17}, Data: make([]float32, 68)}
	for _, tc := range []struct {
		ts    map[string]HostTensor
		alpha float32
		want  string
	}{
		{map[string]HostTensor{"x.attn.to_q.lora_A.policy.weight": a}, 8, `layer "x.attn.to_q" has only one of lora_A and lora_B`},
		{map[string]HostTensor{"x.attn.to_q.lora_A.policy.weight": a, "x.attn.to_q.lora_B.policy.weight": nan}, 8, "non-finite"},
		{map[string]HostTensor{"x.attn.to_q.lora_A.policy.weight": wide, "x.attn.to_q.lora_B.policy.weight": b}, 8, "do not fit"},
		{map[string]HostTensor{"x.attn.nope.lora_A.policy.weight": a, "x.attn.nope.lora_B.policy.weight": b}, 8, `no Linear layer "x.attn.nope"`},
		{map[string]HostTensor{"adamw/m.0": a}, 8, `"adamw/m.0" is not a weight of adapter "policy"`},
		{map[string]HostTensor{}, 8, "no weights"},
		{map[string]HostTensor{"x.attn.to_q.lora_A.policy.weight": a, "x.attn.to_q.lora_B.policy.weight": b}, float32(math.NaN()), "alpha"},
	} {
		_, err := LoadAdapter(blk, "p", tc.ts, "policy", tc.alpha)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want one containing %q", err, tc.want)
		}
		if HasAdapter(blk, "p") {
			t.Fatal("a failed load must leave the model unchanged")
		}
	}
}
