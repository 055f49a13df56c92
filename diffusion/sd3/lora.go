package sd3

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/flowtune/flowtune/nn"
	"github.com/flowtune/flowtune/tensor"
)

// LoRA on the SD3 transformer, and adapters in the PEFT / diffusers layout.
//
// Targets are module-name suffixes matched as PEFT matches target_modules: a Linear at path P
// is adapted when P equals a target or ends with "." + target. DefaultTargets is the list
// Flow-GRPO and AWM adapt (both streams' joint-attention projections; not attn2, not the
// MLPs). Adapter files hold
//
//	transformer.<module path>.lora_A.weight  [r, in]
//	transformer.<module path>.lora_B.weight  [out, r]
//
// and, in the safetensors metadata under "lora_adapter_metadata", the PEFT LoraConfig with the
// prefix "transformer." on each field (r, lora_alpha, target_modules, …): the file that
// StableDiffusion3Pipeline.save_lora_weights writes and load_lora_weights reads. The layer then
// computes W x + (lora_alpha / r)·B A x.

// DefaultTargets are the LoRA targets of Flow-GRPO and AWM on SD3.5.
var DefaultTargets = []string{
	"attn.to_q", "attn.to_k", "attn.to_v", "attn.to_out.0",
	"attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj", "attn.to_add_out",
}

// Flow-GRPO's and AWM's adapter size on SD3.5-Medium.
const (
	DefaultRank  = 32
	DefaultAlpha = 64
)

// PEFTFile is the adapter file name diffusers reads from a folder.
const PEFTFile = "pytorch_lora_weights.safetensors"

// loraPrefix is the component prefix of the transformer's keys in a pipeline's adapter file;
// peftModelPrefix the one PEFT's save_pretrained writes.
const (
	loraPrefix      = "transformer."
	peftModelPrefix = "base_model.model."
)

func matchTarget(path string, targets []string) bool {
	for _, t := range targets {
		if path == t || strings.HasSuffix(path, "."+t) {
			return true
		}
	}
	return false
}

// LoRATargets lists the paths of the Linear layers that targets select, in walking order.
func LoRATargets(m nn.Module, targets []string) []string {
	var out []string
	nn.Walk(m, func(path string, mod nn.Module) {
		if _, ok := mod.(*nn.Linear); ok && matchTarget(path, targets) {
			out = append(out, path)
		}
	})
	return out
}

// AddLoRA puts a fresh adapter called name (rank r, scale alpha/r, A Gaussian with std 1/r, B
// zero: PEFT's "gaussian" init) on every Linear of m that targets select, and returns how many.
// It is an error when no layer matches.
func AddLoRA(m nn.Module, name string, r int, alpha float32, targets []string, rng *tensor.RNG) (int, error) {
	if len(LoRATargets(m, targets)) == 0 {
		return 0, fmt.Errorf("sd3: no Linear layer matches the LoRA targets %q (module names look like transformer_blocks.0.attn.to_q)", targets)
	}
	return nn.AddAdapter(m, name, r, alpha, rng, func(p string) bool { return matchTarget(p, targets) }), nil
}

// peftConfig is the part of PEFT's LoraConfig an adapter file records.
type peftConfig struct {
	R              int            `json:"r"`
	LoraAlpha      float64        `json:"lora_alpha"`
	TargetModules  []string       `json:"target_modules"`
	LoraDropout    float64        `json:"lora_dropout"`
	Bias           string         `json:"bias"`
	InitLoraWeight string         `json:"init_lora_weights"`
	UseDora        bool           `json:"use_dora"`
	RankPattern    map[string]int `json:"rank_pattern"`
	AlphaPattern   map[string]any `json:"alpha_pattern"`
}

// adapterFile resolves a folder to the adapter file in it.
func adapterFile(path string) string {
	if st, err := os.Stat(path); (err == nil && st.IsDir()) || (err != nil && !strings.HasSuffix(path, ".safetensors")) {
		return filepath.Join(path, PEFTFile)
	}
	return path
}

// SavePEFT writes adapter name of m to path in the PEFT/diffusers layout: path is a folder
// (created if needed; the file is pytorch_lora_weights.safetensors in it, what
// load_lora_weights(folder) reads) or a .safetensors file. Weights are float32; the write is
// atomic. All layers of the adapter must share one rank and alpha.
func SavePEFT(path string, m nn.Module, name string) error {
	return SavePEFTWith(path, m, name, PEFTOptions{})
}

// PEFTOptions tune SavePEFTWith.
type PEFTOptions struct {
	// FoldScale multiplies each lora_B by alpha/r and records lora_alpha = r, so that a loader
	// that ignores lora_adapter_metadata (older diffusers, which then assume alpha = r) computes
	// the same layer. The function is unchanged; only the split between scale and B differs.
	FoldScale bool
}

