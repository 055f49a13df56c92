package diffusion

import (
	"encoding/json"
	"fmt"

	"github.com/flowtune/flowtune/nn"
	"github.com/flowtune/flowtune/tensor"
)

// ModelConfig sizes the text-to-image MMDiT. The defaults make a model that samples a group of
// 8 images with 10 steps in about a second on two CPU cores and still learns the built-in world.
type ModelConfig struct {
	Channels int     `json:"channels"`  // image channels (3: the model works in pixel space)
	Size     int     `json:"size"`      // image height = width
	Patch    int     `json:"patch"`     // patch side; tokens = (Size/Patch)²
	Dim      int     `json:"dim"`       // transformer width
	Depth    int     `json:"depth"`     // MMDiT blocks
	Heads    int     `json:"heads"`     // attention heads
	MLPRatio float64 `json:"mlp_ratio"` // MLP hidden width / Dim
	QKNorm   bool    `json:"qk_norm"`   // per-head RMSNorm of q and k (SD3.5)
	Vocab    int     `json:"vocab"`     // tokenizer vocabulary size
	TextLen  int     `json:"text_len"`  // maximum prompt length in tokens
	FreqDim  int     `json:"freq_dim"`  // sinusoidal timestep features
	Seed     uint64  `json:"init_seed"` // initialisation seed
}

// DefaultModelConfig is the shipped base model's shape (vocab and text length come from the
// world's tokenizer).
func DefaultModelConfig(vocab, textLen int) ModelConfig {
	return ModelConfig{Channels: 3, Size: 32, Patch: 4, Dim: 128, Depth: 4, Heads: 4, MLPRatio: 3,
		QKNorm: true, Vocab: vocab, TextLen: textLen, FreqDim: 128, Seed: 1}
}

// Validate reports the first inconsistent field.
func (c ModelConfig) Validate() error {
	switch {
	case c.Channels <= 0 || c.Size <= 0 || c.Patch <= 0:
		return fmt.Errorf("model config: channels, size and patch must be positive (got %d, %d, %d)", c.Channels, c.Size, c.Patch)
	case c.Size%c.Patch != 0:
		return fmt.Errorf("model config: size %d is not a multiple of patch %d", c.Size, c.Patch)
	case c.Dim <= 0 || c.Heads <= 0 || c.Dim%c.Heads != 0:
		return fmt.Errorf("model config: dim %d must be a positive multiple of heads %d", c.Dim, c.Heads)
	case c.Depth < 1:
		return fmt.Errorf("model config: depth must be at least 1 (got %d)", c.Depth)
	case c.Vocab < 2 || c.TextLen < 1:
		return fmt.Errorf("model config: vocab %d / text_len %d too small", c.Vocab, c.TextLen)
	case c.FreqDim < 2 || c.FreqDim%2 != 0:
		return fmt.Errorf("model config: freq_dim must be even and ≥ 2 (got %d)", c.FreqDim)
	}
	return nil
}

// Model is an SD3-style MMDiT in pixel space: image patch tokens and prompt tokens share joint
// attention in every block, each stream modulated (adaLN-Zero) by the timestep embedding plus the
// pooled prompt embedding. The prompt tokens are embedded and refined by the text stream of the
// blocks themselves (a small stand-in for SD3's frozen text encoders).
type Model struct {
	Cfg    ModelConfig
	Patch  *nn.PatchEmbed
	Text   *nn.TokenEmbedding
	Time   *nn.TimestepEmbedder
	Pooled *nn.EmbedMLP
	Blocks nn.List[*nn.MMDiTBlock]
	Final  *nn.FinalLayer
}

// NewModel builds a freshly initialised model on backend b.
func NewModel(b tensor.Backend, cfg ModelConfig) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	rng := tensor.NewRNG(cfg.Seed)
	m := &Model{
		Cfg:    cfg,
		Patch:  nn.NewPatchEmbed(b, cfg.Channels, cfg.Size, cfg.Size, cfg.Patch, cfg.Dim, rng),
		Text:   nn.NewTokenEmbedding(b, cfg.Vocab, cfg.TextLen, cfg.Dim, rng),
		Time:   nn.NewTimestepEmbedder(b, cfg.FreqDim, cfg.Dim, rng),
		Pooled: nn.NewEmbedMLP(b, cfg.Dim, cfg.Dim, rng),
		Final:  nn.NewFinalLayer(b, cfg.Dim, cfg.Channels*cfg.Patch*cfg.Patch),
	}
	for i := 0; i < cfg.Depth; i++ {
		opt := nn.BlockOptions{MLPRatio: cfg.MLPRatio, QKNorm: cfg.QKNorm, ContextPreOnly: i == cfg.Depth-1}
		m.Blocks = append(m.Blocks, nn.NewMMDiTBlock(b, cfg.Dim, cfg.Heads, opt, rng))
	}
	return m, nil
}

// Children lists the sub-modules (for parameter names, LoRA placement and freezing).
func (m *Model) Children(visit func(name string, mod nn.Module)) {
	visit("patch_embed", m.Patch)
	visit("text_embed", m.Text)
	visit("time_embed", m.Time)
	visit("pooled_embed", m.Pooled)
	visit("blocks", m.Blocks)
	visit("final", m.Final)
}

