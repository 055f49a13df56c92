package sd3

import (
	"github.com/flowtune/flowtune/nn"
	"github.com/flowtune/flowtune/tensor"
)

// Thin wrappers that give the nn layers diffusers' parameter names. The math is nn's.

// selfAttention names an nn.Attention as diffusers' Attention does: to_q, to_k, to_v,
// to_out.0, norm_q, norm_k.
type selfAttention struct{ *nn.Attention }

func (a selfAttention) Children(visit func(name string, m nn.Module)) {
	visit("to_q", a.ToQ)
	visit("to_k", a.ToK)
	visit("to_v", a.ToV)
	visit("to_out.0", a.ToOut)
	if a.NormQ != nil {
		visit("norm_q", a.NormQ)
		visit("norm_k", a.NormK)
	}
}

func (a selfAttention) Params(prefix string, visit func(string, *tensor.Tensor)) {
	nn.ChildParams(a, prefix, visit)
}

// jointAttention is diffusers' joint Attention module of a block: the image stream's
// projections (to_q …, to_out.0, norm_q, norm_k) and the context stream's (add_q_proj …,
// to_add_out, norm_added_q, norm_added_k) under one name. Context has no to_add_out in the
// pre-only last block.
type jointAttention struct {
	X, C *nn.Attention
}

func (a *jointAttention) Children(visit func(name string, m nn.Module)) {
	visit("to_q", a.X.ToQ)
	visit("to_k", a.X.ToK)
	visit("to_v", a.X.ToV)
	visit("to_out.0", a.X.ToOut)
	visit("add_q_proj", a.C.ToQ)
	visit("add_k_proj", a.C.ToK)
	visit("add_v_proj", a.C.ToV)
	if a.C.ToOut != nil {
		visit("to_add_out", a.C.ToOut)
	}
	if a.X.NormQ != nil {
		visit("norm_q", a.X.NormQ)
		visit("norm_k", a.X.NormK)
		visit("norm_added_q", a.C.NormQ)
		visit("norm_added_k", a.C.NormK)
	}
}

func (a *jointAttention) Params(prefix string, visit func(string, *tensor.Tensor)) {
	nn.ChildParams(a, prefix, visit)
}

// feedForward names an nn.MLP (GELU, tanh form) as diffusers' FeedForward: net.0.proj, net.2.
type feedForward struct{ *nn.MLP }

func (f feedForward) Children(visit func(name string, m nn.Module)) {
	visit("net.0.proj", f.FC1)
	visit("net.2", f.FC2)
}

func (f feedForward) Params(prefix string, visit func(string, *tensor.Tensor)) {
	nn.ChildParams(f, prefix, visit)
}

// adaNorm is a modulation Linear (SiLU(y) → k·D) under diffusers' name "<norm>.linear".
type adaNorm struct{ Linear *nn.Linear }

func (a adaNorm) Children(visit func(name string, m nn.Module)) { visit("linear", a.Linear) }

func (a adaNorm) Params(prefix string, visit func(string, *tensor.Tensor)) {
	nn.ChildParams(a, prefix, visit)
}

// timeTextEmbed is diffusers' CombinedTimestepTextProjEmbeddings: the timestep MLP and the
// pooled-text MLP whose outputs are added into the conditioning vector.
type timeTextEmbed struct {
	Timestep *nn.TimestepEmbedder
	Text     *nn.EmbedMLP
}

func (e *timeTextEmbed) Children(visit func(name string, m nn.Module)) {
	visit("timestep_embedder", e.Timestep)
	visit("text_embedder", e.Text)
}

func (e *timeTextEmbed) Params(prefix string, visit func(string, *tensor.Tensor)) {
	nn.ChildParams(e, prefix, visit)
}
