package nn

import "math"

// A float64 reference of the adaLN-Zero blocks, written from the formulas with plain loops and
// independent of package tensor. Parameters live in a map keyed by their dotted names, so a
// finite-difference check can nudge any one of them (or an input stored under "in.*").

type refNet struct {
	p       map[string][]float64
	adapter string  // active LoRA adapter ("" none)
	scale   float64 // its α/r
	dim     int
	heads   int
}

func newRefNet(m Module, dim, heads int) *refNet {
	r := &refNet{p: map[string][]float64{}, dim: dim, heads: heads}
	for _, n := range NamedParams(m) {
		r.p[n.Name] = f64(n.P.Data())
	}
	return r
}

// linear applies the Linear at path to n rows of x, with the active adapter if the layer has it.
func (r *refNet) linear(path string, x []float64, n int) []float64 {
	w := r.p[path+".weight"]
	in := len(x) / n
	out := len(w) / in
	bias := r.p[path+".bias"]
	a, b := r.p[path+".lora_A."+r.adapter+".weight"], r.p[path+".lora_B."+r.adapter+".weight"]
	rank := len(a) / in
	y := make([]float64, n*out)
	for i := 0; i < n; i++ {
		xi := x[i*in : (i+1)*in]
		h := make([]float64, rank)
		for k := range h {
			for j, v := range xi {
				h[k] += v * a[k*in+j]
			}
		}
		for o := 0; o < out; o++ {
			s := 0.0
			if bias != nil {
				s = bias[o]
			}
			for j, v := range xi {
				s += v * w[o*in+j]
			}
			for k := range h {
				s += r.scale * h[k] * b[o*rank+k]
			}
			y[i*out+o] = s
		}
	}
	return y
}

// layerNorm normalises each d-wide row (no affine), eps 1e-6.
func refLayerNorm(x []float64, d int) []float64 {
	y := make([]float64, len(x))
	for i := 0; i < len(x); i += d {
		mu, v := 0.0, 0.0
		for _, e := range x[i : i+d] {
			mu += e
		}
		mu /= float64(d)
		for _, e := range x[i : i+d] {
			v += (e - mu) * (e - mu)
		}
		rstd := 1 / math.Sqrt(v/float64(d)+BlockEps)
		for j := 0; j < d; j++ {
			y[i+j] = (x[i+j] - mu) * rstd
		}
	}
	return y
}

// rmsNorm scales each d-wide row to unit RMS and multiplies by w, eps 1e-6.
func refRMSNorm(x []float64, w []float64) []float64 {
	d := len(w)
	y := make([]float64, len(x))
	for i := 0; i < len(x); i += d {
		ms := 0.0
		for _, e := range x[i : i+d] {
			ms += e * e
		}
		rstd := 1 / math.Sqrt(ms/float64(d)+QKNormEps)
		for j := 0; j < d; j++ {
			y[i+j] = x[i+j] * rstd * w[j]
		}
	}
	return y
}

func refSiLU(v float64) float64 { return v / (1 + math.Exp(-v)) }

func refGELU(v float64) float64 {
	return 0.5 * v * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(v+0.044715*v*v*v)))
}

// modulate returns h·(1+scale)+shift row by row.
func refModulate(h, shift, scale []float64) []float64 {
	d := len(shift)
	y := make([]float64, len(h))
	for i := range h {
		y[i] = h[i]*(1+scale[i%d]) + shift[i%d]
	}
	return y
}

// block runs one adaLN-Zero block for a single batch element: streams are the stream paths in
// sequence order (e.g. "context", "x"), toks[i] their [Li·D] tokens, y the conditioning [D],
// mask the additive key bias [ΣLi] or nil. A stream whose attention has no to_out is pre-only
// and returns nil.
func (r *refNet) block(streams []string, toks [][]float64, y, mask []float64) [][]float64 {
	d, hN := r.dim, r.heads
	dh := d / hN
	sy := make([]float64, d)
	for i, v := range y {
		sy[i] = refSiLU(v)
	}
	mods := make([][]float64, len(streams))
	var q, k, v []float64
	for s, path := range streams {
		mods[s] = r.linear(path+".mod", sy, 1)
		n := len(toks[s]) / d
		h := refModulate(refLayerNorm(toks[s], d), mods[s][:d], mods[s][d:2*d])
		qs, ks := r.linear(path+".attn.to_q", h, n), r.linear(path+".attn.to_k", h, n)
		if w := r.p[path+".attn.norm_q.weight"]; w != nil {
			qs = refRMSNorm(qs, w)
		}
		if w := r.p[path+".attn.norm_k.weight"]; w != nil {
			ks = refRMSNorm(ks, w)
		}
		q, k, v = append(q, qs...), append(k, ks...), append(v, r.linear(path+".attn.to_v", h, n)...)
	}
	lt := len(q) / d
	o := make([]float64, lt*d)
	for head := 0; head < hN; head++ {
		for i := 0; i < lt; i++ {
			sc := make([]float64, lt)
			mx := math.Inf(-1)
			for j := 0; j < lt; j++ {
				dot := 0.0
				for e := 0; e < dh; e++ {
					dot += q[i*d+head*dh+e] * k[j*d+head*dh+e]
				}
				sc[j] = dot / math.Sqrt(float64(dh))
				if mask != nil {
					sc[j] += mask[j]
				}
				mx = math.Max(mx, sc[j])
			}
			z := 0.0
			for j := range sc {
				sc[j] = math.Exp(sc[j] - mx)
				z += sc[j]
			}
			for j := range sc {
				for e := 0; e < dh; e++ {
					o[i*d+head*dh+e] += sc[j] / z * v[j*d+head*dh+e]
				}
			}
		}
	}
	out := make([][]float64, len(streams))
	off := 0
	for s, path := range streams {
		n := len(toks[s]) / d
		os := o[off*d : (off+n)*d]
		off += n
		if r.p[path+".attn.to_out.weight"] == nil {
			continue
		}
		m := mods[s]
		a := r.linear(path+".attn.to_out", os, n)
		x1 := make([]float64, len(a))
		for i := range a {
			x1[i] = toks[s][i] + m[2*d+i%d]*a[i]
		}
		h := r.linear(path+".mlp.fc1", refModulate(refLayerNorm(x1, d), m[3*d:4*d], m[4*d:5*d]), n)
		for i := range h {
			h[i] = refGELU(h[i])
		}
		h = r.linear(path+".mlp.fc2", h, n)
		for i := range h {
			x1[i] += m[5*d+i%d] * h[i]
		}
		out[s] = x1
	}
	return out
}

// final runs the FinalLayer at path for one batch element.
func (r *refNet) final(path string, x, y []float64) []float64 {
	d := r.dim
	sy := make([]float64, d)
	for i, v := range y {
		sy[i] = refSiLU(v)
	}
	m := r.linear(path+".mod", sy, 1)
	return r.linear(path+".proj", refModulate(refLayerNorm(x, d), m[:d], m[d:]), len(x)/d)
}
