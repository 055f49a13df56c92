package sd3

import (
	"fmt"
	"strings"
)

// Device-memory estimate of one LoRA training step (the taped forward and backward of a
// micro-batch, the AWM / RAM / NFT loss), from the config and the step's shape.
//
// Activation counts are this engine's, measured with tensor.TapeBytes on small models (see
// TestMemoryEstimateMatchesTape): a joint block keeps about 52 float32 [tokens, D] tensors per
// token of both streams, a dual-attention block 19 more per image token, plus a few [D]
// modulation vectors per sample. With per-block recomputation a block keeps only its inputs
// and outputs (about 3 per token) and one block's activations are rebuilt at a time during the
// backward. The estimate is conservative (first and last blocks keep less).

// TrainShape is what a training step runs on.
type TrainShape struct {
	ImageSize     int      // pixels per side (the latent is ImageSize/8)
	TextTokens    int      // prompt tokens (SD3: 77 CLIP + 256 T5 = 333)
	MicroBatch    int      // samples per taped forward
	LoRARank      int      // adapter rank
	Targets       []string // LoRA targets (DefaultTargets when nil)
	BaseBF16      bool     // frozen Linear weights in bf16
	Recompute     bool     // per-block activation recomputation
	AdapterCopies int      // adapter weight sets besides the trained one (old, EMA): 0–2
}

// MemoryEstimate is in bytes.
type MemoryEstimate struct {
	Weights     int64 // base parameters on the device
	Adapters    int64 // LoRA weights, their gradients, AdamW moments, snapshot copies
	Activations int64 // what the tape keeps for the backward
	Working     int64 // transient: one block's activations and gradients during the backward, no-grad forwards of targets
	Total       int64
}

func (e MemoryEstimate) String() string {
	g := func(b int64) string { return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30)) }
	return fmt.Sprintf("weights %s + adapters %s + activations %s + working %s = %s",
		g(e.Weights), g(e.Adapters), g(e.Activations), g(e.Working), g(e.Total))
}

// Per-token float32 [·, D] tensors kept on the tape (see the package comment of this file).
const (
	blockUnitsPerToken = 52 // both streams of a joint block
	dualUnitsPerToken  = 19 // the second attention, image tokens
	blockUnitsPerBlock = 12 // modulation vectors, per sample
	recomputeUnits     = 3  // a checkpointed block's kept inputs and outputs, per token
)

// EstimateTrainMemory estimates the peak device memory of a training step.
func EstimateTrainMemory(cfg Config, s TrainShape) MemoryEstimate {
	targets := s.Targets
	if targets == nil {
		targets = DefaultTargets
	}
	D := int64(cfg.Width())
	var e MemoryEstimate
	wsize := int64(4)
	if s.BaseBF16 {
		wsize = 2
	}
	var lora int64
	for _, en := range entries(cfg) {
		if en.Name == posTableKey {
			continue
		}
		n := int64(1)
		for _, d := range en.Shape {
			n *= int64(d)
		}
		if len(en.Shape) == 2 {
			e.Weights += n * wsize
			if strings.HasSuffix(en.Name, ".weight") && matchTarget(strings.TrimSuffix(en.Name, ".weight"), targets) {
				lora += int64(s.LoRARank) * int64(en.Shape[0]+en.Shape[1])
			}
		} else {
			e.Weights += n * 4 // biases, norm scales, the patch kernel stay float32
		}
	}
	// weights + grads + two AdamW moments, and the snapshot copies.
	e.Adapters = lora * 4 * int64(4+s.AdapterCopies)

	lat := s.ImageSize / 8
	N := int64(lat/cfg.PatchSize) * int64(lat/cfg.PatchSize)
	L := int64(s.TextTokens)
	B := int64(s.MicroBatch)
	unit := D * 4 // one float32 token vector
	block := (blockUnitsPerToken*(N+L) + blockUnitsPerBlock) * unit * B
	dual := (dualUnitsPerToken*N + 3) * unit * B
	var all int64
	for i := 0; i < cfg.NumLayers; i++ {
		all += block
		if cfg.Dual(i) {
			all += dual
		}
	}
	if s.Recompute {
		e.Activations = int64(cfg.NumLayers) * recomputeUnits * (N + L) * unit * B
		e.Working = 2 * (block + dual) // one block rebuilt, and its gradients
	} else {
		e.Activations = all
		e.Working = block + dual // gradients of the block being differentiated
	}
	// No-grad forwards of the targets (reference, old policy) with CFG: a few live tensors.
	e.Working += 10 * (N + L) * unit * 2 * B
	e.Total = e.Weights + e.Adapters + e.Activations + e.Working
	return e
}
