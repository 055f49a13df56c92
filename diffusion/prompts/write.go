package prompts

import (
	"encoding/json"
	"fmt"

	"github.com/flowtune/flowtune/nn"
	"github.com/flowtune/flowtune/tensor"
)

// WriteOptions describe a cache file to write.
type WriteOptions struct {
	SeqLen, Dim, PooledDim int
	BF16                   bool   // store bfloat16 (half the size) instead of float32
	Model                  string // recorded as the "model" metadata when not empty
}

// Write writes a cache holding entries (by prompt) atomically to path. Every entry must have
// SeqLen·Dim context values and PooledDim pooled ones.
func Write(path string, entries map[string]Entry, o WriteOptions) error {
	ts := make(map[string]nn.HostTensor, 2*len(entries))
	index := make(map[string]string, len(entries))
	for p, e := range entries {
		if len(e.Embeds) != o.SeqLen*o.Dim || len(e.Pooled) != o.PooledDim {
			return fmt.Errorf("prompt cache %s: prompt %q has %d context and %d pooled values, want %d×%d and %d",
				path, p, len(e.Embeds), len(e.Pooled), o.SeqLen, o.Dim, o.PooledDim)
		}
		k := Key(p)
		if prev, dup := index[k]; dup {
			return fmt.Errorf("prompt cache %s: prompts %q and %q share the hash %s", path, prev, p, k)
		}
		index[k] = p
		ts[k+".prompt_embeds"] = nn.HostTensor{Shape: []int{o.SeqLen, o.Dim}, Data: e.Embeds}
		ts[k+".pooled"] = nn.HostTensor{Shape: []int{o.PooledDim}, Data: e.Pooled}
	}
	idx, err := json.Marshal(index)
	if err != nil {
		return err
	}
	meta := map[string]string{"format": FormatVersion, "prompts": string(idx)}
	if o.Model != "" {
		meta["model"] = o.Model
	}
	dtype := nn.SafetensorsF32
	if o.BF16 {
		dtype = nn.SafetensorsBF16
	}
	return nn.WriteSafetensorsAs(path, ts, meta, dtype)
}

// WriteRandom writes a cache of standard-normal vectors for prompts and the empty prompt (for
// tests and the small random model: it carries no meaning). The vectors of a prompt depend
// only on seed and the prompt, not on the other prompts.
func WriteRandom(path string, prompts []string, o WriteOptions, seed uint64) error {
	entries := map[string]Entry{}
	for _, p := range append([]string{""}, prompts...) {
		if _, ok := entries[p]; ok {
			continue
		}
		var h uint64
		fmt.Sscanf(Key(p), "%x", &h)
		rng := tensor.NewRNG(seed ^ h)
		e := Entry{Embeds: make([]float32, o.SeqLen*o.Dim), Pooled: make([]float32, o.PooledDim)}
		for i := range e.Embeds {
			e.Embeds[i] = float32(rng.NormFloat64())
		}
		for i := range e.Pooled {
			e.Pooled[i] = float32(rng.NormFloat64())
		}
		entries[p] = e
	}
	return Write(path, entries, o)
}
