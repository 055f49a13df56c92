package nn

import (
	"sort"
	"strings"
	"testing"

	"github.com/flowtune/flowtune/tensor"
)

// Block test geometry: width 16, 2 heads, 5 image and 3 text tokens, batch 2.
const (
	tD, tHeads, tLx, tLc, tB = 16, 2, 5, 3, 2
)

// rows returns batch element b of a [B, ...] float64 slice.
func rows(v []float64, b, per int) []float64 { return v[b*per : (b+1)*per] }

func dot(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// gradCheck compares tape gradients with central differences of the float64 reference loss,
// for every tensor in grads (keyed like ref.p): all elements of tensors up to 200 elements,
// otherwise 12 spread indices.
func gradCheck(t *testing.T, grads map[string][]float64, ref *refNet, loss func() float64) {
	t.Helper()
	keys := make([]string, 0, len(grads))
	for k := range grads {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	const h = 1e-6
	for _, name := range keys {
		p := ref.p[name]
		if p == nil {
			t.Fatalf("reference has no tensor %q", name)
		}
		var idx []int
		if len(p) <= 200 {
			for i := range p {
				idx = append(idx, i)
			}
		} else {
			for i := 0; i < 12; i++ {
				idx = append(idx, (i*len(p))/12+i%5)
			}
		}
		got, num := make([]float64, len(idx)), make([]float64, len(idx))
		for n, i := range idx {
			keep := p[i]
			p[i] = keep + h
			lp := loss()
			p[i] = keep - h
			lm := loss()
			p[i] = keep
			num[n] = (lp - lm) / (2 * h)
			got[n] = grads[name][i]
		}
		checkClose(t, "d loss/d "+name, got, num, 2e-5*(1+maxAbs(num)), 2e-4)
	}
}

// An MMDiT block with every weight random (non-zero adaLN, qk-norm, LoRA active with non-zero
// B, a padded text token masked out): the float32 forward matches the float64 reference, and
// the tape gradients of the inputs and of every parameter match central differences of it.
func TestMMDiTBlockGradCheck(t *testing.T) {
	rng := tensor.NewRNG(2024)
	blk := NewMMDiTBlock(cpu, tD, tHeads, BlockOptions{QKNorm: true}, rng)
	randomizeParams(blk, rng)
	AddAdapter(blk, "policy", 4, 8, rng, func(p string) bool { return strings.Contains(p, ".attn.") })
	for _, p := range AdapterParams(blk, "policy") {
		InitNormal(p.P, rng, 0.25)
	}
	UseAdapter(blk, "policy")

	x := rng.Normal(cpu, tB, tLx, tD).SetRequiresGrad(true)
	c := rng.Normal(cpu, tB, tLc, tD).SetRequiresGrad(true)
	y := rng.Normal(cpu, tB, tD).SetRequiresGrad(true)
	maskv := make([]float32, tB*(tLc+tLx))
	maskv[(tLc+tLx)+tLc-1] = -1e9 // batch 1: last text token is padding
	mask := tensor.New(cpu, maskv, tB, tLc+tLx)
	rx, rc := rng.Normal(cpu, tB, tLx, tD), rng.Normal(cpu, tB, tLc, tD)

	xo, co := blk.Forward(x, c, y, mask)
	tensor.Add(tensor.Sum(tensor.Mul(xo, rx)), tensor.Sum(tensor.Mul(co, rc))).Backward()

	ref := newRefNet(blk, tD, tHeads)
	ref.adapter, ref.scale = "policy", 2
	ref.p["in.x"], ref.p["in.c"], ref.p["in.y"] = f64(x.Data()), f64(c.Data()), f64(y.Data())
	rxs, rcs, ms := f64(rx.Data()), f64(rc.Data()), f64(mask.Data())
	forward := func() (xs, cs []float64) {
		for b := 0; b < tB; b++ {
			out := ref.block([]string{"context", "x"},
				[][]float64{rows(ref.p["in.c"], b, tLc*tD), rows(ref.p["in.x"], b, tLx*tD)},
				rows(ref.p["in.y"], b, tD), rows(ms, b, tLc+tLx))
			cs, xs = append(cs, out[0]...), append(xs, out[1]...)
		}
		return xs, cs
	}
	loss := func() float64 { xs, cs := forward(); return dot(xs, rxs) + dot(cs, rcs) }

	xr, cr := forward()
	checkClose(t, "x output", f64(xo.Data()), xr, 1e-5, 1e-4)
	checkClose(t, "c output", f64(co.Data()), cr, 1e-5, 1e-4)

	grads := map[string][]float64{"in.x": f64(x.Grad().Data()), "in.c": f64(c.Grad().Data()), "in.y": f64(y.Grad().Data())}
	for _, n := range NamedParams(blk) {
		g := n.P.Grad()
		if g == nil {
			t.Errorf("%s has no gradient", n.Name)
			continue
		}
		grads[n.Name] = f64(g.Data())
	}
	if len(grads) != 3+len(NamedParams(blk)) {
		t.Fatalf("gradients for %d tensors", len(grads))
	}
	gradCheck(t, grads, ref, loss)
}

// The pre-only variant (SD3's last block), the single-stream DiT block and the final layer agree
// with the same reference; the final layer's gradients pass the finite-difference check.
func TestPreOnlyDiTAndFinalLayerVsReference(t *testing.T) {
	rng := tensor.NewRNG(99)
	x, c, y := rng.Normal(cpu, tB, tLx, tD), rng.Normal(cpu, tB, tLc, tD), rng.Normal(cpu, tB, tD)
	xs, cs, ys := f64(x.Data()), f64(c.Data()), f64(y.Data())

	pre := NewMMDiTBlock(cpu, tD, tHeads, BlockOptions{ContextPreOnly: true, MLPRatio: 2}, rng)
	randomizeParams(pre, rng)
	xo, co := pre.Forward(x, c, y, nil)
	if co != nil {
		t.Fatal("pre-only block returned a context output")
	}
	ref := newRefNet(pre, tD, tHeads)
	var want []float64
	for b := 0; b < tB; b++ {
		out := ref.block([]string{"context", "x"}, [][]float64{rows(cs, b, tLc*tD), rows(xs, b, tLx*tD)}, rows(ys, b, tD), nil)
		if out[0] != nil {
			t.Fatal("reference treats the context stream as full")
		}
		want = append(want, out[1]...)
	}
	checkClose(t, "pre-only x output", f64(xo.Data()), want, 1e-5, 1e-4)

	dit := List[*DiTBlock]{NewDiTBlock(cpu, tD, tHeads, BlockOptions{QKNorm: true}, rng)}
	randomizeParams(dit, rng)
	got := dit[0].Forward(x, y, nil)
	ref = newRefNet(dit, tD, tHeads)
	want = nil
	for b := 0; b < tB; b++ {
		want = append(want, ref.block([]string{"0"}, [][]float64{rows(xs, b, tLx*tD)}, rows(ys, b, tD), nil)[0]...)
	}
	checkClose(t, "DiT block output", f64(got.Data()), want, 1e-5, 1e-4)

	fin := List[*FinalLayer]{NewFinalLayer(cpu, tD, 12)}
	randomizeParams(fin, rng)
	xg, yg := x.Clone().SetRequiresGrad(true), y.Clone().SetRequiresGrad(true)
	r := rng.Normal(cpu, tB, tLx, 12)
	out := fin[0].Forward(xg, yg)
	tensor.Sum(tensor.Mul(out, r)).Backward()
	ref = newRefNet(fin, tD, tHeads)
	ref.p["in.x"], ref.p["in.y"] = xs, ys
	rs := f64(r.Data())
	forward := func() []float64 {
		var o []float64
		for b := 0; b < tB; b++ {
			o = append(o, ref.final("0", rows(ref.p["in.x"], b, tLx*tD), rows(ref.p["in.y"], b, tD))...)
		}
		return o
	}
	checkClose(t, "final layer output", f64(out.Data()), forward(), 1e-5, 1e-4)
	grads := map[string][]float64{"in.x": f64(xg.Grad().Data()), "in.y": f64(yg.Grad().Data())}
	for _, n := range NamedParams(fin) {
		grads[n.Name] = f64(n.P.Grad().Data())
	}
	gradCheck(t, grads, ref, func() float64 { return dot(forward(), rs) })
}

// adaLN-Zero: fresh blocks are exactly the identity on their streams, and a fresh final layer
// outputs exactly zero.
func TestAdaLNZeroIdentityAtInit(t *testing.T) {
	rng := tensor.NewRNG(5)
	x, c, y := rng.Normal(cpu, tB, tLx, tD), rng.Normal(cpu, tB, tLc, tD), rng.Normal(cpu, tB, tD)
	blk := NewMMDiTBlock(cpu, tD, tHeads, BlockOptions{QKNorm: true}, rng)
	xo, co := blk.Forward(x, c, y, nil)
	checkEqual(t, "MMDiT x", xo.Data(), x.Data())
	checkEqual(t, "MMDiT c", co.Data(), c.Data())

	pre := NewMMDiTBlock(cpu, tD, tHeads, BlockOptions{ContextPreOnly: true}, rng)
	xo, _ = pre.Forward(x, c, y, nil)
	checkEqual(t, "pre-only x", xo.Data(), x.Data())

	dit := NewDiTBlock(cpu, tD, tHeads, BlockOptions{}, rng)
	checkEqual(t, "DiT x", dit.Forward(x, y, nil).Data(), x.Data())

	out := NewFinalLayer(cpu, tD, 8).Forward(x, y).Data()
	checkEqual(t, "final layer", out, make([]float32, len(out)))

	// The identity is not vacuous: once the modulation is non-zero the block moves x.
	InitNormal(blk.X.Mod.Weight, rng, 0.1)
	xo, _ = blk.Forward(x, c, y, nil)
	if maxDiff(xo.Data(), x.Data()) < 1e-3 {
		t.Fatal("block with non-zero modulation still returns x")
	}
}

// Parameter names and counts of a block, PyTorch-style.
func TestBlockParamNames(t *testing.T) {
	blk := List[*MMDiTBlock]{NewMMDiTBlock(cpu, tD, tHeads, BlockOptions{QKNorm: true}, tensor.NewRNG(1))}
	ps := NamedParams(blk)
	want := []string{"0.x.mod.weight", "0.x.mod.bias", "0.x.attn.to_q.weight", "0.x.attn.to_q.bias"}
	for i, w := range want {
		if ps[i].Name != w {
			t.Errorf("param %d is %q, want %q", i, ps[i].Name, w)
		}
	}
	has := map[string]bool{}
	for _, p := range ps {
		has[p.Name] = true
	}
	for _, n := range []string{"0.x.attn.norm_q.weight", "0.context.attn.to_out.bias", "0.context.mlp.fc2.weight"} {
		if !has[n] {
			t.Errorf("missing %s", n)
		}
	}
	// Per stream: mod D·6D+6D, 4 projections 4(D²+D), qk-norm 2·Dh, MLP D·4D+4D+4D·D+D.
	d := tD
	per := d*6*d + 6*d + 4*(d*d+d) + 2*(d/tHeads) + d*4*d + 4*d + 4*d*d + d
	if got := CountParams(blk); got != 2*per {
		t.Errorf("CountParams %d, want %d", got, 2*per)
	}
}
