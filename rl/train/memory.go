package train

// Before a run allocates anything, the memory its configuration needs is estimated from the
// config and the model's shape, and a run that cannot fit is refused with the estimate, its
// largest part and the keys that drive it, instead of ending in "fatal error: out of memory"
// minutes later. The estimate is coarse (activations especially: it counts the tensors a
// transformer block keeps for the backward pass, not the allocator's slack); it is there to
// catch configurations that are off by orders of magnitude (-prompts 1e9, -lora-rank 1e8).

import (
	"fmt"
	"strings"

	"github.com/flowtune/flowtune/diffusion"
	"github.com/flowtune/flowtune/nn"
	"github.com/flowtune/flowtune/tensor"
)

// memoryPart is one term of the estimate, in bytes, with the keys that size it.
type memoryPart struct {
	what  string
	keys  string
	bytes float64
}

// memoryEstimate is the estimated peak memory of a run beyond the base model, by part.
func memoryEstimate(cfg Config, m *diffusion.Model, trainPrompts int) []memoryPart {
	const f32 = 4
	mc := m.Cfg
	latent := float64(mc.Channels * mc.Size * mc.Size)
	pixels := float64(mc.Size * mc.Size * 4) // an RGBA image
	n := float64(cfg.Prompts) * float64(cfg.Group)

	// LoRA on the attention projections: rank·(in + out) per layer and adapter set; the policy
	// also has its gradient and two AdamW moments, and a checkpoint downloads every set.
	lora := 0.0
	nn.Walk(m, func(path string, mod nn.Module) {
		if l, ok := mod.(*nn.Linear); ok && isAttention(path) {
			lora += float64(cfg.LoRARank) * float64(l.Weight.Dim(0)+l.Weight.Dim(1))
		}
	})
	sets := 2.0 // the policy and its lagged copy (RAM, NFT) or KL-EMA (AWM)
	if cfg.Algo == "flowgrpo" || cfg.Algo == "awm" && (cfg.AWM.EMABeta == 0 || cfg.AWM.KLBeta <= 0) {
		sets = 1
	}
	if cfg.EvalEMA != 0 {
		sets++ // the evaluation EMA
	}
	adapters := lora * (2*sets + 3) * f32

	// A step's rollouts: the final latents, their concatenation for training, the images; a
	// stochastic (Flow-GRPO) rollout keeps every intermediate latent for the replay.
	stored := 2.0
	if cfg.Algo == "flowgrpo" {
		stored += float64(cfg.RolloutSteps) + 1
	}
	rollouts := n*(stored*latent*f32+pixels) + float64(cfg.RolloutSteps+cfg.EvalSteps+2)*8 +
		float64(cfg.Prompts)*16 + float64(trainPrompts)*8

	// Activations kept for the backward pass of one loss evaluation: per sample and block, the
	// token activations of both streams (about 14 + 4·mlp_ratio tensors of tokens × dim) and
	// the attention scores (3 per head: scores, softmax and their gradient).
	tokens := float64((mc.Size/mc.Patch)*(mc.Size/mc.Patch) + mc.TextLen)
	perSample := float64(mc.Depth) * ((14+4*mc.MLPRatio)*tokens*float64(mc.Dim) + 3*float64(mc.Heads)*tokens*tokens) * f32
	batch, batchKeys := float64(cfg.MicroBatch), "micro_batch"
	switch cfg.Algo {
	case "awm":
		batch, batchKeys = batch*float64(cfg.AWM.Timesteps), "micro_batch × awm.timesteps"
	case "ram":
		batch, batchKeys = batch*float64(cfg.RAM.Targets), "micro_batch × ram.targets"
	case "nft":
		batch, batchKeys = batch*float64(cfg.NFT.Timesteps), "micro_batch × nft.timesteps"
	case "flowgrpo":
		batch, batchKeys = float64(cfg.Group), "group"
		if cfg.CFG != 1 {
			// Only Flow-GRPO's training forward is guided (the prompt and the empty prompt); the
			// losses of AWM, RAM and DiffusionNFT regress the plain conditional velocity.
			batch *= 2
		}
	}
	activations := batch * perSample

	// The held-out evaluation: the noise of all prompts of one seed, every image, a batch of
	// sampling activations (no tape: a few tensors per block).
	evalImages := float64(cfg.EvalPrompts) * float64(cfg.EvalSeeds)
	eval := float64(cfg.EvalPrompts)*latent*f32 + evalImages*pixels + evalBatch*perSample/4

	return []memoryPart{
		{"rollouts of a step", "prompts × group" + map[bool]string{true: " × rollout_steps", false: ""}[cfg.Algo == "flowgrpo"], rollouts},
		{"LoRA adapters with gradient and AdamW state", "lora_rank", adapters},
		{"activations of one micro-batch", batchKeys, activations},
		{"held-out evaluation", "eval_prompts × eval_seeds", eval},
	}
}

// checkMemory refuses a configuration whose estimate exceeds the memory available to the
// process (avail returns it, or false when it is unknown: then nothing is checked).
func checkMemory(cfg Config, m *diffusion.Model, trainPrompts int, avail func() (float64, bool)) error {
	if m.Patch.Proj.Weight.Backend() != tensor.CPU() {
		return nil // device memory is not known here; the device reports its own exhaustion
	}
	limit, ok := avail()
	if !ok {
		return nil
	}
	parts := memoryEstimate(cfg, m, trainPrompts)
	total := 0.0
	big := parts[0]
	for _, p := range parts {
		total += p.bytes
		if p.bytes > big.bytes {
			big = p
		}
	}
	if total <= limit {
		return nil
	}
	var list []string
	for _, p := range parts {
		list = append(list, fmt.Sprintf("%s %s", p.what, gib(p.bytes)))
	}
	return fmt.Errorf("config: this run would need about %s (%s), more than the %s of memory available: the largest part is the %s, sized by %s; lower it",
		gib(total), strings.Join(list, ", "), gib(limit), big.what, big.keys)
}

func gib(b float64) string {
	if b < 1<<30 {
		return fmt.Sprintf("%.0f MiB", b/(1<<20))
	}
	return fmt.Sprintf("%.1f GiB", b/(1<<30))
}
