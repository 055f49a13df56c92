package train

// SD3-family models in the trainer: the transformer (diffusion/sd3), its VAE decoder
// (diffusion/vae) and the prompt-embedding cache (diffusion/prompts), with the defaults of the
// papers' SD3.5 recipes.

import (
	"fmt"
	"image"
	"path/filepath"

	"github.com/flowtune/flowtune/diffusion"
	"github.com/flowtune/flowtune/diffusion/prompts"
	"github.com/flowtune/flowtune/diffusion/sd3"
	"github.com/flowtune/flowtune/diffusion/vae"
	"github.com/flowtune/flowtune/rl"
	"github.com/flowtune/flowtune/tensor"
)

// SD3Defaults is DefaultConfig with the settings Flow-GRPO and AWM train SD3.5 with: CFG 4.5
// rollouts of 10 steps at 512², LoRA r = 32, α = 64, lr 3e-4, micro-batches of 4.
func SD3Defaults(algo string) Config {
	c := DefaultConfig(algo)
	c.CFG, c.EvalCFG = 4.5, 4.5
	c.RolloutSteps, c.EvalSteps = 10, 10
	c.LoRARank, c.LoRAAlpha = 32, 64
	c.LR = 3e-4
	c.MicroBatch = 4
	c.Resolution = 512
	c.EvalPrompts, c.EvalSeeds = 16, 2
	return c
}

// SD3AdapterDir is the folder of a run directory holding the adapter in the PEFT / diffusers
// layout (StableDiffusion3Pipeline.load_lora_weights(dir) reads it).
const SD3AdapterDir = "lora"

// decodeBatch is how many latents the VAE decodes at a time (its activations at 512² are large).
const decodeBatch = 4

// SD3Pipeline is an SD3-family transformer with its VAE decoder and prompt-embedding cache.
type SD3Pipeline struct {
	Model   *sd3.Model
	VAE     *vae.Decoder
	Cache   *prompts.Cache
	Targets []string // LoRA targets (sd3.DefaultTargets when nil)
	side    int      // latent side
	uncond  diffusion.Cond
}

// NewSD3Pipeline checks that the parts fit together (latent channels, embedding widths, the
// empty prompt in the cache, the resolution) and returns the pipeline for images of
// resolution² pixels (0: the transformer's sample_size × the VAE factor).
func NewSD3Pipeline(m *sd3.Model, dec *vae.Decoder, cache *prompts.Cache, resolution int) (*SD3Pipeline, error) {
	if err := dec.CheckLatent(m.Cfg.InChannels); err != nil {
		return nil, err
	}
	if err := cache.CheckWidths(m.Cfg.JointAttentionDim, m.Cfg.PooledProjectionDim); err != nil {
		return nil, err
	}
	f := dec.Config.Factor()
	side := m.Cfg.SampleSize
	if resolution > 0 {
		if resolution%(f*m.Cfg.PatchSize) != 0 {
			return nil, fmt.Errorf("resolution %d: must be a multiple of %d (VAE factor %d × patch %d)", resolution, f*m.Cfg.PatchSize, f, m.Cfg.PatchSize)
		}
		side = resolution / f
	}
	if side/m.Cfg.PatchSize > m.Cfg.PosEmbedMaxSize {
		return nil, fmt.Errorf("resolution %d: %d×%d patches exceed the model's position table of %d×%d (at most %d px)",
			side*f, side/m.Cfg.PatchSize, side/m.Cfg.PatchSize, m.Cfg.PosEmbedMaxSize, m.Cfg.PosEmbedMaxSize, m.Cfg.PosEmbedMaxSize*m.Cfg.PatchSize*f)
	}
	// Per-block activation recomputation in the training forward: without it the tape of one
	// micro-batch of SD3.5-Medium at 512² holds ~45 GiB of float32 activations (sd3.EstimateTrainMemory);
	// with it, about 2 GiB, for one extra block forward per block in the backward.
	m.Recompute = true
	p := &SD3Pipeline{Model: m, VAE: dec, Cache: cache, side: side}
	var err error
	if p.uncond, err = p.Encode([]string{""}); err != nil {
		return nil, fmt.Errorf("classifier-free guidance needs the empty prompt: %w", err)
	}
	return p, nil
}

func (p *SD3Pipeline) Net() rl.Model { return p.Model }

func (p *SD3Pipeline) Backend() tensor.Backend { return p.Model.ProjOut.Weight.Backend() }

func (p *SD3Pipeline) AddPolicyAdapter(rank int, alpha float32, rng *tensor.RNG) error {
	targets := p.Targets
	if targets == nil {
		targets = sd3.DefaultTargets
	}
	_, err := sd3.AddLoRA(p.Model, rl.PolicyAdapter, rank, alpha, targets, rng)
	return err
}

func (p *SD3Pipeline) Encode(ps []string) (diffusion.Cond, error) {
	ctx, pooled, err := p.Cache.Batch(ps)
	if err != nil {
		return diffusion.Cond{}, err
	}
	return diffusion.EmbeddingCond(ctx, pooled, len(ps), p.Cache.SeqLen, p.Cache.Dim, p.Cache.PooledDim)
}

func (p *SD3Pipeline) Uncond() diffusion.Cond { return p.uncond }

func (p *SD3Pipeline) Latent() [3]int { return [3]int{p.Model.Cfg.InChannels, p.side, p.side} }

// Images decodes latents with the VAE, a few at a time.
func (p *SD3Pipeline) Images(x *tensor.Tensor) []*image.RGBA {
	var out []*image.RGBA
	for lo := 0; lo < x.Dim(0); lo += decodeBatch {
		var part *tensor.Tensor
		tensor.NoGrad(func() { part = tensor.Slice(x, 0, lo, min(lo+decodeBatch, x.Dim(0))) })
		out = append(out, p.VAE.Images(part)...)
	}
	return out
}

// SaveAdapter writes the policy adapter in the PEFT / diffusers layout to dir/lora.
func (p *SD3Pipeline) SaveAdapter(dir string) error {
	return sd3.SavePEFT(filepath.Join(dir, SD3AdapterDir), p.Model, rl.PolicyAdapter)
}

// LoadPromptSet reads the prompt files of cfg (prompts_file, and eval_prompts_file or else the
// training prompts again for the held-out evaluation); nil when cfg names none.
func LoadPromptSet(cfg Config) (*PromptSet, error) {
	if cfg.PromptsFile == "" {
		return nil, nil
	}
	train, err := prompts.ReadSet(cfg.PromptsFile)
	if err != nil {
		return nil, err
	}
	set := &PromptSet{Name: cfg.PromptsFile, Train: train, HeldOut: train}
	if cfg.EvalPromptsFile != "" {
		if set.HeldOut, err = prompts.ReadSet(cfg.EvalPromptsFile); err != nil {
			return nil, err
		}
		set.Name += " (held out: " + cfg.EvalPromptsFile + ")"
	}
	return set, nil
}

// CheckPrompts fails when a prompt of the run is missing from the cache, naming the missing
// ones and the command that adds them (before any step runs).
func (p *SD3Pipeline) CheckPrompts(ps []string) error { return p.Cache.CheckAll(ps, true) }