// SavePEFTWith is SavePEFT with options.
func SavePEFTWith(path string, m nn.Module, name string, opt PEFTOptions) error {
	file := adapterFile(path)
	tensors := map[string]nn.HostTensor{}
	var rank int
	var alpha float32
	var targets []string
	var err error
	nn.Walk(m, func(p string, mod nn.Module) {
		l, ok := mod.(*nn.Linear)
		if !ok || err != nil {
			return
		}
		a := l.Adapter(name)
		if a == nil {
			return
		}
		if rank == 0 {
			rank, alpha = a.Rank, a.Alpha
		} else if a.Rank != rank || a.Alpha != alpha {
			err = fmt.Errorf("sd3: adapter %q has rank %d, alpha %g at %s but rank %d, alpha %g elsewhere; a PEFT file needs one of each", name, a.Rank, a.Alpha, p, rank, alpha)
			return
		}
		tensors[loraPrefix+p+".lora_A.weight"] = nn.HostTensor{Shape: a.A.Shape(), Data: a.A.Data()}
		bData := a.B.Data()
		if opt.FoldScale {
			for i := range bData {
				bData[i] *= a.Scale()
			}
		}
		tensors[loraPrefix+p+".lora_B.weight"] = nn.HostTensor{Shape: a.B.Shape(), Data: bData}
		targets = append(targets, p)
	})
	if err != nil {
		return err
	}
	if rank == 0 {
		return fmt.Errorf("sd3: no layer has adapter %q to save", name)
	}
	if opt.FoldScale {
		alpha = float32(rank)
	}
	cfg := peftConfig{R: rank, LoraAlpha: float64(alpha), TargetModules: targets, Bias: "none",
		InitLoraWeight: "gaussian", RankPattern: map[string]int{}, AlphaPattern: map[string]any{}}
	fields := map[string]any{}
	raw, _ := json.Marshal(cfg)
	var plain map[string]any
	_ = json.Unmarshal(raw, &plain)
	for k, v := range plain {
		fields[loraPrefix+k] = v
	}
	meta, _ := json.Marshal(fields)
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return fmt.Errorf("sd3: saving adapter: %w", err)
	}
	return nn.WriteSafetensors(file, tensors, map[string]string{"format": "pt", "lora_adapter_metadata": string(meta)})
}