// Params visits every parameter under its dotted name.
func (m *Model) Params(prefix string, visit func(name string, p *tensor.Tensor)) {
	nn.ChildParams(m, prefix, visit)
}

// maskValue is the additive attention bias that removes a padded prompt token.
const maskValue = -1e9

// Velocity predicts v(x, σ, c) for images x [B, C, H, W].
func (m *Model) Velocity(x *tensor.Tensor, sigma []float32, c Cond) *tensor.Tensor {
	B := x.Dim(0)
	if c.B != B || len(sigma) != B {
		panic(fmt.Sprintf("diffusion.Model: batch %d with %d prompts and %d noise levels", B, c.B, len(sigma)))
	}
	if c.L > m.Cfg.TextLen {
		panic(fmt.Sprintf("diffusion.Model: prompts of %d tokens exceed the model's %d", c.L, m.Cfg.TextLen))
	}
	b := x.Backend()
	h := m.Patch.Forward(x)                  // [B, N, D]
	ctx := m.Text.Forward(c.Tokens, B)       // [B, L, D]
	mask := tensor.New(b, c.Mask, B, c.L, 1) // 1 real, 0 pad

	// Pooled prompt embedding: masked mean of the token embeddings.
	count := make([]float32, B)
	for i := 0; i < B; i++ {
		for j := 0; j < c.L; j++ {
			count[i] += c.Mask[i*c.L+j]
		}
		if count[i] == 0 {
			count[i] = 1
		}
		count[i] = 1 / count[i]
	}
	pooled := tensor.Mul(tensor.Sum(tensor.Mul(ctx, mask), 1), tensor.New(b, count, B, 1))

	ts := make([]float32, B)
	for i, s := range sigma {
		ts[i] = float32(Timestep(float64(s)))
	}
	y := tensor.Add(m.Time.Embed(ts), m.Pooled.Forward(pooled)) // [B, D]

	// Joint-attention key bias: text keys first, then every image key (always kept).
	N := h.Dim(1)
	bias := make([]float32, B*(c.L+N))
	for i := 0; i < B; i++ {
		for j := 0; j < c.L; j++ {
			if c.Mask[i*c.L+j] == 0 {
				bias[i*(c.L+N)+j] = maskValue
			}
		}
	}
	keyBias := tensor.New(b, bias, B, c.L+N)

	for _, blk := range m.Blocks {
		h, ctx = blk.Forward(h, ctx, y, keyBias)
	}
	out := m.Final.Forward(h, y)
	return nn.Unpatchify(out, m.Cfg.Patch, m.Cfg.Channels, m.Cfg.Size, m.Cfg.Size)
}

// Save writes the model's parameters (base and any adapters) as safetensors, with the config in
// the metadata under "flowtune.model_config".
func (m *Model) Save(path string, extra map[string]string) error {
	return m.SaveAs(path, extra, nn.SafetensorsF32)
}

// SaveAs is Save storing the parameters as dtype (nn.SafetensorsF32 or nn.SafetensorsBF16).
// The config and the checksums are written for m whatever extra holds, so the metadata of
// another checkpoint can be passed on as it is.
func (m *Model) SaveAs(path string, extra map[string]string, dtype string) error {
	meta := map[string]string{}
	for k, v := range extra {
		meta[k] = v
	}
	cfg, _ := json.Marshal(m.Cfg)
	meta["flowtune.model_config"] = string(cfg)
	ts := map[string]*tensor.Tensor{}
	m.Params("", func(name string, p *tensor.Tensor) { ts[name] = p })
	return nn.SaveTensorsAs(path, ts, meta, dtype)
}

// LoadModel builds a model from a checkpoint written by Save: the config comes from the file's
// metadata and every base parameter must be present with its exact shape.
func LoadModel(b tensor.Backend, path string) (*Model, map[string]string, error) {
	f, err := nn.OpenSafetensors(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	return loadModel(b, f)
}

// DecodeModel is LoadModel on an in-memory checkpoint (the embedded base model); name labels
// errors.
func DecodeModel(b tensor.Backend, name string, data []byte) (*Model, map[string]string, error) {
	f, err := nn.OpenSafetensorsBytes(name, data)
	if err != nil {
		return nil, nil, err
	}
	return loadModel(b, f)
}

func loadModel(b tensor.Backend, f *nn.SafetensorsFile) (*Model, map[string]string, error) {
	meta := f.Metadata()
	raw, ok := meta["flowtune.model_config"]
	if !ok {
		return nil, nil, fmt.Errorf("%s: not a flowtune model checkpoint (no flowtune.model_config metadata)", f.Path())
	}
	var cfg ModelConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		return nil, nil, fmt.Errorf("%s: bad flowtune.model_config metadata: %v", f.Path(), err)
	}
	m, err := NewModel(b, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %v", f.Path(), err)
	}
	dst := map[string]*tensor.Tensor{}
	m.Params("", func(name string, p *tensor.Tensor) { dst[name] = p })
	if err := f.LoadInto(dst); err != nil {
		return nil, nil, err
	}
	return m, meta, nil
}

// CountParamsOf returns the number of scalar parameters of the model.
func CountParamsOf(m *Model) int { return nn.CountParams(m) }
