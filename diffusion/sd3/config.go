// Package sd3 is the Stable Diffusion 3 / 3.5 transformer (MMDiT and MMDiT-X) as a model of
// the engine: the velocity network of SD3-Medium, SD3.5-Medium and SD3.5-Large, computed as
// Stability AI's reference computes it, loaded from the checkpoint layouts people have on disk
// (a diffusers folder or Stability's single file; bf16, fp16 or fp32), trained with LoRA
// adapters that are saved in the PEFT/diffusers layout, and conditioned on precomputed prompt
// embeddings (diffusion.Cond's Context and Pooled).
//
// Module paths are diffusers' parameter names (transformer_blocks.3.attn.to_q, …), so LoRA
// targets, adapter files and error messages read the same as in the Python ecosystem.
package sd3

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
)

// Config is the shape of an SD3-family transformer, with the fields and names of diffusers'
// transformer/config.json (SD3Transformer2DModel).
type Config struct {
	SampleSize           int     `json:"sample_size"`            // default latent side (128 for 1024²)
	PatchSize            int     `json:"patch_size"`             // 2
	InChannels           int     `json:"in_channels"`            // latent channels (16)
	OutChannels          int     `json:"out_channels"`           // 16
	NumLayers            int     `json:"num_layers"`             // joint blocks
	AttentionHeadDim     int     `json:"attention_head_dim"`     // 64
	NumAttentionHeads    int     `json:"num_attention_heads"`    // width = heads × head dim
	JointAttentionDim    int     `json:"joint_attention_dim"`    // prompt-embedding width (4096)
	CaptionProjectionDim int     `json:"caption_projection_dim"` // context embedder output (= width)
	PooledProjectionDim  int     `json:"pooled_projection_dim"`  // pooled prompt embedding (2048)
	PosEmbedMaxSize      int     `json:"pos_embed_max_size"`     // side of the stored position table
	DualAttentionLayers  []int   `json:"dual_attention_layers"`  // MMDiT-X blocks with a second image self-attention
	QKNorm               *string `json:"qk_norm"`                // "rms_norm" (SD3.5) or null
}

// Width is the transformer width, heads × head dim.
func (c Config) Width() int { return c.NumAttentionHeads * c.AttentionHeadDim }

// HasQKNorm reports whether queries and keys are RMS-normalised per head.
func (c Config) HasQKNorm() bool { return c.QKNorm != nil && *c.QKNorm != "" }

// Dual reports whether block i has the second (image-only) self-attention.
func (c Config) Dual(i int) bool {
	for _, l := range c.DualAttentionLayers {
		if l == i {
			return true
		}
	}
	return false
}

// MLPRatio is the feed-forward expansion of every SD3 block.
const MLPRatio = 4

// FreqDim is the width of the sinusoidal timestep features.
const FreqDim = 256

func rms() *string { s := "rms_norm"; return &s }

func span(lo, hi int) []int {
	var out []int
	for i := lo; i <= hi; i++ {
		out = append(out, i)
	}
	return out
}

// Named configurations, from each release's transformer/config.json.
var named = map[string]Config{
	// stabilityai/stable-diffusion-3-medium-diffusers: 2.0 B parameters, no qk-norm.
	"sd3-medium": {SampleSize: 128, PatchSize: 2, InChannels: 16, OutChannels: 16, NumLayers: 24,
		AttentionHeadDim: 64, NumAttentionHeads: 24, JointAttentionDim: 4096, CaptionProjectionDim: 1536,
		PooledProjectionDim: 2048, PosEmbedMaxSize: 192},
	// stabilityai/stable-diffusion-3.5-medium: MMDiT-X, 2.5 B parameters.
	"sd3.5-medium": {SampleSize: 128, PatchSize: 2, InChannels: 16, OutChannels: 16, NumLayers: 24,
		AttentionHeadDim: 64, NumAttentionHeads: 24, JointAttentionDim: 4096, CaptionProjectionDim: 1536,
		PooledProjectionDim: 2048, PosEmbedMaxSize: 384, DualAttentionLayers: span(0, 12), QKNorm: rms()},
	// stabilityai/stable-diffusion-3.5-large: 8.1 B parameters.
	"sd3.5-large": {SampleSize: 128, PatchSize: 2, InChannels: 16, OutChannels: 16, NumLayers: 38,
		AttentionHeadDim: 64, NumAttentionHeads: 38, JointAttentionDim: 4096, CaptionProjectionDim: 2432,
		PooledProjectionDim: 2048, PosEmbedMaxSize: 192, QKNorm: rms()},
	// A small random model with SD3.5-Medium's structure (dual attention in block 0, qk-norm,
	// cropped position table, a pre-only last block) for tests and the golden fixtures.
	"tiny": {SampleSize: 8, PatchSize: 2, InChannels: 16, OutChannels: 16, NumLayers: 3,
		AttentionHeadDim: 16, NumAttentionHeads: 2, JointAttentionDim: 24, CaptionProjectionDim: 32,
		PooledProjectionDim: 16, PosEmbedMaxSize: 8, DualAttentionLayers: []int{0}, QKNorm: rms()},
}

