package vae

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/flowtune/flowtune/internal/atomicfile"
	"github.com/flowtune/flowtune/nn"
)

// Tiny is a small random configuration with the SD3 VAE's structure (16 latent channels, two
// levels, a width-changing ResNet block, the mid-block attention) that pairs with the tiny
// SD3 transformer: images are 2× the latent side.
func Tiny() Config {
	return Config{LatentChannels: 16, OutChannels: 3, BlockChannels: []int{32, 64}, LayersPerBlock: 1,
		NormGroups: 32, Scale: 1.5305, Shift: 0.0609}
}

// toDiffusers is fromDiffusers' inverse: the diffusers key of a decoder parameter, and whether
// it is stored as a Linear ([C, C]) there.
func toDiffusers(name string, levels int) (string, bool) {
	rest := strings.TrimPrefix(name, "decoder.")
	parts := strings.Split(rest, ".")
	switch parts[0] {
	case "conv_in", "conv_out":
		return name, false
	case "norm_out":
		return "decoder.conv_norm_out." + parts[1], false
	case "mid":
		if strings.HasPrefix(parts[1], "block_") {
			i, _ := strconv.Atoi(strings.TrimPrefix(parts[1], "block_"))
			return fmt.Sprintf("decoder.mid_block.resnets.%d.%s", i-1, diffusersResnetPart(strings.Join(parts[2:], "."))), false
		}
		mod := map[string]string{"norm": "group_norm", "q": "to_q", "k": "to_k", "v": "to_v", "proj_out": "to_out.0"}[parts[2]]
		return "decoder.mid_block.attentions.0." + mod + "." + parts[3], parts[2] != "norm"
	case "up":
		level, _ := strconv.Atoi(parts[1])
		k := levels - 1 - level
		if parts[2] == "upsample" {
			return fmt.Sprintf("decoder.up_blocks.%d.upsamplers.0.%s", k, strings.Join(parts[3:], ".")), false
		}
		return fmt.Sprintf("decoder.up_blocks.%d.resnets.%s.%s", k, parts[3], diffusersResnetPart(strings.Join(parts[4:], "."))), false
	}
	panic("vae: unknown decoder parameter " + name)
}

func diffusersResnetPart(rest string) string {
	if r, ok := strings.CutPrefix(rest, "nin_shortcut"); ok {
		return "conv_shortcut" + r
	}
	return rest
}

// WriteDiffusers writes d as a diffusers vae/ folder (config.json and
// diffusion_pytorch_model.safetensors, decoder only) in dtype (F32, BF16), atomically file by
// file. Random decoders written this way stand in for a real VAE in tests and timings.
func WriteDiffusers(dir string, d *Decoder, dtype string) error {
	c := d.Config
	ts := map[string]nn.HostTensor{}
	for name, p := range d.params {
		key, linear := toDiffusers(name, len(c.BlockChannels))
		shape := p.Shape()
		if linear && len(shape) == 4 {
			shape = shape[:2]
		}
		ts[key] = nn.HostTensor{Shape: shape, Data: p.Data()}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("vae: %w", err)
	}
	if err := nn.WriteSafetensorsAs(filepath.Join(dir, "diffusion_pytorch_model.safetensors"), ts, nil, dtype); err != nil {
		return err
	}
	types := make([]string, len(c.BlockChannels))
	for i := range types {
		types[i] = "UpDecoderBlock2D"
	}
	cfg := map[string]any{
		"_class_name": "AutoencoderKL", "in_channels": c.OutChannels, "out_channels": c.OutChannels,
		"block_out_channels": c.BlockChannels, "layers_per_block": c.LayersPerBlock,
		"latent_channels": c.LatentChannels, "norm_num_groups": c.NormGroups,
		"scaling_factor": c.Scale, "shift_factor": c.Shift, "use_quant_conv": false, "use_post_quant_conv": false,
		"up_block_types": types, "mid_block_add_attention": true,
	}
	data, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteBytes(filepath.Join(dir, "config.json"), append(data, '\n'))
}
