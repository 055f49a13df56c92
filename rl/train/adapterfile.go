package train

// Reading a run's trained adapter back, for sampling from a fine-tuned model or exporting it
// merged into the base weights (cmd/sample -run, -adapters, -export).

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/flowtune/flowtune/nn"
	"github.com/flowtune/flowtune/rl"
)

// TrainedAdapter is a run's policy adapter as a file holds it.
type TrainedAdapter struct {
	Path    string                   // the file it was read from
	Tensors map[string]nn.HostTensor // PEFT names: <layer>.lora_A.policy.weight, <layer>.lora_B.policy.weight
	Alpha   float64                  // LoRA alpha (the scale is alpha/rank)
	Step    int                      // optimizer steps the adapter was trained for
	Base    string                   // the base model the run trained: a checkpoint path, the shipped model's name, or "" when the file does not say
}

// ReadAdapter reads the policy adapter from a run's adapters.safetensors or
// checkpoint.safetensors (which one is told by its contents, not its name).
func ReadAdapter(path string) (*TrainedAdapter, error) {
	f, err := nn.OpenSafetensors(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	meta := f.Metadata()
	a := &TrainedAdapter{Path: path, Tensors: map[string]nn.HostTensor{}, Base: meta[metaBase]}
	cfg := DefaultConfig("")
	if y, ok := meta[metaConfig]; ok {
		if err := cfg.decodeYAML(path, []byte(y)); err != nil {
			return nil, fmt.Errorf("%s: the run's config in the metadata is unreadable: %w", path, err)
		}
	} else {
		return nil, fmt.Errorf("%s: not a flowtune run's adapter or checkpoint file (no %s metadata); "+
			"a merged model exported by sample -export is loaded with -model instead", path, metaConfig)
	}
	a.Alpha = cfg.LoRAAlpha
	suffixA, suffixB := ".lora_A."+rl.PolicyAdapter+".weight", ".lora_B."+rl.PolicyAdapter+".weight"
	if st, ok := meta[metaState]; ok { // a checkpoint: the policy among all adapter sets and the optimizer state
		var s checkpointState
		if err := json.Unmarshal([]byte(st), &s); err != nil {
			return nil, fmt.Errorf("%s: unreadable training state: %v", path, err)
		}
		a.Step = s.Step
		for _, name := range f.Names() {
			if rest, ok := strings.CutPrefix(name, "adapter/"); ok && (strings.HasSuffix(rest, suffixA) || strings.HasSuffix(rest, suffixB)) {
				if a.Tensors[rest], err = f.Read(name); err != nil {
					return nil, err
				}
			}
		}
	} else {
		if v, ok := meta["flowtune.lora_alpha"]; ok {
			if a.Alpha, err = strconv.ParseFloat(v, 64); err != nil {
				return nil, fmt.Errorf("%s: bad flowtune.lora_alpha %q", path, v)
			}
		}
		if v, ok := meta["flowtune.step"]; ok {
			if a.Step, err = strconv.Atoi(v); err != nil {
				return nil, fmt.Errorf("%s: bad flowtune.step %q", path, v)
			}
		}
		if a.Tensors, err = f.ReadAll(); err != nil {
			return nil, err
		}
	}
	if len(a.Tensors) == 0 {
		return nil, fmt.Errorf("%s holds no %q adapter weights", path, rl.PolicyAdapter)
	}
	return a, nil
}

// ReadRunAdapter reads the latest trained policy of the run in dir: adapters.safetensors (written
// when a run completes), or checkpoint.safetensors when that is further on (a run interrupted,
// or extended with -resume and not yet finished) or the only one there.
func ReadRunAdapter(dir string) (*TrainedAdapter, error) {
	var found []*TrainedAdapter
	for _, name := range []string{AdaptersFile, CheckpointFile} {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
			continue
		}
		a, err := ReadAdapter(p)
		if err != nil {
			return nil, err
		}
		found = append(found, a)
	}
	if len(found) == 0 {
		return nil, fmt.Errorf("%s is not a run directory: it has neither %s nor %s (finetune -out names it)", dir, AdaptersFile, CheckpointFile)
	}
	sort.SliceStable(found, func(i, j int) bool { return found[i].Step > found[j].Step })
	return found[0], nil
}

// Apply puts the adapter on m as the policy adapter and activates it. m must be the base model
// the run trained (the shapes are checked, the values cannot be).
func (a *TrainedAdapter) Apply(m nn.Module) error {
	if _, err := nn.LoadAdapter(m, rl.PolicyAdapter, a.Tensors, rl.PolicyAdapter, float32(a.Alpha)); err != nil {
		return fmt.Errorf("%s: %w", a.Path, err)
	}
	nn.UseAdapter(m, rl.PolicyAdapter)
	return nil
}
