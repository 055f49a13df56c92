package nn

import (
	"fmt"
	"math"

	"github.com/flowtune/flowtune/tensor"
)

// adaLN-Zero transformer blocks (DiT, Peebles & Xie 2023; MMDiT, Esser et al. 2024 — SD3).
//
// Every stream of a block is modulated by the conditioning vector y [B, D] (timestep embedding
// plus pooled text embedding): SiLU(y) → Linear → six [B, D] chunks, in the order
//
//	shift₁, scale₁, gate₁ (attention), shift₂, scale₂, gate₂ (MLP)
//
// and, with LN a LayerNorm without affine parameters (eps 1e-6),
//
//	x ← x + gate₁ · Attn(LN(x)·(1+scale₁) + shift₁)
//	x ← x + gate₂ · MLP(LN(x)·(1+scale₂) + shift₂)
//
// The modulation Linear starts at zero, so every gate is 0 and a fresh block is the identity.
// In the MMDiT block the image stream x and the text stream c keep separate weights but share
// one attention over the concatenated sequence [c; x].

// BlockEps is the epsilon of the blocks' LayerNorms.
const BlockEps = 1e-6

// BlockOptions are the knobs of a transformer block.
type BlockOptions struct {
	MLPRatio float64 // MLP hidden width = round(MLPRatio·D); 0 means 4
	QKNorm   bool    // per-head RMSNorm of queries and keys (SD3.5)
	// ContextPreOnly makes the text stream of an MMDiT block supply keys and values only: no
	// attention output projection, no MLP, a 2-chunk modulation (shift₁, scale₁), and Forward
	// returns a nil context. SD3 uses it in the last block, whose text output nobody reads.
	ContextPreOnly bool
}

// Stream is one token stream's share of a block: its modulation, norms, attention projections
// and MLP. Norm2 and MLP are nil (and Attn.ToOut is nil) for a pre-only stream.
type Stream struct {
	Mod   *Linear // SiLU(y) → 6·D (2·D when pre-only), zero-initialised
	Norm1 *LayerNorm
	Attn  *Attention
	Norm2 *LayerNorm
	MLP   *MLP
}

// NewStream makes one stream of width dim.
func NewStream(b tensor.Backend, dim, heads int, opt BlockOptions, preOnly bool, rng *tensor.RNG) *Stream {
	ratio := opt.MLPRatio
	if ratio == 0 {
		ratio = 4
	}
	s := &Stream{
		Norm1: NewLayerNorm(b, dim, false, BlockEps),
		Attn:  NewAttention(b, dim, heads, opt.QKNorm, rng),
	}
	if preOnly {
		s.Mod = NewLinearZero(b, dim, 2*dim)
		s.Attn.ToOut = nil
	} else {
		s.Mod = NewLinearZero(b, dim, 6*dim)
		s.Norm2 = NewLayerNorm(b, dim, false, BlockEps)
		s.MLP = NewMLP(b, dim, int(math.Round(ratio*float64(dim))), rng)
	}
	return s
}

// PreOnly reports whether the stream only feeds keys and values.
func (s *Stream) PreOnly() bool { return s.MLP == nil }

// modulation splits Mod(siluY) into its [B, 1, D] chunks (6, or 2 when pre-only).
func (s *Stream) modulation(siluY *tensor.Tensor) []*tensor.Tensor {
	bsz, dim := siluY.Dim(0), siluY.Dim(1)
	n := s.Mod.Out() / dim
	sizes := make([]int, n)
	for i := range sizes {
		sizes[i] = dim
	}
	chunks := tensor.Split(s.Mod.Forward(siluY), 1, sizes...)
	for i, c := range chunks {
		chunks[i] = tensor.Reshape(c, bsz, 1, dim)
	}
	return chunks
}

// modulate is h·(1+scale) + shift with [B, 1, D] scale and shift broadcast over tokens.
func modulate(h, shift, scale *tensor.Tensor) *tensor.Tensor {
	return tensor.Add(tensor.Mul(h, tensor.AddScalar(scale, 1)), shift)
}

// pre is the attention input LN(x)·(1+scale₁) + shift₁.
func (s *Stream) pre(x *tensor.Tensor, mod []*tensor.Tensor) *tensor.Tensor {
	return modulate(s.Norm1.Forward(x), mod[0], mod[1])
}

// post applies the gated attention residual and the gated MLP residual.
func (s *Stream) post(x, attn *tensor.Tensor, mod []*tensor.Tensor) *tensor.Tensor {
	x = tensor.Add(x, tensor.Mul(mod[2], attn))
	h := s.MLP.Forward(modulate(s.Norm2.Forward(x), mod[3], mod[4]))
	return tensor.Add(x, tensor.Mul(mod[5], h))
}

// Children: mod, norm1, attn, then norm2 and mlp when present. (The norms have no parameters
// but are listed so walks see the whole structure.)
func (s *Stream) Children(visit func(name string, m Module)) {
	visit("mod", s.Mod)
	visit("norm1", s.Norm1)
	visit("attn", s.Attn)
	if s.Norm2 != nil {
		visit("norm2", s.Norm2)
	}
	if s.MLP != nil {
		visit("mlp", s.MLP)
	}
}

// Params visits the stream's parameters.
func (s *Stream) Params(prefix string, visit func(name string, p *tensor.Tensor)) {
	ChildParams(s, prefix, visit)
}

// MMDiTBlock is the SD3 joint block: image stream X, text stream C.
type MMDiTBlock struct {
	X, C *Stream
}

