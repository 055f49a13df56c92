package sd3

import (
	"fmt"
	"strings"
)

// The two checkpoint layouts, one table. Every tensor of the transformer is an entry: its
// diffusers name (which is also our parameter name, or the position buffer's) and shape, and
// where Stability's single file keeps it. Stability fuses each attention's q, k and v into one
// qkv Linear ([3D, D]); diffusers splits them. Diffusers stores the AdaLN-continuous layers
// (norm_out and the pre-only block's norm1_context) as (scale, shift); Stability and this
// package as (shift, scale).

// entry is one tensor of the model in both layouts.
type entry struct {
	Name      string // diffusers key
	Shape     []int  // shape in a diffusers file
	Stab      string // Stability key (without model.diffusion_model.)
	StabShape []int  // shape in a Stability file ([3D, …] for a fused qkv)
	Part      int    // which third of a fused qkv (0 q, 1 k, 2 v); -1 when not fused
	Swap      bool   // diffusers stores the halves as (scale, shift)
}

// posTableKey is the diffusers key of the position buffer.
const posTableKey = "pos_embed.pos_embed"

// entries lists every tensor of a model of config cfg.
func entries(cfg Config) []entry {
	D, hd, C, p := cfg.Width(), cfg.AttentionHeadDim, cfg.InChannels, cfg.PatchSize
	var out []entry
	add := func(name string, shape []int, stab string, swap bool) {
		out = append(out, entry{Name: name, Shape: shape, Stab: stab, StabShape: shape, Part: -1, Swap: swap})
	}
	linear := func(name, stab string, in, outDim int, swap bool) {
		add(name+".weight", []int{outDim, in}, stab+".weight", swap)
		add(name+".bias", []int{outDim}, stab+".bias", swap)
	}
	qkv := func(prefix, stab string, names [3]string) {
		for part, n := range names {
			out = append(out,
				entry{Name: prefix + n + ".weight", Shape: []int{D, D}, Stab: stab + ".qkv.weight", StabShape: []int{3 * D, D}, Part: part},
				entry{Name: prefix + n + ".bias", Shape: []int{D}, Stab: stab + ".qkv.bias", StabShape: []int{3 * D}, Part: part})
		}
	}
	add(posTableKey, []int{1, cfg.PosEmbedMaxSize * cfg.PosEmbedMaxSize, D}, "pos_embed", false)
	add("pos_embed.proj.weight", []int{D, C, p, p}, "x_embedder.proj.weight", false)
	add("pos_embed.proj.bias", []int{D}, "x_embedder.proj.bias", false)
	linear("time_text_embed.timestep_embedder.linear_1", "t_embedder.mlp.0", FreqDim, D, false)
	linear("time_text_embed.timestep_embedder.linear_2", "t_embedder.mlp.2", D, D, false)
	linear("time_text_embed.text_embedder.linear_1", "y_embedder.mlp.0", cfg.PooledProjectionDim, D, false)
	linear("time_text_embed.text_embedder.linear_2", "y_embedder.mlp.2", D, D, false)
	linear("context_embedder", "context_embedder", cfg.JointAttentionDim, D, false)
	for i := 0; i < cfg.NumLayers; i++ {
		pre := i == cfg.NumLayers-1
		dual := cfg.Dual(i)
		b := fmt.Sprintf("transformer_blocks.%d.", i)
		s := fmt.Sprintf("joint_blocks.%d.", i)
		nx, nc := 6, 6
		if dual {
			nx = 9
		}
		if pre {
			nc = 2
		}
		linear(b+"norm1.linear", s+"x_block.adaLN_modulation.1", D, nx*D, false)
		linear(b+"norm1_context.linear", s+"context_block.adaLN_modulation.1", D, nc*D, pre)
		qkv(b+"attn.", s+"x_block.attn", [3]string{"to_q", "to_k", "to_v"})
		qkv(b+"attn.", s+"context_block.attn", [3]string{"add_q_proj", "add_k_proj", "add_v_proj"})
		linear(b+"attn.to_out.0", s+"x_block.attn.proj", D, D, false)
		if !pre {
			linear(b+"attn.to_add_out", s+"context_block.attn.proj", D, D, false)
		}
		if cfg.HasQKNorm() {
			add(b+"attn.norm_q.weight", []int{hd}, s+"x_block.attn.ln_q.weight", false)
			add(b+"attn.norm_k.weight", []int{hd}, s+"x_block.attn.ln_k.weight", false)
			add(b+"attn.norm_added_q.weight", []int{hd}, s+"context_block.attn.ln_q.weight", false)
			add(b+"attn.norm_added_k.weight", []int{hd}, s+"context_block.attn.ln_k.weight", false)
		}
		if dual {
			qkv(b+"attn2.", s+"x_block.attn2", [3]string{"to_q", "to_k", "to_v"})
			linear(b+"attn2.to_out.0", s+"x_block.attn2.proj", D, D, false)
			if cfg.HasQKNorm() {
				add(b+"attn2.norm_q.weight", []int{hd}, s+"x_block.attn2.ln_q.weight", false)
				add(b+"attn2.norm_k.weight", []int{hd}, s+"x_block.attn2.ln_k.weight", false)
			}
		}
		linear(b+"ff.net.0.proj", s+"x_block.mlp.fc1", D, MLPRatio*D, false)
		linear(b+"ff.net.2", s+"x_block.mlp.fc2", MLPRatio*D, D, false)
		if !pre {
			linear(b+"ff_context.net.0.proj", s+"context_block.mlp.fc1", D, MLPRatio*D, false)
			linear(b+"ff_context.net.2", s+"context_block.mlp.fc2", MLPRatio*D, D, false)
		}
	}
	linear("norm_out.linear", "final_layer.adaLN_modulation.1", D, 2*D, true)
	linear("proj_out", "final_layer.linear", D, p*p*cfg.OutChannels, false)
	return out
}

// CountParams is the number of scalar parameters of a model of config cfg (the position
// buffer excluded).
func CountParams(cfg Config) int64 {
	var n int64
	for _, e := range entries(cfg) {
		if e.Name == posTableKey {
			continue
		}
		k := int64(1)
		for _, d := range e.Shape {
			k *= int64(d)
		}
		n += k
	}
	return n
}

// StabilityPrefix is the key prefix of the transformer in Stability's single-file releases
// (the VAE and text encoders sit beside it under other prefixes).
const StabilityPrefix = "model.diffusion_model."

// swapHalves exchanges the two halves of a [2n, …] tensor's rows in place.
func swapHalves(data []float32) {
	h := len(data) / 2
	for i := 0; i < h; i++ {
		data[i], data[h+i] = data[h+i], data[i]
	}
}

func shapeString(s []int) string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = fmt.Sprint(d)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
