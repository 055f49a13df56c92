package main

// Which model to sample: the shipped base, a checkpoint, or a run's adapter on its base; and the
// export of a run's model with the adapter merged into the weights.

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"strconv"

	"github.com/flowtune/flowtune/diffusion"
	"github.com/flowtune/flowtune/diffusion/base"
	"github.com/flowtune/flowtune/nn"
	"github.com/flowtune/flowtune/rl"
	"github.com/flowtune/flowtune/rl/train"
	"github.com/flowtune/flowtune/tensor"
)

// source says what the loaded model is.
type source struct {
	base    string                // base model: a path or base.Name
	meta    map[string]string     // the base file's metadata (nil for the shipped base)
	adapter *train.TrainedAdapter // nil: the base alone
}

// short is describe for a grid's title: the shipped base is "the shipped base".
func (s source) short() string {
	b := s.base
	if b == base.Name {
		b = "the shipped base"
	}
	if s.adapter == nil {
		return b
	}
	return fmt.Sprintf("%s (step %d) on %s", s.adapter.Path, s.adapter.Step, b)
}

func (s source) describe() string {
	if s.adapter == nil {
		return "model " + s.base
	}
	return fmt.Sprintf("adapter %s (step %d) on %s", s.adapter.Path, s.adapter.Step, s.base)
}

// loadModel loads the model the flags name, with a run's adapter active when -run or -adapters
// is given.
func loadModel(b tensor.Backend, o options) (*diffusion.Model, source, error) {
	var src source
	var err error
	switch {
	case o.run != "":
		src.adapter, err = train.ReadRunAdapter(o.run)
	case o.adapters != "":
		src.adapter, err = train.ReadAdapter(o.adapters)
	}
	if err != nil {
		return nil, src, err
	}
	src.base = o.model
	if src.base == "" && src.adapter != nil && src.adapter.Base != base.Name {
		src.base = src.adapter.Base // "" (a file that does not say) falls back to the shipped model
		if _, err := os.Stat(src.base); src.base != "" && err != nil {
			return nil, src, fmt.Errorf("%s was trained on the base model %q, which is not readable here (%v): give the base with -model FILE",
				src.adapter.Path, src.base, errors.Unwrap(err))
		}
	}
	var m *diffusion.Model
	if src.base == "" {
		src.base = base.Name
		m, err = base.Load(b)
	} else {
		m, src.meta, err = diffusion.LoadModel(b, src.base)
		if err != nil {
			if _, aerr := train.ReadAdapter(src.base); aerr == nil {
				return nil, src, fmt.Errorf("%s is a fine-tuning run's adapter file, not a model: sample it with -adapters %s (or -run DIR for the run's latest), "+
					"or make a model of it with -export", src.base, src.base)
			}
		}
	}
	if err != nil {
		return nil, src, err
	}
	if src.adapter != nil {
		if err := src.adapter.Apply(m); err != nil {
			return nil, src, fmt.Errorf("%w (is %s the base model the run trained? -model names it)", err, src.base)
		}
	}
	return m, src, nil
}

// export writes m as a model checkpoint stored as dtype (f32 or bf16), with the active run
// adapter folded into its weights when there is one.
func export(m *diffusion.Model, src source, path, dtype string, force bool) error {
	if err := checkFree(path, force); err != nil {
		return err
	}
	stored := map[string]string{"f32": nn.SafetensorsF32, "bf16": nn.SafetensorsBF16}[dtype]
	if src.adapter == nil {
		return m.SaveAs(path, src.provenance(), stored)
	}
	nn.MergeAdapter(m, rl.PolicyAdapter)
	return m.SaveAs(path, map[string]string{
		"flowtune.base_model":    src.base,
		"flowtune.merged_from":   src.adapter.Path,
		"flowtune.adapter_step":  strconv.Itoa(src.adapter.Step),
		"flowtune.adapter_alpha": strconv.FormatFloat(src.adapter.Alpha, 'g', -1, 64),
	}, stored)
}

// provenance is the metadata a converted model keeps from its source file (how it was
// trained; SaveAs writes the config and checksums afresh), with converted_from added.
func (s source) provenance() map[string]string {
	meta := maps.Clone(s.meta)
	if meta == nil { // the shipped base is no file: nothing to keep
		meta = map[string]string{}
	}
	meta["flowtune.converted_from"] = s.base
	return meta
}
