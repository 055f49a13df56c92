package sd3

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/flowtune/flowtune/nn"
)

// A checkpoint on disk, opened: the safetensors files that hold the transformer, which file
// holds each key, and the layout the keys follow. Only headers are read here.

// Layouts.
const (
	LayoutDiffusers = "diffusers" // transformer/ folder: config.json + diffusion_pytorch_model*.safetensors
	LayoutStability = "stability" // single file, keys under model.diffusion_model.
)

type source struct {
	layout string
	prefix string // stripped from file keys ("model.diffusion_model." in single files)
	config string // config.json path, or "" when the config is inferred from the weights
	files  []*nn.SafetensorsFile
	where  map[string]*nn.SafetensorsFile // key without prefix → file
	other  int                            // keys outside the prefix (VAE, text encoders), ignored
}

func (s *source) close() {
	for _, f := range s.files {
		f.Close()
	}
}

// info returns the header entry of key and its file.
func (s *source) info(key string) (nn.SafetensorsInfo, *nn.SafetensorsFile, bool) {
	f, ok := s.where[key]
	if !ok {
		return nn.SafetensorsInfo{}, nil, false
	}
	in, _ := f.Info(s.prefix + key)
	return in, f, true
}

// describe names the checkpoint in errors.
func (s *source) describe() string {
	if len(s.files) == 1 {
		return s.files[0].Path()
	}
	return fmt.Sprintf("%s (%d shards)", filepath.Dir(s.files[0].Path()), len(s.files))
}

// openSource detects the layout at path: a diffusers root folder (with transformer/), a
// transformer/ folder itself, or one .safetensors file (Stability's single file, or a file of
// diffusers keys).
func openSource(path string) (*source, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("sd3: %w", err)
	}
	if !st.IsDir() {
		return openSingle(path)
	}
	dir := path
	if _, err := os.Stat(filepath.Join(path, "transformer", "config.json")); err == nil {
		dir = filepath.Join(path, "transformer")
	}
	cfgPath := filepath.Join(dir, "config.json")
	if _, err := os.Stat(cfgPath); err != nil {
		single, _ := filepath.Glob(filepath.Join(path, "*.safetensors"))
		if len(single) == 1 {
			return openSingle(single[0])
		}
		return nil, fmt.Errorf("sd3: %s is not an SD3 checkpoint: no transformer/config.json or config.json in it (want a diffusers folder, its transformer/ folder, or a .safetensors file)", path)
	}
	files, err := diffusersFiles(dir)
	if err != nil {
		return nil, err
	}
	s := &source{layout: LayoutDiffusers, config: cfgPath, where: map[string]*nn.SafetensorsFile{}}
	if strings.HasSuffix(files[0], ".index.json") {
		if err := s.openIndex(files[0]); err != nil {
			s.close()
			return nil, err
		}
		return s, nil
	}
	f, err := nn.OpenSafetensors(files[0])
	if err != nil {
		return nil, fmt.Errorf("sd3: %w", err)
	}
	s.files = []*nn.SafetensorsFile{f}
	for _, k := range f.Names() {
		s.where[k] = f
	}
	return s, nil
}

// diffusersFiles finds the weights of a transformer/ folder: an index of shards, or one file
// (diffusion_pytorch_model.safetensors, or a variant such as .fp16.safetensors).
func diffusersFiles(dir string) ([]string, error) {
	for _, pat := range []string{"diffusion_pytorch_model*.safetensors.index.json", "diffusion_pytorch_model*.safetensors"} {
		m, _ := filepath.Glob(filepath.Join(dir, pat))
		if strings.HasSuffix(pat, ".safetensors") {
			// Shards of an index also match; they are not a single-file checkpoint.
			var single []string
			for _, f := range m {
				if !strings.Contains(filepath.Base(f), "-of-") {
					single = append(single, f)
				}
			}
			m = single
		}
		sort.Strings(m)
		plain := filepath.Join(dir, strings.ReplaceAll(pat, "*", ""))
		for _, f := range m {
			if f == plain {
				return []string{f}, nil
			}
		}
		if len(m) == 1 {
			return m, nil
		}
		if len(m) > 1 {
			return nil, fmt.Errorf("sd3: %s holds several weight variants (%s); keep one", dir, strings.Join(m, ", "))
		}
	}
	return nil, fmt.Errorf("sd3: %s has config.json but no diffusion_pytorch_model*.safetensors (or its .index.json)", dir)
}

