package sd3

import (
	"fmt"

	"github.com/flowtune/flowtune/nn"
	"github.com/flowtune/flowtune/tensor"
)

// Block is one joint block of the SD3 transformer (the reference's JointBlock; diffusers'
// JointTransformerBlock). With y the conditioning vector and LN a LayerNorm without affine
// parameters (eps 1e-6):
//
//	image stream: SiLU(y) → norm1.linear → shift₁ scale₁ gate₁ shift₂ scale₂ gate₂ [shift₃ scale₃ gate₃]
//	text stream:  SiLU(y) → norm1_context.linear → shift₁ scale₁ gate₁ shift₂ scale₂ gate₂ (pre-only: shift₁ scale₁)
//
//	x̂ = LN(x);  ĉ = LN(c)
//	(a_c, a_x) = JointAttention(ĉ·(1+scale₁ᶜ)+shift₁ᶜ, x̂·(1+scale₁)+shift₁)
//	x ← x + gate₁·a_x
//	x ← x + gate₃·SelfAttention₂(x̂·(1+scale₃)+shift₃)          (MMDiT-X dual-attention blocks only)
//	x ← x + gate₂·FF(LN(x)·(1+scale₂)+shift₂)
//	c ← c + gate₁ᶜ·a_c;  c ← c + gate₂ᶜ·FF_c(LN(c)·(1+scale₂ᶜ)+shift₂ᶜ)   (not in the pre-only last block)
//
// The joint attention runs over the concatenated [text; image] tokens; the second attention
// (attn2) sees the image tokens only. Queries and keys are RMS-normalised per head when the
// config asks for qk-norm.
type Block struct {
	Norm1        adaNorm
	Norm1Context adaNorm
	Attn         *jointAttention
	Attn2        *nn.Attention // nil unless dual
	FF           *nn.MLP
	FFContext    *nn.MLP // nil in the pre-only block
}

// PreOnly reports whether the text stream only supplies keys and values (the last block).
func (blk *Block) PreOnly() bool { return blk.FFContext == nil }

// Children uses diffusers' names.
func (blk *Block) Children(visit func(name string, m nn.Module)) {
	visit("norm1", blk.Norm1)
	visit("norm1_context", blk.Norm1Context)
	visit("attn", blk.Attn)
	if blk.Attn2 != nil {
		visit("attn2", selfAttention{blk.Attn2})
	}
	visit("ff", feedForward{blk.FF})
	if blk.FFContext != nil {
		visit("ff_context", feedForward{blk.FFContext})
	}
}

// Params visits the block's parameters under their diffusers names.
func (blk *Block) Params(prefix string, visit func(string, *tensor.Tensor)) {
	nn.ChildParams(blk, prefix, visit)
}

// blockEps is the epsilon of the blocks' LayerNorms.
const blockEps = 1e-6

func layerNorm(x *tensor.Tensor) *tensor.Tensor { return tensor.LayerNorm(x, nil, nil, blockEps) }

// Forward runs the block on image tokens x [B, N, D] and text tokens c [B, L, D] with
// conditioning y [B, D]; it returns the new x and c (c nil for the pre-only block).
func (blk *Block) Forward(x, c, y *tensor.Tensor) (xOut, cOut *tensor.Tensor) {
	if x.Dims() != 3 || c.Dims() != 3 || y.Dims() != 2 || c.Dim(0) != x.Dim(0) || y.Dim(0) != x.Dim(0) ||
		c.Dim(2) != x.Dim(2) || y.Dim(1) != x.Dim(2) {
		panic(fmt.Sprintf("sd3.Block: x %v, c %v, y %v; want [B, N, D], [B, L, D], [B, D]", x.Shape(), c.Shape(), y.Shape()))
	}
	siluY := tensor.SiLU(y)
	mx := nn.ModulationChunks(blk.Norm1.Linear, siluY)
	mc := nn.ModulationChunks(blk.Norm1Context.Linear, siluY)
	xn := layerNorm(x)
	attn := nn.JointAttention([]*nn.Attention{blk.Attn.C, blk.Attn.X},
		[]*tensor.Tensor{nn.Modulate(layerNorm(c), mc[0], mc[1]), nn.Modulate(xn, mx[0], mx[1])}, nil)
	x = tensor.Add(x, tensor.Mul(mx[2], attn[1]))
	if blk.Attn2 != nil {
		a2 := blk.Attn2.Forward(nn.Modulate(xn, mx[6], mx[7]), nil)
		x = tensor.Add(x, tensor.Mul(mx[8], a2))
	}
	x = tensor.Add(x, tensor.Mul(mx[5], blk.FF.Forward(nn.Modulate(layerNorm(x), mx[3], mx[4]))))
	if blk.PreOnly() {
		return x, nil
	}
	c = tensor.Add(c, tensor.Mul(mc[2], attn[0]))
	c = tensor.Add(c, tensor.Mul(mc[5], blk.FFContext.Forward(nn.Modulate(layerNorm(c), mc[3], mc[4]))))
	return x, c
}