// NewMMDiTBlock makes a joint block of width dim.
func NewMMDiTBlock(b tensor.Backend, dim, heads int, opt BlockOptions, rng *tensor.RNG) *MMDiTBlock {
	return &MMDiTBlock{
		X: NewStream(b, dim, heads, opt, false, rng),
		C: NewStream(b, dim, heads, opt, opt.ContextPreOnly, rng),
	}
}

// Forward runs the block on image tokens x [B, Lx, D] and text tokens c [B, Lc, D] with
// conditioning y [B, D]. mask is an additive key bias [B, Lc+Lx] (text keys first; large
// negative entries drop padded text tokens) or nil. It returns the new x and c (c is nil for a
// pre-only block).
func (blk *MMDiTBlock) Forward(x, c, y, mask *tensor.Tensor) (xOut, cOut *tensor.Tensor) {
	checkBlockInputs("MMDiTBlock", x, y)
	if c.Dims() != 3 || c.Dim(0) != x.Dim(0) || c.Dim(2) != x.Dim(2) {
		panic(fmt.Sprintf("nn.MMDiTBlock: x %v, c %v", x.Shape(), c.Shape()))
	}
	siluY := tensor.SiLU(y)
	modX, modC := blk.X.modulation(siluY), blk.C.modulation(siluY)
	attn := JointAttention([]*Attention{blk.C.Attn, blk.X.Attn},
		[]*tensor.Tensor{blk.C.pre(c, modC), blk.X.pre(x, modX)}, mask)
	xOut = blk.X.post(x, attn[1], modX)
	if !blk.C.PreOnly() {
		cOut = blk.C.post(c, attn[0], modC)
	}
	return xOut, cOut
}

// Children: x, context.
func (blk *MMDiTBlock) Children(visit func(name string, m Module)) {
	visit("x", blk.X)
	visit("context", blk.C)
}

// Params visits x.* and context.*.
func (blk *MMDiTBlock) Params(prefix string, visit func(name string, p *tensor.Tensor)) {
	ChildParams(blk, prefix, visit)
}

// DiTBlock is the single-stream adaLN-Zero block (DiT): self-attention over one sequence.
type DiTBlock struct {
	*Stream
}

// NewDiTBlock makes a single-stream block of width dim.
func NewDiTBlock(b tensor.Backend, dim, heads int, opt BlockOptions, rng *tensor.RNG) *DiTBlock {
	return &DiTBlock{NewStream(b, dim, heads, opt, false, rng)}
}

// Forward runs the block on x [B, L, D] with conditioning y [B, D]; mask [B, L] or nil.
func (blk *DiTBlock) Forward(x, y, mask *tensor.Tensor) *tensor.Tensor {
	checkBlockInputs("DiTBlock", x, y)
	mod := blk.modulation(tensor.SiLU(y))
	return blk.post(x, blk.Attn.Forward(blk.pre(x, mod), mask), mod)
}

// FinalLayer maps tokens to patch outputs: LN(x)·(1+scale) + shift → Linear, with (shift, scale)
// = chunks of Mod(SiLU(y)) (DiT's order). Mod and Proj start at zero, so a fresh model predicts 0.
type FinalLayer struct {
	Norm *LayerNorm
	Mod  *Linear // D → 2D
	Proj *Linear // D → out
}

// NewFinalLayer makes the final layer from width dim to out features per token (C·p·p).
func NewFinalLayer(b tensor.Backend, dim, out int) *FinalLayer {
	return &FinalLayer{
		Norm: NewLayerNorm(b, dim, false, BlockEps),
		Mod:  NewLinearZero(b, dim, 2*dim),
		Proj: NewLinearZero(b, dim, out),
	}
}

// Forward maps x [B, L, D] with conditioning y [B, D] to [B, L, out].
func (f *FinalLayer) Forward(x, y *tensor.Tensor) *tensor.Tensor {
	checkBlockInputs("FinalLayer", x, y)
	bsz, dim := x.Dim(0), x.Dim(2)
	mod := tensor.Split(f.Mod.Forward(tensor.SiLU(y)), 1, dim, dim)
	shift, scale := tensor.Reshape(mod[0], bsz, 1, dim), tensor.Reshape(mod[1], bsz, 1, dim)
	return f.Proj.Forward(modulate(f.Norm.Forward(x), shift, scale))
}

// Children: norm, mod, proj.
func (f *FinalLayer) Children(visit func(name string, m Module)) {
	visit("norm", f.Norm)
	visit("mod", f.Mod)
	visit("proj", f.Proj)
}

// Params visits mod.* and proj.*.
func (f *FinalLayer) Params(prefix string, visit func(name string, p *tensor.Tensor)) {
	ChildParams(f, prefix, visit)
}

func checkBlockInputs(op string, x, y *tensor.Tensor) {
	if x.Dims() != 3 || y.Dims() != 2 || y.Dim(0) != x.Dim(0) || y.Dim(1) != x.Dim(2) {
		panic(fmt.Sprintf("nn.%s: x %v, y %v; want [B, L, D] and [B, D]", op, x.Shape(), y.Shape()))
	}
}

// Modulate is adaLN's h·(1+scale) + shift, with [B, 1, D] scale and shift broadcast over the
// tokens of h [B, L, D].
func Modulate(h, shift, scale *tensor.Tensor) *tensor.Tensor { return modulate(h, shift, scale) }

// ModulationChunks applies a modulation Linear to siluY [B, D] and splits its output into
// [B, 1, D] chunks (as many as Out()/D), in the order the Linear's rows store them.
func ModulationChunks(mod *Linear, siluY *tensor.Tensor) []*tensor.Tensor {
	return (&Stream{Mod: mod}).modulation(siluY)
}