// openIndex opens the shards an index names and checks that the index and the shards agree.
func (s *source) openIndex(index string) error {
	raw, err := os.ReadFile(index)
	if err != nil {
		return fmt.Errorf("sd3: %w", err)
	}
	var idx struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(raw, &idx); err != nil || len(idx.WeightMap) == 0 {
		return fmt.Errorf("sd3: %s: not a safetensors index (want {\"weight_map\": {key: shard}}): %v", index, err)
	}
	shards := map[string]*nn.SafetensorsFile{}
	var names []string
	for _, sh := range idx.WeightMap {
		if _, ok := shards[sh]; !ok {
			shards[sh] = nil
			names = append(names, sh)
		}
	}
	sort.Strings(names)
	for _, sh := range names {
		if filepath.Base(sh) != sh {
			return fmt.Errorf("sd3: %s: shard name %q must be a file name in the same folder", index, sh)
		}
		f, err := nn.OpenSafetensors(filepath.Join(filepath.Dir(index), sh))
		if err != nil {
			return fmt.Errorf("sd3: shard of %s: %w", index, err)
		}
		shards[sh] = f
		s.files = append(s.files, f)
	}
	keys := make([]string, 0, len(idx.WeightMap))
	for k := range idx.WeightMap {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		f := shards[idx.WeightMap[k]]
		if _, ok := f.Info(k); !ok {
			return fmt.Errorf("sd3: %s maps tensor %q to %s, which does not hold it", index, k, f.Path())
		}
		s.where[k] = f
	}
	for _, f := range s.files {
		for _, k := range f.Names() {
			if s.where[k] != f {
				return fmt.Errorf("sd3: %s: tensor %q is not listed in %s for this shard (stale or mixed shards?)", f.Path(), k, index)
			}
		}
	}
	return nil
}

// openSingle opens one .safetensors file and picks its layout from the keys.
func openSingle(path string) (*source, error) {
	f, err := nn.OpenSafetensors(path)
	if err != nil {
		return nil, fmt.Errorf("sd3: %w", err)
	}
	s := &source{files: []*nn.SafetensorsFile{f}, where: map[string]*nn.SafetensorsFile{}}
	names := f.Names()
	has := func(k string) bool { _, ok := f.Info(k); return ok }
	switch {
	case has(StabilityPrefix + "context_embedder.weight"):
		s.layout, s.prefix = LayoutStability, StabilityPrefix
	case has("joint_blocks.0.x_block.attn.qkv.weight"):
		s.layout = LayoutStability
	case has("transformer_blocks.0.attn.to_q.weight"):
		s.layout = LayoutDiffusers
	default:
		f.Close()
		return nil, fmt.Errorf("sd3: %s holds no SD3 transformer: expected %q (Stability single file) or %q (diffusers keys)",
			path, StabilityPrefix+"context_embedder.weight", "transformer_blocks.0.attn.to_q.weight")
	}
	for _, k := range names {
		if strings.HasPrefix(k, s.prefix) {
			s.where[strings.TrimPrefix(k, s.prefix)] = f
		} else {
			s.other++
		}
	}
	return s, nil
}

