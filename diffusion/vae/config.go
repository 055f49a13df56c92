// Package vae is the decoder of the Stable Diffusion 3 / 3.5 autoencoder: it turns the
// transformer's 16-channel latents into RGB images for the rewards, the sample grids and the
// evaluation. Only the decoder is built (RL post-training never encodes images).
//
// Weights load from either layout people have on disk: a diffusers `vae/` folder (config.json
// and diffusion_pytorch_model.safetensors) or Stability's single checkpoint file, whose VAE lives
// under `first_stage_model.`; bf16, fp16 and fp32 are all read as float32. Inside, parameters
// are named as in Stability's layout (decoder.mid.block_1.conv1.weight, ...); keys.go maps the
// diffusers names onto them.
//
// Decoding: z/scale + shift (SD3: 1.5305, 0.0609), then conv_in, the middle (ResNet block,
// single-head self-attention over all pixels, ResNet block), the up levels (ResNet blocks and
// nearest-neighbour 2× upsampling followed by a 3×3 convolution), GroupNorm, SiLU and conv_out.
// Every GroupNorm has eps 1e-6.
package vae

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
)

// Config is the decoder's architecture and latent normalisation.
type Config struct {
	LatentChannels int   // channels of the latent (SD3: 16)
	OutChannels    int   // image channels (3)
	BlockChannels  []int // channels per resolution level, finest first (SD3: 128, 256, 512, 512)
	LayersPerBlock int   // the decoder has LayersPerBlock+1 ResNet blocks per level (SD3: 2)
	NormGroups     int   // GroupNorm groups (32)
	Scale, Shift   float64
}

// SD3 is the configuration of the SD3 / SD3.5 VAE.
func SD3() Config {
	return Config{LatentChannels: 16, OutChannels: 3, BlockChannels: []int{128, 256, 512, 512},
		LayersPerBlock: 2, NormGroups: 32, Scale: 1.5305, Shift: 0.0609}
}

// Factor is how many image pixels one latent pixel spans along each axis.
func (c Config) Factor() int { return 1 << (len(c.BlockChannels) - 1) }

// Validate reports a configuration the decoder cannot be built from.
func (c Config) Validate() error {
	if c.LatentChannels <= 0 || c.OutChannels <= 0 || len(c.BlockChannels) == 0 || c.LayersPerBlock < 0 || c.NormGroups <= 0 || c.Scale == 0 {
		return fmt.Errorf("vae: invalid config %+v (want positive channels, at least one level, a non-zero scale)", c)
	}
	for _, ch := range c.BlockChannels {
		if ch <= 0 || ch%c.NormGroups != 0 {
			return fmt.Errorf("vae: block channels %v must be positive multiples of the %d norm groups", c.BlockChannels, c.NormGroups)
		}
	}
	return nil
}

// diffusersConfig is the part of a diffusers AutoencoderKL config.json the decoder needs.
type diffusersConfig struct {
	Class            string   `json:"_class_name"`
	OutChannels      *int     `json:"out_channels"`
	BlockOutChannels []int    `json:"block_out_channels"`
	LayersPerBlock   *int     `json:"layers_per_block"`
	LatentChannels   *int     `json:"latent_channels"`
	NormNumGroups    *int     `json:"norm_num_groups"`
	ScalingFactor    *float64 `json:"scaling_factor"`
	ShiftFactor      *float64 `json:"shift_factor"`
	UsePostQuantConv *bool    `json:"use_post_quant_conv"`
	MidBlockAttn     *bool    `json:"mid_block_add_attention"`
}

// readDiffusersConfig reads a diffusers vae/config.json; absent keys take diffusers' defaults
// where those match SD3's and are required otherwise.
func readDiffusersConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("vae: %w", err)
	}
	var d diffusersConfig
	if err := json.Unmarshal(data, &d); err != nil {
		return Config{}, fmt.Errorf("vae: %s: %w", path, err)
	}
	if d.Class != "" && d.Class != "AutoencoderKL" {
		return Config{}, fmt.Errorf("vae: %s: _class_name %q, want AutoencoderKL", path, d.Class)
	}
	if d.UsePostQuantConv == nil || *d.UsePostQuantConv {
		return Config{}, fmt.Errorf("vae: %s: use_post_quant_conv is not false: this is not an SD3-family VAE (flowtune decodes the 16-channel SD3 / SD3.5 VAE)", path)
	}
	if d.MidBlockAttn != nil && !*d.MidBlockAttn {
		return Config{}, fmt.Errorf("vae: %s: mid_block_add_attention false is not supported", path)
	}
	c := Config{OutChannels: 3, LayersPerBlock: 1, NormGroups: 32, Scale: 1, BlockChannels: slices.Clone(d.BlockOutChannels)}
	for _, f := range []struct {
		dst *int
		src *int
	}{{&c.OutChannels, d.OutChannels}, {&c.LayersPerBlock, d.LayersPerBlock}, {&c.LatentChannels, d.LatentChannels}, {&c.NormGroups, d.NormNumGroups}} {
		if f.src != nil {
			*f.dst = *f.src
		}
	}
	if d.LatentChannels == nil || len(d.BlockOutChannels) == 0 || d.ScalingFactor == nil {
		return Config{}, fmt.Errorf("vae: %s: needs latent_channels, block_out_channels and scaling_factor", path)
	}
	c.Scale = *d.ScalingFactor
	if d.ShiftFactor != nil {
		c.Shift = *d.ShiftFactor
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("%w (%s)", err, path)
	}
	return c, nil
}