// Named returns a named configuration: sd3-medium, sd3.5-medium, sd3.5-large or tiny.
func Named(name string) (Config, error) {
	c, ok := named[name]
	if !ok {
		return Config{}, fmt.Errorf("sd3: no configuration named %q (have %s)", name, strings.Join(Names(), ", "))
	}
	c.DualAttentionLayers = append([]int(nil), c.DualAttentionLayers...)
	return c, nil
}

// Names lists the named configurations.
func Names() []string {
	var out []string
	for k := range named {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Validate reports the first inconsistent field.
func (c Config) Validate() error {
	switch {
	case c.PatchSize <= 0 || c.InChannels <= 0 || c.OutChannels <= 0:
		return fmt.Errorf("sd3 config: patch_size %d, in_channels %d, out_channels %d must be positive", c.PatchSize, c.InChannels, c.OutChannels)
	case c.NumLayers < 1:
		return fmt.Errorf("sd3 config: num_layers %d must be at least 1", c.NumLayers)
	case c.AttentionHeadDim <= 0 || c.NumAttentionHeads <= 0:
		return fmt.Errorf("sd3 config: attention_head_dim %d and num_attention_heads %d must be positive", c.AttentionHeadDim, c.NumAttentionHeads)
	case c.Width()%4 != 0:
		return fmt.Errorf("sd3 config: width %d (heads × head dim) must be a multiple of 4 for the 2-D position table", c.Width())
	case c.CaptionProjectionDim != c.Width():
		return fmt.Errorf("sd3 config: caption_projection_dim %d must equal the width %d (num_attention_heads %d × attention_head_dim %d)", c.CaptionProjectionDim, c.Width(), c.NumAttentionHeads, c.AttentionHeadDim)
	case c.JointAttentionDim <= 0 || c.PooledProjectionDim <= 0:
		return fmt.Errorf("sd3 config: joint_attention_dim %d and pooled_projection_dim %d must be positive", c.JointAttentionDim, c.PooledProjectionDim)
	case c.PosEmbedMaxSize <= 0:
		return fmt.Errorf("sd3 config: pos_embed_max_size %d must be positive (every SD3 release sets it)", c.PosEmbedMaxSize)
	case c.QKNorm != nil && *c.QKNorm != "" && *c.QKNorm != "rms_norm":
		return fmt.Errorf("sd3 config: qk_norm %q is not supported (rms_norm or null)", *c.QKNorm)
	}
	for _, l := range c.DualAttentionLayers {
		if l < 0 || l >= c.NumLayers-1 {
			return fmt.Errorf("sd3 config: dual_attention_layers holds %d; the blocks with a second attention must lie in [0, %d) (the last block is pre-only)", l, c.NumLayers-1)
		}
	}
	return nil
}

// ReadConfig parses a diffusers transformer/config.json. Unknown fields are ignored (diffusers
// writes bookkeeping such as _class_name); the result is validated.
func ReadConfig(path string) (Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("sd3: reading the transformer config: %w", err)
	}
	var probe struct {
		Class string `json:"_class_name"`
	}
	var c Config
	if err := json.Unmarshal(raw, &c); err != nil {
		return Config{}, fmt.Errorf("sd3: %s: not a valid config.json: %v", path, err)
	}
	_ = json.Unmarshal(raw, &probe)
	if probe.Class != "" && probe.Class != "SD3Transformer2DModel" {
		return Config{}, fmt.Errorf("sd3: %s: _class_name is %q, want SD3Transformer2DModel", path, probe.Class)
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("%s: %v", path, err)
	}
	return c, nil
}

// JSON renders the config as diffusers writes it.
func (c Config) JSON() []byte {
	type withClass struct {
		Class string `json:"_class_name"`
		Config
	}
	if c.DualAttentionLayers == nil {
		c.DualAttentionLayers = []int{} // diffusers iterates it: null would not load
	}
	out, _ := json.MarshalIndent(withClass{"SD3Transformer2DModel", c}, "", "  ")
	return out
}
