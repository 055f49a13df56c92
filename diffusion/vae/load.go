package vae

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/flowtune/flowtune/nn"
	"github.com/flowtune/flowtune/tensor"
)

// SingleFilePrefix is where Stability's single-file checkpoints keep the VAE.
const SingleFilePrefix = "first_stage_model."

// Options tune Load.
type Options struct {
	// NormGroups overrides the GroupNorm group count of a single-file checkpoint, which
	// carries no config: its levels and channels are read off the weight shapes, and the rest
	// (32 groups, scale 1.5305, shift 0.0609) is SD3's. 0 keeps 32.
	NormGroups int
}

// Load reads a decoder onto be from path: a diffusers `vae/` folder (config.json and
// diffusion_pytorch_model.safetensors), a model folder holding such a `vae/`, or a safetensors
// file whose VAE keys start with `first_stage_model.` (Stability's single file) or with
// `decoder.` (a bare VAE in Stability's naming).
func Load(be tensor.Backend, path string, o Options) (*Decoder, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("vae: %w", err)
	}
	if st.IsDir() {
		dir := path
		if _, err := os.Stat(filepath.Join(dir, "config.json")); errors.Is(err, os.ErrNotExist) {
			if _, err2 := os.Stat(filepath.Join(dir, "vae", "config.json")); err2 == nil {
				dir = filepath.Join(dir, "vae")
			}
		}
		return loadDiffusers(be, dir)
	}
	return loadSingle(be, path, o)
}

func loadDiffusers(be tensor.Backend, dir string) (*Decoder, error) {
	cfg, err := readDiffusersConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, err
	}
	file := filepath.Join(dir, "diffusion_pytorch_model.safetensors")
	f, err := nn.OpenSafetensors(file)
	if err != nil {
		return nil, fmt.Errorf("vae: %w", err)
	}
	defer f.Close()
	keys := map[string]string{} // decoder name → file key
	linear := map[string]bool{}
	for _, k := range f.Names() {
		name, lin, ok, err := fromDiffusers(k, len(cfg.BlockChannels))
		if err != nil {
			return nil, fmt.Errorf("vae: %s: %w", file, err)
		}
		if !ok {
			if strings.HasPrefix(k, "post_quant_conv.") {
				return nil, fmt.Errorf("vae: %s: has post_quant_conv: not an SD3-family VAE", file)
			}
			continue
		}
		if prev, dup := keys[name]; dup {
			return nil, fmt.Errorf("vae: %s: keys %q and %q both give %s", file, prev, k, name)
		}
		keys[name], linear[name] = k, lin
	}
	return build(be, cfg, f, keys, linear, func(n string) string { return n + " (Stability's naming; diffusers names it as in keys.go)" })
}

func loadSingle(be tensor.Backend, path string, o Options) (*Decoder, error) {
	f, err := nn.OpenSafetensors(path)
	if err != nil {
		return nil, fmt.Errorf("vae: %w", err)
	}
	defer f.Close()
	prefix := SingleFilePrefix
	if !slices.ContainsFunc(f.Names(), func(k string) bool { return strings.HasPrefix(k, prefix+"decoder.") }) {
		prefix = ""
	}
	keys := map[string]string{}
	for _, k := range f.Names() {
		if rest, ok := strings.CutPrefix(k, prefix); ok && strings.HasPrefix(rest, "decoder.") {
			keys[rest] = k
		}
		if k == prefix+"post_quant_conv.weight" {
			return nil, fmt.Errorf("vae: %s: has %s: not an SD3-family VAE", path, k)
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("vae: %s: no VAE decoder keys (looked for %sdecoder.* and decoder.*): pass the SD3 checkpoint that includes the VAE, or its diffusers vae/ folder", path, SingleFilePrefix)
	}
	cfg, err := inferConfig(f, keys)
	if err != nil {
		return nil, fmt.Errorf("vae: %s: %w", path, err)
	}
	if o.NormGroups > 0 {
		cfg.NormGroups = o.NormGroups
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return build(be, cfg, f, keys, nil, func(n string) string { return prefix + n })
}

// inferConfig reads the levels and channels of an SD3-style decoder off its weight shapes.
func inferConfig(f *nn.SafetensorsFile, keys map[string]string) (Config, error) {
	c := SD3()
	shape := func(name string) ([]int, error) {
		k, ok := keys[name]
		if !ok {
			return nil, fmt.Errorf("missing key %s", name)
		}
		info, _ := f.Info(k)
		return info.Shape, nil
	}
	in, err := shape("decoder.conv_in.weight")
	if err != nil {
		return c, err
	}
	if len(in) != 4 {
		return c, fmt.Errorf("decoder.conv_in.weight has shape %v, want [C, latent, 3, 3]", in)
	}
	c.LatentChannels = in[1]
	out, err := shape("decoder.conv_out.weight")
	if err != nil {
		return c, err
	}
	c.OutChannels = out[0]
	c.BlockChannels = nil
	for level := 0; ; level++ {
		s, err := shape(fmt.Sprintf("decoder.up.%d.block.0.conv1.weight", level))
		if err != nil {
			break
		}
		c.BlockChannels = append(c.BlockChannels, s[0])
	}
	if len(c.BlockChannels) == 0 {
		return c, fmt.Errorf("missing key decoder.up.0.block.0.conv1.weight")
	}
	c.LayersPerBlock = -1
	for j := 0; ; j++ {
		if _, err := shape(fmt.Sprintf("decoder.up.0.block.%d.conv1.weight", j)); err != nil {
			break
		}
		c.LayersPerBlock++
	}
	return c, nil
}

// build checks that the file holds exactly the decoder's parameters for cfg, with their shapes,
// and uploads them. keys maps decoder names to file keys; linear marks attention projections
// stored as [C, C] matrices.
func build(be tensor.Backend, cfg Config, f *nn.SafetensorsFile, keys map[string]string, linear map[string]bool, describe func(string) string) (*Decoder, error) {
	want := shapes(cfg)
	for _, name := range sortedNames(want) {
		if _, ok := keys[name]; !ok {
			return nil, fmt.Errorf("vae: %s: missing %s for the config %+v", f.Path(), describe(name), cfg)
		}
	}
	d := &Decoder{Config: cfg, params: map[string]*tensor.Tensor{}}
	for _, name := range sortedNames(toShapes(keys)) {
		shape, ok := want[name]
		if !ok {
			return nil, fmt.Errorf("vae: %s: unexpected key %s for the config %+v", f.Path(), keys[name], cfg)
		}
		ht, err := f.Read(keys[name])
		if err != nil {
			return nil, fmt.Errorf("vae: %w", err)
		}
		got := ht.Shape
		if linear[name] && len(got) == 2 {
			got = append(slices.Clone(got), 1, 1)
		}
		if !slices.Equal(got, shape) {
			return nil, fmt.Errorf("vae: %s: %s has shape %v, want %v", f.Path(), keys[name], ht.Shape, shape)
		}
		d.params[name] = tensor.New(be, ht.Data, shape...)
	}
	return d, nil
}

func toShapes(keys map[string]string) map[string][]int {
	m := make(map[string][]int, len(keys))
	for k := range keys {
		m[k] = nil
	}
	return m
}
