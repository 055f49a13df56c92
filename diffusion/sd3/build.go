package sd3

import (
	"fmt"

	"github.com/flowtune/flowtune/nn"
	"github.com/flowtune/flowtune/tensor"
)

// builder makes the model's layers: Xavier-uniform weights drawn from rng, or zeros when rng
// is nil (a model about to be filled from a checkpoint: no time spent drawing weights that are
// overwritten). With dtype BFloat16 the Linear weights are bf16 storages on the backend and
// frozen (the base of LoRA training); biases, norms and adapters stay float32.
type builder struct {
	b     tensor.Backend
	rng   *tensor.RNG
	dtype tensor.DType
}

func (bd builder) linear(in, out int) *nn.Linear {
	switch {
	case bd.dtype == tensor.BFloat16:
		w := tensor.FromStorage(bd.b.Alloc(out*in, tensor.BFloat16), out, in)
		return &nn.Linear{Weight: w, Bias: tensor.Zeros(bd.b, out)}
	case bd.rng != nil:
		return nn.NewLinearXavier(bd.b, in, out, bd.rng)
	default:
		return nn.NewLinearZero(bd.b, in, out)
	}
}

func (bd builder) attention(dim, heads int, qk bool) *nn.Attention {
	a := &nn.Attention{ToQ: bd.linear(dim, dim), ToK: bd.linear(dim, dim), ToV: bd.linear(dim, dim),
		ToOut: bd.linear(dim, dim), Heads: heads}
	if qk {
		a.NormQ = nn.NewRMSNorm(bd.b, dim/heads, true, nn.QKNormEps)
		a.NormK = nn.NewRMSNorm(bd.b, dim/heads, true, nn.QKNormEps)
	}
	return a
}

func (bd builder) mlp(dim, hidden int) *nn.MLP {
	return &nn.MLP{FC1: bd.linear(dim, hidden), FC2: bd.linear(hidden, dim)}
}

func (bd builder) embedMLP(in, dim int) *nn.EmbedMLP {
	return &nn.EmbedMLP{Linear1: bd.linear(in, dim), Linear2: bd.linear(dim, dim)}
}

// supportsBF16 reports whether backend b stores bfloat16 (the CUDA backend does, the CPU
// backend does not).
func supportsBF16(b tensor.Backend) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	b.Alloc(1, tensor.BFloat16)
	return true
}

// build makes a model of config cfg.
func build(bd builder, cfg Config) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if bd.dtype == tensor.BFloat16 && !supportsBF16(bd.b) {
		return nil, fmt.Errorf("sd3: backend %s cannot store bfloat16 weights; use float32", bd.b.Name())
	}
	d, p := cfg.Width(), cfg.PatchSize
	m := &Model{
		Cfg: cfg,
		PosEmbed: &patchEmbed{Proj: bd.linear(cfg.InChannels*p*p, d),
			Table: nn.SinCos2D(cfg.PosEmbedMaxSize, cfg.PosEmbedMaxSize, d), Max: cfg.PosEmbedMaxSize, Patch: p},
		TimeTextEmbed: &timeTextEmbed{
			Timestep: &nn.TimestepEmbedder{FreqDim: FreqDim, EmbedMLP: bd.embedMLP(FreqDim, d)},
			Text:     bd.embedMLP(cfg.PooledProjectionDim, d),
		},
		ContextEmbedder: bd.linear(cfg.JointAttentionDim, d),
		NormOut:         adaNorm{bd.linear(d, 2*d)},
		ProjOut:         bd.linear(d, p*p*cfg.OutChannels),
	}
	for i := 0; i < cfg.NumLayers; i++ {
		m.Blocks = append(m.Blocks, newBlock(bd, cfg, i))
	}
	if bd.dtype == tensor.BFloat16 {
		nn.SetRequiresGrad(nn.NamedParams(m), false)
	}
	return m, nil
}

// New builds a randomly initialised float32 model (Xavier-uniform Linears, zero biases, unit
// norm weights, the 2-D sin-cos position table) on b. Real weights come from Load.
func New(b tensor.Backend, cfg Config, seed uint64) (*Model, error) {
	return build(builder{b: b, rng: tensor.NewRNG(seed), dtype: tensor.Float32}, cfg)
}

// newBlock makes joint block i of a model of config cfg.
func newBlock(bd builder, cfg Config, i int) *Block {
	d, heads := cfg.Width(), cfg.NumAttentionHeads
	qk := cfg.HasQKNorm()
	preOnly := i == cfg.NumLayers-1
	dual := cfg.Dual(i)
	nx, nc := 6, 6
	if dual {
		nx = 9
	}
	if preOnly {
		nc = 2
	}
	blk := &Block{
		Norm1:        adaNorm{bd.linear(d, nx*d)},
		Norm1Context: adaNorm{bd.linear(d, nc*d)},
		Attn:         &jointAttention{X: bd.attention(d, heads, qk), C: bd.attention(d, heads, qk)},
		FF:           bd.mlp(d, MLPRatio*d),
	}
	if dual {
		blk.Attn2 = bd.attention(d, heads, qk)
	}
	if preOnly {
		blk.Attn.C.ToOut = nil
	} else {
		blk.FFContext = bd.mlp(d, MLPRatio*d)
	}
	return blk
}