// LoadPEFT reads a PEFT/diffusers LoRA file (or a folder holding pytorch_lora_weights.safetensors,
// or a PEFT save_pretrained folder with adapter_model.safetensors and adapter_config.json, as
// Flow-GRPO's checkpoints are) into m as adapter name, creating it on the layers the file names
// (keys with the "transformer." or "base_model.model." prefix, or none). The scale is lora_alpha/r from the file's lora_adapter_metadata
// (alpha_pattern and rank_pattern honoured); without metadata it is 1 (alpha = r), diffusers'
// rule. An existing adapter of that name is overwritten where the ranks agree. Errors name
// the file and key: keys of other components (text encoders) or of modules the model lacks,
// an A without its B, or shapes that do not fit the layer.
func LoadPEFT(path string, m nn.Module, name string) (int, error) {
	file := adapterFile(path)
	meta := map[string]string(nil)
	if _, err := os.Stat(file); err != nil {
		// A PEFT save_pretrained folder (Flow-GRPO's checkpoints): adapter_model.safetensors
		// with its LoraConfig in adapter_config.json.
		peft := filepath.Join(filepath.Dir(file), "adapter_model.safetensors")
		if _, perr := os.Stat(peft); perr == nil {
			raw, err := os.ReadFile(filepath.Join(filepath.Dir(file), "adapter_config.json"))
			if err != nil {
				return 0, fmt.Errorf("sd3: %s needs the adapter_config.json beside it: %w", peft, err)
			}
			file, meta = peft, map[string]string{"lora_adapter_metadata": string(raw)}
		}
	}
	f, err := nn.OpenSafetensors(file)
	if err != nil {
		return 0, fmt.Errorf("sd3: %w", err)
	}
	defer f.Close()
	if meta == nil {
		meta = f.Metadata()
	}
	cfg, err := readPEFTMeta(file, meta)
	if err != nil {
		return 0, err
	}
	layers := map[string]*nn.Linear{}
	nn.Walk(m, func(p string, mod nn.Module) {
		if l, ok := mod.(*nn.Linear); ok {
			layers[p] = l
		}
	})
	type pair struct{ a, b string }
	mods := map[string]*pair{}
	for _, k := range f.Names() {
		if strings.HasPrefix(k, "text_encoder") {
			return 0, fmt.Errorf("sd3: %s: tensor %q is not a LoRA weight of the transformer: the file also adapts a text encoder, which flowtune does not run (prompt embeddings come precomputed)", file, k)
		}
		key := strings.TrimPrefix(strings.TrimPrefix(k, loraPrefix), peftModelPrefix)
		var mod string
		switch {
		case strings.HasSuffix(key, ".lora_A.weight"):
			mod = strings.TrimSuffix(key, ".lora_A.weight")
		case strings.HasSuffix(key, ".lora_B.weight"):
			mod = strings.TrimSuffix(key, ".lora_B.weight")
		case strings.HasSuffix(key, ".alpha"):
			continue // kohya-style per-module alpha, read below
		default:
			return 0, fmt.Errorf("sd3: %s: tensor %q is not a LoRA weight of the transformer (want transformer.<module>.lora_A.weight / lora_B.weight)", file, k)
		}
		if layers[mod] == nil {
			return 0, fmt.Errorf("sd3: %s: tensor %q names module %q, which the model does not have", file, k, mod)
		}
		p := mods[mod]
		if p == nil {
			p = &pair{}
			mods[mod] = p
		}
		if strings.HasSuffix(key, "lora_A.weight") {
			p.a = k
		} else {
			p.b = k
		}
	}
	if len(mods) == 0 {
		return 0, fmt.Errorf("sd3: %s holds no LoRA weights", file)
	}
	paths := make([]string, 0, len(mods))
	for p := range mods {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	// Check everything before changing the model.
	for _, p := range paths {
		pr, l := mods[p], layers[p]
		if pr.a == "" || pr.b == "" {
			return 0, fmt.Errorf("sd3: %s: module %q has only one of lora_A and lora_B", file, p)
		}
		ia, _ := f.Info(pr.a)
		ib, _ := f.Info(pr.b)
		if len(ia.Shape) != 2 || len(ib.Shape) != 2 || ia.Shape[1] != l.In() || ib.Shape[0] != l.Out() || ia.Shape[0] != ib.Shape[1] {
			return 0, fmt.Errorf("sd3: %s: module %q: lora_A %s and lora_B %s do not fit a Linear %d → %d (want [r, %d] and [%d, r])",
				file, p, shapeString(ia.Shape), shapeString(ib.Shape), l.In(), l.Out(), l.In(), l.Out())
		}
		if a := l.Adapter(name); a != nil && a.Rank != ia.Shape[0] {
			return 0, fmt.Errorf("sd3: %s: module %q has rank %d, the model's adapter %q rank %d", file, p, ia.Shape[0], name, a.Rank)
		}
	}
	for _, p := range paths {
		pr, l := mods[p], layers[p]
		ta, err := f.Read(pr.a)
		if err != nil {
			return 0, fmt.Errorf("sd3: %w", err)
		}
		tb, err := f.Read(pr.b)
		if err != nil {
			return 0, fmt.Errorf("sd3: %w", err)
		}
		r := ta.Shape[0]
		alpha := float32(r)
		if cfg != nil {
			alpha = cfg.alphaFor(p, r)
		}
		if t, err := f.Read(strings.TrimSuffix(pr.a, ".lora_A.weight") + ".alpha"); err == nil && len(t.Data) == 1 {
			alpha = t.Data[0]
		}
		a := l.Adapter(name)
		if a == nil {
			a = l.AddAdapter(name, r, alpha, tensor.NewRNG(0))
		}
		a.Alpha = alpha
		a.A.SetData(ta.Data)
		a.B.SetData(tb.Data)
	}
	return len(paths), nil
}

// peftMeta is the LoraConfig read back from a file's metadata.
type peftMeta struct {
	r            int
	alpha        float64
	rankPattern  map[string]int
	alphaPattern map[string]float64
}

// alphaFor is the alpha of module path p with rank r: PEFT's alpha_pattern, else lora_alpha.
// (rank_pattern only changes r, which the tensor shapes already give.)
func (c *peftMeta) alphaFor(p string, r int) float32 {
	keys := make([]string, 0, len(c.alphaPattern))
	for k := range c.alphaPattern {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if p == k || strings.HasSuffix(p, "."+k) {
			return float32(c.alphaPattern[k])
		}
	}
	return float32(c.alpha)
}

func readPEFTMeta(file string, meta map[string]string) (*peftMeta, error) {
	raw, ok := meta["lora_adapter_metadata"]
	if !ok {
		return nil, nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &fields); err != nil {
		return nil, fmt.Errorf("sd3: %s: lora_adapter_metadata is not JSON: %v", file, err)
	}
	get := func(k string) (json.RawMessage, bool) {
		if v, ok := fields[loraPrefix+k]; ok {
			return v, true
		}
		v, ok := fields[k]
		return v, ok
	}
	c := &peftMeta{}
	if v, ok := get("lora_alpha"); ok {
		if err := json.Unmarshal(v, &c.alpha); err != nil {
			return nil, fmt.Errorf("sd3: %s: lora_adapter_metadata lora_alpha %s: %v", file, v, err)
		}
	} else {
		return nil, nil
	}
	if v, ok := get("r"); ok {
		_ = json.Unmarshal(v, &c.r)
	}
	if v, ok := get("alpha_pattern"); ok {
		var ap map[string]json.Number
		if err := json.Unmarshal(v, &ap); err != nil {
			return nil, fmt.Errorf("sd3: %s: lora_adapter_metadata alpha_pattern %s: %v", file, v, err)
		}
		c.alphaPattern = map[string]float64{}
		for k, n := range ap {
			f, err := strconv.ParseFloat(string(n), 64)
			if err != nil {
				return nil, fmt.Errorf("sd3: %s: alpha_pattern[%q] = %s is not a number", file, k, n)
			}
			c.alphaPattern[k] = f
		}
	}
	return c, nil
}
