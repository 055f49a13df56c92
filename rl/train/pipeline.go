package train

// What the trainer needs of a text-to-image model, so that one loop trains both flowtune's
// built-in model on its world and an SD3-family model from prompt embeddings and a VAE.

import (
	"encoding/json"
	"errors"
	"fmt"
	"image"

	"github.com/flowtune/flowtune/diffusion"
	"github.com/flowtune/flowtune/diffusion/prompts"
	"github.com/flowtune/flowtune/diffusion/world"
	"github.com/flowtune/flowtune/nn"
	"github.com/flowtune/flowtune/rl"
	"github.com/flowtune/flowtune/tensor"
)

// Pipeline is a text-to-image model as the trainer sees it: the velocity network that carries
// the LoRA adapters, the conditioning of prompts, the latent shape, and the decoding of latents
// into the images rewards score.
type Pipeline interface {
	// Net is the network; the trainer adds and switches adapters on it.
	Net() rl.Model
	// Backend is where the latents live.
	Backend() tensor.Backend
	// AddPolicyAdapter adds the trained LoRA adapter (rl.PolicyAdapter) on the layers the
	// model's recipe adapts.
	AddPolicyAdapter(rank int, alpha float32, rng *tensor.RNG) error
	// Encode conditions on prompts (one row each); Uncond is the empty prompt's row (CFG).
	Encode(prompts []string) (diffusion.Cond, error)
	Uncond() diffusion.Cond
	// Latent is the shape of one latent, [C, H, W].
	Latent() [3]int
	// Images decodes latents [B, C, H, W] into RGB images.
	Images(latents *tensor.Tensor) []*image.RGBA
	// SaveAdapter writes the trained adapter in the model family's own exchange format into
	// dir, besides flowtune's adapters.safetensors (nothing for the built-in model).
	SaveAdapter(dir string) error
}

// PromptSet is the training and held-out prompts of a run; each prompt may carry metadata that
// remote rewards receive with its images.
type PromptSet struct {
	Name           string // what the logs call it (a task, a file)
	Train, HeldOut []prompts.Prompt
}

// EvalPrompts picks n of the held-out prompts, evenly spread over the list: the evaluation's
// prompts.
func (s *PromptSet) EvalPrompts(n int) []prompts.Prompt {
	var sel []prompts.Prompt
	for j := 0; j < n; j++ {
		sel = append(sel, s.HeldOut[j*len(s.HeldOut)/n])
	}
	return sel
}

// SeenInTraining counts the prompts of ps that are also training prompts. A prompt file with
// no separate evaluation file evaluates on its own training prompts, and its noise is then the
// only thing held out.
func (s *PromptSet) SeenInTraining(ps []prompts.Prompt) int {
	train := map[string]bool{}
	for _, p := range s.Train {
		train[p.Text] = true
	}
	n := 0
	for _, p := range ps {
		if train[p.Text] {
			n++
		}
	}
	return n
}

// EvalLabel names what an evaluation of total prompts, seen of them training prompts,
// measures: "held-out", "training-prompt" or "partly held-out" (before the reward's name).
func EvalLabel(seen, total int) string {
	switch {
	case seen == 0:
		return "held-out"
	case seen == total:
		return "training-prompt"
	}
	return fmt.Sprintf("partly held-out (%d of %d prompts trained on)", seen, total)
}

// WorldPipeline is flowtune's built-in model on its world: token conditioning, images straight
// from the model's pixel space.
type WorldPipeline struct {
	Model *diffusion.Model
	Tok   *world.Tokenizer
}

func (p WorldPipeline) Net() rl.Model           { return p.Model }
func (p WorldPipeline) Backend() tensor.Backend { return p.Model.Patch.Proj.Weight.Backend() }
func (p WorldPipeline) AddPolicyAdapter(rank int, alpha float32, rng *tensor.RNG) error {
	nn.AddAdapter(p.Model, rl.PolicyAdapter, rank, alpha, rng, isAttention)
	return nil
}
func (p WorldPipeline) Encode(ps []string) (diffusion.Cond, error) {
	return diffusion.EncodePrompts(p.Tok, ps)
}
func (p WorldPipeline) Uncond() diffusion.Cond { return diffusion.UncondCond(p.Tok) }
func (p WorldPipeline) Latent() [3]int {
	return [3]int{p.Model.Cfg.Channels, p.Model.Cfg.Size, p.Model.Cfg.Size}
}
func (p WorldPipeline) Images(x *tensor.Tensor) []*image.RGBA { return diffusion.Images(x) }
func (p WorldPipeline) SaveAdapter(string) error              { return nil }

// pipeline returns the Trainer's pipeline: Pipeline, or the built-in model on its world.
func (t *Trainer) pipeline() (Pipeline, error) {
	if t.Pipeline != nil {
		return t.Pipeline, nil
	}
	if t.Model == nil || t.Tok == nil {
		return nil, errors.New("train.Trainer: set Pipeline, or Model and Tok (with World or Prompts)")
	}
	return WorldPipeline{Model: t.Model, Tok: t.Tok}, nil
}

// promptSet returns the run's prompts: Prompts, else the config's prompt files (a comparison's
// runs name them in their config only), else the configured task of World.
func (t *Trainer) promptSet() (*PromptSet, error) {
	set := t.Prompts
	if set == nil && t.Cfg.PromptsFile != "" {
		var err error
		if set, err = LoadPromptSet(t.Cfg); err != nil {
			return nil, err
		}
	}
	if set != nil {
		if len(set.Train) == 0 || len(set.HeldOut) == 0 {
			return nil, fmt.Errorf("prompt set %s: %d training and %d held-out prompts (both are needed)", set.Name, len(set.Train), len(set.HeldOut))
		}
		return set, nil
	}
	if t.World == nil {
		return nil, errors.New("train.Trainer: set Prompts, or World for the built-in tasks")
	}
	task, err := t.World.Task(t.Cfg.Task)
	if err != nil {
		return nil, err
	}
	plain := func(ss []string) []prompts.Prompt {
		out := make([]prompts.Prompt, len(ss))
		for i, s := range ss {
			out[i] = prompts.Prompt{Text: s}
		}
		return out
	}
	return &PromptSet{Name: "task " + t.Cfg.Task, Train: plain(task.Train), HeldOut: plain(task.HeldOut)}, nil
}

// metadataOf returns the metadata of each prompt, or nil when none has any (the request then
// carries no metadata at all).
func metadataOf(ps []prompts.Prompt) []json.RawMessage {
	for _, p := range ps {
		if p.Metadata != nil {
			out := make([]json.RawMessage, len(ps))
			for i, q := range ps {
				out[i] = q.Metadata
			}
			return out
		}
	}
	return nil
}

func promptTexts(ps []prompts.Prompt) []string { return prompts.Texts(ps) }
