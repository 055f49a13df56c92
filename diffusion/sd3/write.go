package sd3

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/flowtune/flowtune/internal/atomicfile"
	"github.com/flowtune/flowtune/nn"
)

// WriteRandom writes a random-weight checkpoint of config cfg in the diffusers layout under
// root: root/transformer/config.json and diffusion_pytorch_model.safetensors, or, when the
// weights exceed shardBytes (> 0), numbered shards with diffusion_pytorch_model.safetensors.index.json.
// Weights are uniform with variance 1/fan-in, biases small, norm scales 1, the position table
// the 2-D sin-cos one; dtype is nn.SafetensorsBF16, F16 or F32. Tensors are drawn and written
// one at a time, so a full-size model is written in little memory. For loading, timing and
// memory tests: a model with the real shapes and no real weights.
func WriteRandom(root string, cfg Config, dtype string, shardBytes int64, seed uint64) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	dir := filepath.Join(root, "transformer")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	esize := int64(4)
	if dtype != nn.SafetensorsF32 {
		esize = 2
	}
	ents := entries(cfg)
	// Shards in key order, each up to shardBytes.
	var shards [][]nn.SafetensorsSpec
	var cur []nn.SafetensorsSpec
	var size, total int64
	sorted := make([]entry, len(ents))
	copy(sorted, ents)
	sortEntries(sorted)
	for _, e := range sorted {
		n := esize
		for _, d := range e.Shape {
			n *= int64(d)
		}
		if shardBytes > 0 && size > 0 && size+n > shardBytes {
			shards = append(shards, cur)
			cur, size = nil, 0
		}
		cur = append(cur, nn.SafetensorsSpec{Name: e.Name, Shape: e.Shape})
		size += n
		total += n
	}
	shards = append(shards, cur)

	rng := rand.New(rand.NewPCG(seed, 0x5d3))
	table := nn.SinCos2D(cfg.PosEmbedMaxSize, cfg.PosEmbedMaxSize, cfg.Width())
	fill := func(name string, dst []float32) error {
		switch {
		case name == posTableKey:
			copy(dst, table)
		case strings.Contains(name, "norm_") && strings.HasSuffix(name, ".weight") && !strings.Contains(name, ".linear."):
			for i := range dst {
				dst[i] = 1
			}
		case strings.HasSuffix(name, ".bias"):
			for i := range dst {
				dst[i] = float32(0.02 * (2*rng.Float64() - 1))
			}
		default:
			fanIn := 1
			for _, e := range ents {
				if e.Name == name {
					for _, d := range e.Shape[1:] {
						fanIn *= d
					}
				}
			}
			bound := math.Sqrt(3 / float64(fanIn))
			for i := range dst {
				dst[i] = float32(bound * (2*rng.Float64() - 1))
			}
		}
		return nil
	}
	meta := map[string]string{"format": "pt"}
	if len(shards) == 1 {
		if err := nn.StreamSafetensors(filepath.Join(dir, "diffusion_pytorch_model.safetensors"), shards[0], meta, dtype, fill); err != nil {
			return err
		}
	} else {
		weightMap := map[string]string{}
		for i, sh := range shards {
			name := fmt.Sprintf("diffusion_pytorch_model-%05d-of-%05d.safetensors", i+1, len(shards))
			if err := nn.StreamSafetensors(filepath.Join(dir, name), sh, meta, dtype, fill); err != nil {
				return err
			}
			for _, s := range sh {
				weightMap[s.Name] = name
			}
		}
		idx, _ := json.MarshalIndent(map[string]any{"metadata": map[string]int64{"total_size": total}, "weight_map": weightMap}, "", "  ")
		if err := atomicfile.WriteBytes(filepath.Join(dir, "diffusion_pytorch_model.safetensors.index.json"), idx); err != nil {
			return err
		}
	}
	return atomicfile.WriteBytes(filepath.Join(dir, "config.json"), cfg.JSON())
}

func sortEntries(es []entry) {
	sort.Slice(es, func(i, j int) bool { return es[i].Name < es[j].Name })
}
