package sd3

import (
	"fmt"

	"github.com/flowtune/flowtune/diffusion"
	"github.com/flowtune/flowtune/nn"
	"github.com/flowtune/flowtune/tensor"
)

// Model is the SD3 / SD3.5 transformer. It implements nn.Module (parameters under diffusers'
// names) and diffusion.VelocityModel (conditioned on Cond.Context and Cond.Pooled), so the
// samplers and the RL losses run it as they run the built-in model.
type Model struct {
	Cfg             Config
	PosEmbed        *patchEmbed
	TimeTextEmbed   *timeTextEmbed
	ContextEmbedder *nn.Linear
	Blocks          nn.List[*Block]
	NormOut         adaNorm    // SiLU(y) → shift, scale (the reference's order)
	ProjOut         *nn.Linear // D → p·p·C

	// Recompute, when set, runs each block of a taped forward under tensor.Checkpoint: its
	// activations are rebuilt in the backward pass instead of being kept (less memory, one
	// more forward per block).
	Recompute bool
}

// Children lists the top-level modules under diffusers' names.
func (m *Model) Children(visit func(name string, mod nn.Module)) {
	visit("pos_embed", m.PosEmbed)
	visit("time_text_embed", m.TimeTextEmbed)
	visit("context_embedder", m.ContextEmbedder)
	visit("transformer_blocks", m.Blocks)
	visit("norm_out", m.NormOut)
	visit("proj_out", m.ProjOut)
}

// Params visits every parameter under its diffusers name (the position table is a buffer, not
// a parameter).
func (m *Model) Params(prefix string, visit func(name string, p *tensor.Tensor)) {
	nn.ChildParams(m, prefix, visit)
}

// Forward predicts the velocity for latents x [B, C, H, W] at the given model timesteps
// (1000·σ per sample), with prompt embeddings context [B, L, joint_attention_dim] and pooled
// [B, pooled_projection_dim] on x's backend. It returns [B, out_channels, H, W].
func (m *Model) Forward(x *tensor.Tensor, timesteps []float32, context, pooled *tensor.Tensor) *tensor.Tensor {
	cfg := m.Cfg
	B := x.Dim(0)
	if len(timesteps) != B || context.Dims() != 3 || context.Dim(0) != B || context.Dim(2) != cfg.JointAttentionDim ||
		pooled.Dims() != 2 || pooled.Dim(0) != B || pooled.Dim(1) != cfg.PooledProjectionDim {
		panic(fmt.Sprintf("sd3.Model: latents %v, %d timesteps, context %v, pooled %v; want context [%d, L, %d] and pooled [%d, %d]",
			x.Shape(), len(timesteps), context.Shape(), pooled.Shape(), B, cfg.JointAttentionDim, B, cfg.PooledProjectionDim))
	}
	p := cfg.PatchSize
	H, W := x.Dim(2), x.Dim(3)
	h := m.PosEmbed.Forward(x)
	y := tensor.Add(m.TimeTextEmbed.Timestep.Embed(timesteps), m.TimeTextEmbed.Text.Forward(pooled))
	c := m.ContextEmbedder.Forward(context)
	for _, blk := range m.Blocks {
		h, c = m.runBlock(blk, h, c, y)
	}
	mod := nn.ModulationChunks(m.NormOut.Linear, tensor.SiLU(y))
	out := m.ProjOut.Forward(nn.Modulate(layerNorm(h), mod[0], mod[1]))
	return unpatchify(out, p, cfg.OutChannels, H/p, W/p)
}

// runBlock runs one block, under activation recomputation when asked and taping.
func (m *Model) runBlock(blk *Block, x, c, y *tensor.Tensor) (*tensor.Tensor, *tensor.Tensor) {
	if !m.Recompute || !tensor.GradEnabled() {
		return blk.Forward(x, c, y)
	}
	params := nn.Tensors(nn.Trainable(blk))
	N, L := x.Dim(1), c.Dim(1)
	// The recomputation runs during the backward, when the caller may have switched adapters
	// (rl.Policies restores the previous set after each forward): it re-activates the set of
	// the forward and restores whatever is active then.
	active := nn.ActiveAdapter(blk)
	forward := func(in []*tensor.Tensor) (*tensor.Tensor, *tensor.Tensor) {
		if now := nn.ActiveAdapter(blk); now != active {
			nn.UseAdapter(blk, active)
			defer nn.UseAdapter(blk, now)
		}
		return blk.Forward(in[0], in[1], in[2])
	}
	if blk.PreOnly() {
		out := tensor.Checkpoint(func(in []*tensor.Tensor) *tensor.Tensor {
			xo, _ := forward(in)
			return xo
		}, []*tensor.Tensor{x, c, y}, params)
		return out, nil
	}
	// One output per checkpoint: the new [c; x] along the sequence, split afterwards.
	out := tensor.Checkpoint(func(in []*tensor.Tensor) *tensor.Tensor {
		xo, co := forward(in)
		return tensor.Concat(1, co, xo)
	}, []*tensor.Tensor{x, c, y}, params)
	parts := tensor.Split(out, 1, L, N)
	return parts[1], parts[0]
}

// Velocity implements diffusion.VelocityModel: v(x, σ, c) with the model timestep 1000·σ and
// the prompt embeddings of c.
func (m *Model) Velocity(x *tensor.Tensor, sigma []float32, c diffusion.Cond) *tensor.Tensor {
	B := x.Dim(0)
	cfg := m.Cfg
	switch {
	case !c.HasEmbeddings():
		panic("sd3.Model: the prompts carry no embeddings (an SD3 model needs Cond.Context and Cond.Pooled from the text encoders)")
	case c.B != B || len(sigma) != B:
		panic(fmt.Sprintf("sd3.Model: batch %d with %d prompts and %d noise levels", B, c.B, len(sigma)))
	case c.CtxDim != cfg.JointAttentionDim || c.PooledDim != cfg.PooledProjectionDim:
		panic(fmt.Sprintf("sd3.Model: prompt embeddings of width %d (pooled %d), the model takes %d (pooled %d)",
			c.CtxDim, c.PooledDim, cfg.JointAttentionDim, cfg.PooledProjectionDim))
	}
	b := x.Backend()
	ts := make([]float32, B)
	for i, s := range sigma {
		ts[i] = float32(diffusion.Timestep(float64(s)))
	}
	ctx := tensor.New(b, c.Context, B, c.CtxLen, c.CtxDim)
	pooled := tensor.New(b, c.Pooled, B, c.PooledDim)
	return m.Forward(x, ts, ctx, pooled)
}
