package sd3

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/flowtune/flowtune/nn"
	"github.com/flowtune/flowtune/tensor"
)

// LoadOptions tune Load.
type LoadOptions struct {
	// BaseDType is the storage of the base Linear weights: tensor.Float32, or tensor.BFloat16 on
	// a backend that stores it (the frozen base of LoRA training; half the memory). The zero
	// value picks BFloat16 where the backend has it and Float32 elsewhere.
	BaseDType tensor.DType
	// ForceFloat32 keeps float32 weights even on a backend with bfloat16 storage.
	ForceFloat32 bool
}

// Loaded describes what Load read.
type Loaded struct {
	Layout  string   // LayoutDiffusers or LayoutStability
	Files   []string // the safetensors files read
	DTypes  []string // the on-disk dtypes met (sorted)
	Ignored int      // tensors outside the transformer (VAE, text encoders in a single file)
}

// Load reads an SD3-family transformer from path: a diffusers root folder (…/transformer/
// config.json and diffusion_pytorch_model*.safetensors, sharded with an .index.json or not),
// its transformer/ folder, or one .safetensors file (Stability's single file with keys under
// model.diffusion_model., or a file of diffusers keys). bf16, fp16 and fp32 on disk. Tensors
// are read, converted and uploaded one at a time, so the host never holds a second copy of the
// model. Every problem is an error naming the file, the tensor and what was expected.
func Load(b tensor.Backend, path string) (*Model, error) {
	m, _, err := LoadWith(b, path, LoadOptions{})
	return m, err
}

// LoadWith is Load with options; it also reports what it read.
func LoadWith(b tensor.Backend, path string, opt LoadOptions) (*Model, *Loaded, error) {
	src, err := openSource(path)
	if err != nil {
		return nil, nil, err
	}
	defer src.close()
	weights, err := src.inferConfig()
	if err != nil {
		return nil, nil, err
	}
	cfg := weights
	if src.config != "" {
		fileCfg, err := ReadConfig(src.config)
		if err != nil {
			return nil, nil, err
		}
		if err := checkAgainst(src.config, fileCfg, weights, src.describe()); err != nil {
			return nil, nil, err
		}
		cfg = fileCfg
	}
	ents := entries(cfg)
	if err := src.check(ents); err != nil {
		return nil, nil, err
	}

	dtype := opt.BaseDType
	if opt.ForceFloat32 {
		dtype = tensor.Float32
	} else if dtype == tensor.Float32 && supportsBF16(b) && opt == (LoadOptions{}) {
		dtype = tensor.BFloat16
	}
	m, err := build(builder{b: b, dtype: dtype}, cfg)
	if err != nil {
		return nil, nil, err
	}
	if err := src.fill(m, ents); err != nil {
		return nil, nil, err
	}
	info := &Loaded{Layout: src.layout, Ignored: src.other}
	seen := map[string]bool{}
	for _, f := range src.files {
		info.Files = append(info.Files, f.Path())
		for _, k := range f.Names() {
			in, _ := f.Info(k)
			seen[in.DType] = true
		}
	}
	for d := range seen {
		info.DTypes = append(info.DTypes, d)
	}
	sort.Strings(info.DTypes)
	return m, info, nil
}

// key is the file key of an entry in the source's layout, and its shape there.
func (s *source) key(e entry) (string, []int) {
	if s.layout == LayoutStability {
		return e.Stab, e.StabShape
	}
	return e.Name, e.Shape
}

// check compares the files with the entries: every key present with its shape and a readable
// dtype, no key of the transformer left over. It reports every problem at once.
func (s *source) check(ents []entry) error {
	want := map[string][]int{}
	for _, e := range ents {
		k, shape := s.key(e)
		want[k] = shape
	}
	var missing, unexpected, wrong []string
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		in, f, ok := s.info(k)
		switch {
		case !ok:
			missing = append(missing, fmt.Sprintf("%q (shape %s)", s.prefix+k, shapeString(want[k])))
		case !slices.Equal(in.Shape, want[k]):
			wrong = append(wrong, fmt.Sprintf("%s: tensor %q has shape %s (%s), the model expects %s", f.Path(), s.prefix+k, shapeString(in.Shape), in.DType, shapeString(want[k])))
		case in.DType != nn.SafetensorsF32 && in.DType != nn.SafetensorsBF16 && in.DType != nn.SafetensorsF16:
			wrong = append(wrong, fmt.Sprintf("%s: tensor %q has dtype %s; SD3 weights must be F32, BF16 or F16", f.Path(), s.prefix+k, in.DType))
		}
	}
	for k, f := range s.where {
		if _, ok := want[k]; !ok {
			unexpected = append(unexpected, fmt.Sprintf("%q in %s", s.prefix+k, f.Path()))
		}
	}
	sort.Strings(unexpected)
	if len(missing)+len(unexpected)+len(wrong) == 0 {
		return nil
	}
	var parts []string
	if len(missing) > 0 {
		parts = append(parts, fmt.Sprintf("missing %d tensor(s): %s", len(missing), firstFew(missing)))
	}
	if len(unexpected) > 0 {
		parts = append(parts, fmt.Sprintf("unexpected %d tensor(s): %s", len(unexpected), firstFew(unexpected)))
	}
	parts = append(parts, wrong...)
	return fmt.Errorf("sd3: %s (%s layout) does not match the model it describes: %s", s.describe(), s.layout, strings.Join(parts, "; "))
}

func firstFew(items []string) string {
	const show = 8
	if len(items) <= show {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:show], ", ") + fmt.Sprintf(", … (%d more)", len(items)-show)
}

// fill reads every entry into the model, one tensor at a time (a fused qkv is read once for
// its three parts).
func (s *source) fill(m *Model, ents []entry) error {
	params := map[string]*tensor.Tensor{}
	m.Params("", func(name string, p *tensor.Tensor) { params[name] = p })
	var fusedKey string
	var fused []float32
	for _, e := range ents {
		k, _ := s.key(e)
		var data []float32
		if e.Part >= 0 && s.layout == LayoutStability {
			if k != fusedKey {
				t, err := s.where[k].Read(s.prefix + k)
				if err != nil {
					return fmt.Errorf("sd3: %w", err)
				}
				fusedKey, fused = k, t.Data
			}
			n := len(fused) / 3
			data = fused[e.Part*n : (e.Part+1)*n]
		} else {
			t, err := s.where[k].Read(s.prefix + k)
			if err != nil {
				return fmt.Errorf("sd3: %w", err)
			}
			data = t.Data
			if e.Swap && s.layout == LayoutDiffusers {
				swapHalves(data)
			}
		}
		if e.Name == posTableKey {
			m.PosEmbed.Table = data
			m.PosEmbed.cache = nil
			continue
		}
		p, ok := params[e.Name]
		if !ok {
			panic(fmt.Sprintf("sd3: entry %q has no parameter in the model", e.Name))
		}
		p.SetData(data)
	}
	return nil
}