// inferConfig reads the model's shape off the tensor shapes.
func (s *source) inferConfig() (Config, error) {
	stab := s.layout == LayoutStability
	pick := func(d, st string) string {
		if stab {
			return st
		}
		return d
	}
	need := func(key string, dims int) ([]int, error) {
		in, _, ok := s.info(key)
		if !ok {
			return nil, fmt.Errorf("sd3: %s (%s layout): missing tensor %q", s.describe(), s.layout, s.prefix+key)
		}
		if len(in.Shape) != dims {
			return nil, fmt.Errorf("sd3: %s: tensor %q has shape %s, expected %d dimensions", s.describe(), s.prefix+key, shapeString(in.Shape), dims)
		}
		return in.Shape, nil
	}
	var c Config
	ctx, err := need("context_embedder.weight", 2)
	if err != nil {
		return c, err
	}
	proj, err := need(pick("pos_embed.proj.weight", "x_embedder.proj.weight"), 4)
	if err != nil {
		return c, err
	}
	pooled, err := need(pick("time_text_embed.text_embedder.linear_1.weight", "y_embedder.mlp.0.weight"), 2)
	if err != nil {
		return c, err
	}
	table, err := need(pick(posTableKey, "pos_embed"), 3)
	if err != nil {
		return c, err
	}
	out, err := need(pick("proj_out.weight", "final_layer.linear.weight"), 2)
	if err != nil {
		return c, err
	}
	D := ctx[0]
	c.CaptionProjectionDim, c.JointAttentionDim = D, ctx[1]
	c.InChannels, c.PatchSize = proj[1], proj[2]
	c.PooledProjectionDim = pooled[1]
	c.OutChannels = out[0] / max(1, c.PatchSize*c.PatchSize)
	c.PosEmbedMaxSize = int(math.Round(math.Sqrt(float64(table[1]))))
	c.SampleSize = 128
	blockPrefix := pick("transformer_blocks.", "joint_blocks.")
	attn2 := pick(".attn2.to_q.weight", ".x_block.attn2.qkv.weight")
	for k := range s.where {
		if !strings.HasPrefix(k, blockPrefix) {
			continue
		}
		rest := strings.TrimPrefix(k, blockPrefix)
		dot := strings.IndexByte(rest, '.')
		i, err := strconv.Atoi(rest[:max(dot, 0)])
		if err != nil {
			continue
		}
		c.NumLayers = max(c.NumLayers, i+1)
		if rest[dot:] == attn2 {
			c.DualAttentionLayers = append(c.DualAttentionLayers, i)
		}
	}
	sort.Ints(c.DualAttentionLayers)
	c.AttentionHeadDim = 64 // the reference's fixed head width, unless the qk-norm weights say otherwise
	if in, _, ok := s.info(blockPrefix + "0" + pick(".attn.norm_q.weight", ".x_block.attn.ln_q.weight")); ok && len(in.Shape) == 1 {
		c.AttentionHeadDim = in.Shape[0]
		c.QKNorm = rms()
	}
	if D%c.AttentionHeadDim != 0 {
		return c, fmt.Errorf("sd3: %s: width %d (context_embedder.weight) is not a multiple of the head width %d", s.describe(), D, c.AttentionHeadDim)
	}
	c.NumAttentionHeads = D / c.AttentionHeadDim
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("sd3: %s: the weights describe an invalid model: %v", s.describe(), err)
	}
	return c, nil
}

// checkAgainst compares config.json with the configuration the weights imply, field by field.
func checkAgainst(path string, file, weights Config, where string) error {
	type field struct {
		name string
		a, b any
	}
	fields := []field{
		{"num_layers", file.NumLayers, weights.NumLayers},
		{"caption_projection_dim", file.CaptionProjectionDim, weights.CaptionProjectionDim},
		{"joint_attention_dim", file.JointAttentionDim, weights.JointAttentionDim},
		{"pooled_projection_dim", file.PooledProjectionDim, weights.PooledProjectionDim},
		{"in_channels", file.InChannels, weights.InChannels},
		{"out_channels", file.OutChannels, weights.OutChannels},
		{"patch_size", file.PatchSize, weights.PatchSize},
		{"pos_embed_max_size", file.PosEmbedMaxSize, weights.PosEmbedMaxSize},
		{"qk_norm", file.HasQKNorm(), weights.HasQKNorm()},
		{"dual_attention_layers", fmt.Sprint(file.DualAttentionLayers), fmt.Sprint(weights.DualAttentionLayers)},
	}
	if weights.HasQKNorm() {
		fields = append(fields, field{"attention_head_dim", file.AttentionHeadDim, weights.AttentionHeadDim})
	}
	var bad []string
	for _, f := range fields {
		if fmt.Sprint(f.a) != fmt.Sprint(f.b) {
			bad = append(bad, fmt.Sprintf("%s is %v in config.json, %v in the weights", f.name, f.a, f.b))
		}
	}
	if len(bad) > 0 {
		return errors.New("sd3: " + path + " does not match the weights in " + where + ": " + strings.Join(bad, "; "))
	}
	return nil
}

// Detect reports the layout of the SD3 checkpoint at path (LayoutDiffusers or LayoutStability)
// after reading only headers, or an error saying why path is not one. A command that accepts
// either flowtune's own model files or SD3 checkpoints can route on it.
func Detect(path string) (string, error) {
	s, err := openSource(path)
	if err != nil {
		return "", err
	}
	defer s.close()
	if _, err := s.inferConfig(); err != nil {
		return "", err
	}
	return s.layout, nil
}
