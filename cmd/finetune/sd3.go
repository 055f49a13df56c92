package main

// SD3-family models: -model <diffusers folder | single file> with -embeddings (the prompt
// cache), -prompts-file and a remote reward; the VAE is the model's own unless -vae names one.

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/rs/zerolog"

	"github.com/flowtune/flowtune/diffusion/prompts"
	"github.com/flowtune/flowtune/diffusion/sd3"
	"github.com/flowtune/flowtune/diffusion/vae"
	"github.com/flowtune/flowtune/nn"
	"github.com/flowtune/flowtune/rl/train"
	"github.com/flowtune/flowtune/tensor"
)

// sd3Model reports whether path is an SD3-family checkpoint. A folder can only be one (flowtune's
// own models are single files), so a folder that fails the check is an error; a file that fails
// it is taken for a flowtune model.
func sd3Model(path string) (bool, error) {
	if path == "" {
		return false, nil
	}
	st, err := os.Stat(path)
	if err != nil {
		return false, fmt.Errorf("-model: %w", err)
	}
	if _, err := sd3.Detect(path); err != nil {
		if st.IsDir() {
			return false, fmt.Errorf("-model %s: %w", path, err)
		}
		return false, nil
	}
	return true, nil
}

// setupSD3 loads the transformer, its VAE, the prompt cache and the prompt files, and checks
// that they fit together.
func setupSD3(b tensor.Backend, model string, cfg train.Config, log zerolog.Logger) (*train.SD3Pipeline, *train.PromptSet, func(), error) {
	if cfg.Embeddings == "" {
		return nil, nil, nil, errors.New("an SD3-family model is conditioned on precomputed prompt embeddings: give -embeddings cache.safetensors " +
			"(python3 tools/encode_prompts.py --model " + model + " --prompts <file> --out cache.safetensors; random ones for a random model: go run ./cmd/embedcache -random)")
	}
	if cfg.PromptsFile == "" {
		return nil, nil, nil, errors.New("an SD3-family model trains on a prompt file: give -prompts train.txt (or .jsonl)")
	}
	m, loaded, err := sd3.LoadWith(b, model, sd3.LoadOptions{})
	if err != nil {
		return nil, nil, nil, err
	}
	vaePath := cfg.VAE
	if vaePath == "" {
		vaePath = model
	}
	dec, err := vae.Load(b, vaePath, vae.Options{})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w (set -vae to the model's VAE)", err)
	}
	cache, err := prompts.Open(cfg.Embeddings)
	if err != nil {
		return nil, nil, nil, err
	}
	fail := func(err error) (*train.SD3Pipeline, *train.PromptSet, func(), error) {
		cache.Close()
		return nil, nil, nil, err
	}
	pipe, err := train.NewSD3Pipeline(m, dec, cache, cfg.Resolution)
	if err != nil {
		return fail(err)
	}
	set, err := train.LoadPromptSet(cfg)
	if err != nil {
		return fail(err)
	}
	lat := pipe.Latent()
	log.Info().Str("model", model).Str("layout", loaded.Layout).Str("dtypes", strings.Join(loaded.DTypes, ",")).
		Int("params", nn.CountParams(m)).Int("vae_params", nn.CountParams(dec)).
		Str("latent", fmt.Sprintf("%dx%dx%d", lat[0], lat[1], lat[2])).Int("image_px", lat[1]*dec.Config.Factor()).
		Int("cached_prompts", cache.Len()).Int("train_prompts", len(set.Train)).Int("heldout_prompts", len(set.HeldOut)).Msg("setup")
	return pipe, set, func() { cache.Close() }, nil
}

// promptFileArgs lets -prompts name a prompt file, as Flow-GRPO's users expect: "-prompts
// train.txt" becomes "-prompts-file train.txt", while "-prompts 4" stays the number of prompts
// per step.
func promptFileArgs(args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "prompts" {
			out = append(out, a)
			continue
		}
		if !hasVal {
			if i+1 >= len(args) {
				out = append(out, a)
				continue
			}
			i++
			val = args[i]
		}
		if _, err := strconv.Atoi(val); err == nil {
			out = append(out, "-prompts", val)
		} else {
			out = append(out, "-prompts-file", val)
		}
	}
	return out
}
