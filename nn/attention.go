package nn

import (
	"fmt"
	"math"

	"github.com/flowtune/flowtune/tensor"
)

// Attention is multi-head attention with its own q/k/v/out projections (each a Linear, so each
// can carry LoRA adapters) and optional per-head RMSNorm of queries and keys (SD3.5's qk-norm).
// Forward is self-attention; JointAttention lets several streams, each with its own projections,
// attend over their concatenated tokens (the MMDiT block).
type Attention struct {
	ToQ, ToK, ToV, ToOut *Linear  // ToOut nil: the layer only supplies keys and values
	NormQ, NormK         *RMSNorm // [head dim] each; nil without qk-norm
	Heads                int
}

// QKNormEps is the epsilon of the query/key RMSNorm (SD3.5 uses 1e-6).
const QKNormEps = 1e-6

// NewAttention makes an attention layer of width dim with the given number of heads
// (dim % heads == 0). Projections are Xavier-uniform with zero biases.
func NewAttention(b tensor.Backend, dim, heads int, qkNorm bool, rng *tensor.RNG) *Attention {
	if heads <= 0 || dim%heads != 0 {
		panic(fmt.Sprintf("nn.NewAttention: dim %d is not a multiple of heads %d", dim, heads))
	}
	a := &Attention{
		ToQ:   NewLinearXavier(b, dim, dim, rng),
		ToK:   NewLinearXavier(b, dim, dim, rng),
		ToV:   NewLinearXavier(b, dim, dim, rng),
		ToOut: NewLinearXavier(b, dim, dim, rng),
		Heads: heads,
	}
	if qkNorm {
		a.NormQ = NewRMSNorm(b, dim/heads, true, QKNormEps)
		a.NormK = NewRMSNorm(b, dim/heads, true, QKNormEps)
	}
	return a
}

// Dim is the model width.
func (a *Attention) Dim() int { return a.ToQ.In() }

// HeadDim is the width of one head.
func (a *Attention) HeadDim() int { return a.Dim() / a.Heads }

// QKV projects x [B, L, D] to queries, keys and values [B, L, H, Dh], applying qk-norm.
func (a *Attention) QKV(x *tensor.Tensor) (q, k, v *tensor.Tensor) {
	if x.Dims() != 3 || x.Dim(2) != a.Dim() {
		panic(fmt.Sprintf("nn.Attention: input %v, want [B, L, %d]", x.Shape(), a.Dim()))
	}
	bsz, l := x.Dim(0), x.Dim(1)
	split := func(t *tensor.Tensor) *tensor.Tensor { return tensor.Reshape(t, bsz, l, a.Heads, a.HeadDim()) }
	q, k, v = split(a.ToQ.Forward(x)), split(a.ToK.Forward(x)), split(a.ToV.Forward(x))
	if a.NormQ != nil {
		q = a.NormQ.Forward(q)
	}
	if a.NormK != nil {
		k = a.NormK.Forward(k)
	}
	return q, k, v
}

// Output merges heads o [B, L, H, Dh] back to [B, L, D] and applies the output projection.
func (a *Attention) Output(o *tensor.Tensor) *tensor.Tensor {
	return a.ToOut.Forward(tensor.Reshape(o, o.Dim(0), o.Dim(1), a.Dim()))
}

// Forward is self-attention on x [B, L, D]; mask is an additive key bias [B, L] or nil.
func (a *Attention) Forward(x, mask *tensor.Tensor) *tensor.Tensor {
	return JointAttention([]*Attention{a}, []*tensor.Tensor{x}, mask)[0]
}

// JointAttention runs one attention over several token streams: stream i is projected by
// attns[i], the keys and values of all streams are concatenated along the sequence in the
// given order, every query attends to every key, and each stream's slice of the result goes
// through its own output projection. xs[i] is [B, Li, D]; mask is an additive key bias
// [B, ΣLi] (same order) or nil. All layers must share width and head count.
func JointAttention(attns []*Attention, xs []*tensor.Tensor, mask *tensor.Tensor) []*tensor.Tensor {
	if len(attns) != len(xs) || len(xs) == 0 {
		panic(fmt.Sprintf("nn.JointAttention: %d attention layers for %d streams", len(attns), len(xs)))
	}
	heads, dh := attns[0].Heads, attns[0].HeadDim()
	qs, ks, vs := make([]*tensor.Tensor, len(xs)), make([]*tensor.Tensor, len(xs)), make([]*tensor.Tensor, len(xs))
	lens := make([]int, len(xs))
	total := 0
	for i, a := range attns {
		if a.Heads != heads || a.HeadDim() != dh {
			panic(fmt.Sprintf("nn.JointAttention: stream %d has %d heads of %d, stream 0 has %d of %d", i, a.Heads, a.HeadDim(), heads, dh))
		}
		if i > 0 && xs[i].Dims() == 3 && xs[i].Dim(0) != xs[0].Dim(0) {
			panic(fmt.Sprintf("nn.JointAttention: stream %d input %v, stream 0 input %v", i, xs[i].Shape(), xs[0].Shape()))
		}
		qs[i], ks[i], vs[i] = a.QKV(xs[i])
		lens[i] = xs[i].Dim(1)
		total += lens[i]
	}
	bsz := xs[0].Dim(0)
	if mask != nil && (mask.Dims() != 2 || mask.Dim(0) != bsz || mask.Dim(1) != total) {
		panic(fmt.Sprintf("nn.JointAttention: mask %v, want [%d, %d]", mask.Shape(), bsz, total))
	}
	// [B, ΣL, H, Dh] → [B, H, ΣL, Dh], the layout tensor.Attention takes.
	heads4 := func(ts []*tensor.Tensor) *tensor.Tensor {
		t := ts[0]
		if len(ts) > 1 {
			t = tensor.Concat(1, ts...)
		}
		return tensor.Permute(t, 0, 2, 1, 3)
	}
	o := tensor.Attention(heads4(qs), heads4(ks), heads4(vs), mask, float32(1/math.Sqrt(float64(dh))))
	o = tensor.Permute(o, 0, 2, 1, 3) // [B, ΣL, H, Dh]
	parts := []*tensor.Tensor{o}
	if len(xs) > 1 {
		parts = tensor.Split(o, 1, lens...)
	}
	out := make([]*tensor.Tensor, len(xs))
	for i, a := range attns {
		if a.ToOut != nil { // a key/value-only stream (MMDiT's pre-only context) has no output
			out[i] = a.Output(parts[i])
		}
	}
	return out
}

// Children: to_q, to_k, to_v, to_out (when present), then norm_q, norm_k when present.
func (a *Attention) Children(visit func(name string, m Module)) {
	visit("to_q", a.ToQ)
	visit("to_k", a.ToK)
	visit("to_v", a.ToV)
	if a.ToOut != nil {
		visit("to_out", a.ToOut)
	}
	if a.NormQ != nil {
		visit("norm_q", a.NormQ)
	}
	if a.NormK != nil {
		visit("norm_k", a.NormK)
	}
}

// Params visits the projections' and norms' parameters.
func (a *Attention) Params(prefix string, visit func(name string, p *tensor.Tensor)) {
	ChildParams(a, prefix, visit)
}
