package vae

import (
	"fmt"
	"regexp"
	"strconv"
)

// Parameter names. The decoder names its parameters as Stability's layout does, minus the
// `first_stage_model.` prefix: decoder.conv_in, decoder.mid.block_1, decoder.mid.attn_1.{q,k,v,
// proj_out} (1×1 convolutions), decoder.up.<level>.block.<j>, decoder.up.<level>.upsample.conv,
// decoder.norm_out, decoder.conv_out; level 0 is the finest. diffusers numbers its up_blocks
// coarsest first and names a few modules differently; fromDiffusers translates.

var (
	reUpBlock   = regexp.MustCompile(`^decoder\.up_blocks\.(\d+)\.(resnets|upsamplers)\.(\d+)\.(.*)$`)
	reMidResnet = regexp.MustCompile(`^decoder\.mid_block\.resnets\.([01])\.(.*)$`)
	reMidAttn   = regexp.MustCompile(`^decoder\.mid_block\.attentions\.0\.(.*)$`)
)

// attnNames maps diffusers' attention module names (current and pre-0.14) onto Stability's.
var attnNames = map[string]string{
	"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out",
	"query": "q", "key": "k", "value": "v", "proj_attn": "proj_out",
}

// resnetPart renames a ResNet block's sub-module (conv_shortcut is Stability's nin_shortcut).
func resnetPart(rest string) string {
	if len(rest) > len("conv_shortcut") && rest[:len("conv_shortcut")] == "conv_shortcut" {
		return "nin_shortcut" + rest[len("conv_shortcut"):]
	}
	return rest
}

// fromDiffusers returns the decoder name of a diffusers AutoencoderKL key, whether it is an
// attention projection stored as a Linear ([C, C], to be reshaped to [C, C, 1, 1]), and ok =
// false for keys outside the decoder (the encoder, quant_conv).
func fromDiffusers(key string, levels int) (name string, linear, ok bool, err error) {
	switch {
	case key == "decoder.conv_in.weight" || key == "decoder.conv_in.bias" ||
		key == "decoder.conv_out.weight" || key == "decoder.conv_out.bias":
		return key, false, true, nil
	case key == "decoder.conv_norm_out.weight" || key == "decoder.conv_norm_out.bias":
		return "decoder.norm_out." + key[len("decoder.conv_norm_out."):], false, true, nil
	}
	if m := reMidResnet.FindStringSubmatch(key); m != nil {
		return "decoder.mid.block_" + map[string]string{"0": "1", "1": "2"}[m[1]] + "." + resnetPart(m[2]), false, true, nil
	}
	if m := reMidAttn.FindStringSubmatch(key); m != nil {
		for from, to := range attnNames {
			if len(m[1]) > len(from) && m[1][:len(from)+1] == from+"." {
				return "decoder.mid.attn_1." + to + m[1][len(from):], to != "norm", true, nil
			}
		}
		return "", false, false, fmt.Errorf("unknown attention parameter %q", key)
	}
	if m := reUpBlock.FindStringSubmatch(key); m != nil {
		k, _ := strconv.Atoi(m[1])
		if k >= levels {
			return "", false, false, fmt.Errorf("%q: up block %d, but the config has %d levels", key, k, levels)
		}
		level := levels - 1 - k
		if m[2] == "upsamplers" {
			return fmt.Sprintf("decoder.up.%d.upsample.%s", level, m[4]), false, true, nil
		}
		return fmt.Sprintf("decoder.up.%d.block.%s.%s", level, m[3], resnetPart(m[4])), false, true, nil
	}
	if len(key) > len("decoder.") && key[:len("decoder.")] == "decoder." {
		return "", false, false, fmt.Errorf("unknown decoder parameter %q", key)
	}
	return "", false, false, nil
}
