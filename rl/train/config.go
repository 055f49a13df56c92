package train

// The fine-tuning job's configuration: one struct that the YAML file, the command-line flags and
// the checkpoint all describe with the same keys (the yaml tags), so a run is reproducible from
// its config.yaml alone.

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/flowtune/flowtune/diffusion/world"
	"github.com/flowtune/flowtune/rl/reward"
)

// DefaultAlgo is the algorithm a run uses when none is named. In the measured comparison on pref
// (README.md) RAM and AWM are within seed noise of each other and both well ahead of Flow-GRPO
// in the default budget; RAM is the default.
const DefaultAlgo = "ram"

// DefaultTask is the task a run uses when none is named: "pref", the dense image-quality reward,
// on which the default budget of a few CPU minutes moves the held-out reward far beyond its
// evaluation noise. On "compose" the shipped base model is too weak for ten minutes of RL to
// move GenEval-style scores beyond noise (README.md has the measurements).
const DefaultTask = "pref"

// Config is a fine-tuning run. Keys are the yaml tags; flags use the same names with '-' for
// '_' (e.g. -eval-every, -ram.multiplier).
type Config struct {
	Algo string `yaml:"algo" help:"RL algorithm: awm, ram, flowgrpo or nft"`
	// Preset names values applied over the algorithm's defaults, before the file and flags.
	Preset string `yaml:"preset" help:"named settings applied over the defaults, before the config file and flags: paper (24 images per prompt, 16 prompts per step, 300 steps, for -device cuda) or empty"`
	Task   string `yaml:"task" help:"prompt set: compose, text or pref"`
	Reward string `yaml:"reward" help:"rewards to maximise as name[=weight],... or, served over HTTP, name@URL[=weight] (empty: the task's own reward)"`
	// Prompts and conditioning from files (SD3-family models, or the built-in model on prompts
	// of its vocabulary). With prompts_file the task is not used.
	PromptsFile     string `yaml:"prompts_file" help:"training prompts: .txt (one per line) or .jsonl (one JSON object with \"prompt\" per line; the object goes to remote rewards as metadata); empty: the task's prompts"`
	EvalPromptsFile string `yaml:"eval_prompts_file" help:"held-out prompts, .txt or .jsonl (empty: those of prompts_file)"`
	Embeddings      string `yaml:"embeddings" help:"prompt-embedding cache of an SD3-family model (tools/encode_prompts.py, or go run ./cmd/embedcache -random)"`
	VAE             string `yaml:"vae" help:"VAE of an SD3-family model: a diffusers vae/ folder or a .safetensors file (empty: the model's own)"`
	Resolution      int    `yaml:"resolution" help:"image side in pixels of an SD3-family model (0: the transformer's sample_size × the VAE factor)"`
	// Remote rewards (name@URL entries of Reward).
	RewardTimeout float64 `yaml:"reward_timeout" help:"seconds one request to a remote reward server may take"`
	RewardRetries int     `yaml:"reward_retries" help:"attempts per remote reward request, the first included (1: no retry); network errors, timeouts, 5xx and 429 are retried with exponential backoff"`
	// The token is never stored: only the file's name.
	RewardTokenFile string `yaml:"reward_token_file" help:"file holding the bearer token sent to remote reward servers (empty: $FLOWTUNE_REWARD_TOKEN, if set)"`

	Steps        int     `yaml:"steps" help:"optimizer steps (one per batch of rollouts)"`
	Prompts      int     `yaml:"prompts" help:"prompts per step, drawn from the task's training split"`
	Group        int     `yaml:"group" help:"images per prompt (the advantage group)"`
	RolloutSteps int     `yaml:"rollout_steps" help:"sampling steps of the rollouts"`
	CFG          float64 `yaml:"cfg" help:"guidance scale of the rollouts (and of Flow-GRPO's training forward); 1: none"`
	MicroBatch   int     `yaml:"micro_batch" help:"rollout endpoints per loss evaluation (gradients are accumulated)"`

	LR          float64 `yaml:"lr" help:"AdamW learning rate (constant)"`
	WeightDecay float64 `yaml:"weight_decay" help:"AdamW decoupled weight decay"`
	GradClip    float64 `yaml:"grad_clip" help:"global gradient-norm clip (0: none)"`
	LoRARank    int     `yaml:"lora_rank" help:"LoRA rank on the attention projections"`
	LoRAAlpha   float64 `yaml:"lora_alpha" help:"LoRA alpha (scale alpha/rank)"`

	EvalEvery   int     `yaml:"eval_every" help:"evaluate on held-out prompts every N steps (0: only at the start and the end)"`
	EvalPrompts int     `yaml:"eval_prompts" help:"held-out prompts per evaluation"`
	EvalSeeds   int     `yaml:"eval_seeds" help:"fixed noise seeds per held-out prompt"`
	EvalSteps   int     `yaml:"eval_steps" help:"ODE steps of the evaluation sampler"`
	EvalCFG     float64 `yaml:"eval_cfg" help:"guidance scale of the evaluation sampler"`
	EvalSeed    uint64  `yaml:"eval_seed" help:"seed of the evaluation noise (fixed across runs)"`
	// The evaluation weights: an EMA of the policy adapter, as Flow-GRPO and AWM evaluate.
	EvalEMA      float64 `yaml:"eval_ema" help:"evaluate an EMA of the policy with this decay, warmed up as min(eval_ema, (1+s)/(10+s)) at step s (0: evaluate the policy itself)"`
	EvalEMAEvery int     `yaml:"eval_ema_every" help:"update the evaluation EMA every N optimizer steps"`

	CheckpointEvery int    `yaml:"checkpoint_every" help:"save the whole training state every N steps (0: only at the end or on Ctrl-C)"`
	Seed            uint64 `yaml:"seed" help:"seed of the prompt order, rollout noise, training draws and LoRA init"`

	AWM  AWMSection  `yaml:"awm"`
	RAM  RAMSection  `yaml:"ram"`
	NFT  NFTSection  `yaml:"nft"`
	GRPO GRPOSection `yaml:"flowgrpo"`
}

// DefaultEvalEMA is the decay of the evaluation EMA. Flow-GRPO evaluates an EMA of decay 0.9
// updated every 8 steps and AWM one of 0.99 every step, over runs of thousands of steps; the
// built-in runs take 30–50 steps, so the EMA is updated every step with decay 0.9 (an average
// over the last ten steps or so) and warmed up like the pretraining EMA, so that the first
// evaluations are not dominated by the initial adapter.
const DefaultEvalEMA = 0.9

// DefaultConfig is the built-in run for algo ("" is DefaultAlgo): sized so that the default
// run finishes within about ten minutes on two CPU cores with the shipped base model.
func DefaultConfig(algo string) Config {
	if algo == "" {
		algo = DefaultAlgo
	}
	c := Config{
		Algo: algo, Task: DefaultTask, RewardTimeout: 60, RewardRetries: 3,
		Steps: 48, Prompts: 4, Group: 8, RolloutSteps: 10, CFG: 1, MicroBatch: 16,
		LR: 1e-3, WeightDecay: 1e-4, GradClip: 1, LoRARank: 16, LoRAAlpha: 32,
		EvalEvery: 8, EvalPrompts: 64, EvalSeeds: 2, EvalSteps: 10, EvalCFG: 1, EvalSeed: 20240601,
		EvalEMA: DefaultEvalEMA, EvalEMAEvery: 1,
		CheckpointEvery: 8, Seed: 1,
	}
	for _, a := range registry {
		a.defaults(&c)
	}
	return c
}

// taskRewards is the reward each task is scored with when the config names none.
var taskRewards = map[string]string{"compose": "compose", "text": "ocr", "pref": "pref"}

// RewardWeight is one term of the training reward r = Σ w_k r_k.
type RewardWeight struct {
	Name   string
	Weight float64
	URL    string // the reward server's URL for a remote reward (name@URL), else ""
}

// rewardSyntax is the reward spec's syntax, for error messages.
const rewardSyntax = "name[=weight] or name@http://host:port[=weight], comma-separated"

// Rewards resolves the reward spec: the configured list, or the task's own reward. An entry is
// a registered reward, name[=weight], or a reward computed by a server, name@URL[=weight]
// (e.g. compose@http://127.0.0.1:8700=0.5): the name is what logs and metrics call it, and the
// text after the last '=' is the weight only if it is a finite number, so a URL whose query ends
// in "=<number>" needs an explicit weight after it. URLs cannot contain commas. Unknown names
// are reported by validate.
func (c Config) Rewards() ([]RewardWeight, error) {
	spec := strings.TrimSpace(c.Reward)
	if spec == "" && c.PromptsFile != "" {
		return nil, fmt.Errorf("config: prompts_file %s has no reward of its own: name one with -reward (e.g. pickscore@http://127.0.0.1:8700, see docs/rewards.md)", c.PromptsFile)
	}
	if spec == "" {
		name, ok := taskRewards[c.Task]
		if !ok {
			return nil, c.taskError()
		}
		spec = name
	}
	var out []RewardWeight
	seen := map[string]bool{}
	for _, part := range strings.Split(spec, ",") {
		rw, err := parseRewardEntry(strings.TrimSpace(part))
		if err != nil {
			return nil, err
		}
		if rw.Name == "" {
			return nil, fmt.Errorf("config: empty reward name in %q (want %s; valid names: %s)", RedactSpec(spec), rewardSyntax, strings.Join(reward.Names(), ", "))
		}
		if seen[rw.Name] {
			return nil, fmt.Errorf("config: reward %q is listed twice in %q", rw.Name, RedactSpec(spec))
		}
		seen[rw.Name] = true
		out = append(out, rw)
	}
	return out, nil
}

// parseRewardEntry reads one entry of the reward spec.
func parseRewardEntry(part string) (RewardWeight, error) {
	if name, rest, remote := strings.Cut(part, "@"); remote {
		rw := RewardWeight{Name: strings.TrimSpace(name), Weight: 1, URL: strings.TrimSpace(rest)}
		if i := strings.LastIndex(rest, "="); i >= 0 {
			if v, err := strconv.ParseFloat(strings.TrimSpace(rest[i+1:]), 64); err == nil && finite(v) {
				rw.URL, rw.Weight = strings.TrimSpace(rest[:i]), v
			}
		}
		if rw.Name == "" {
			return rw, fmt.Errorf("config: reward entry %q has no name before '@' (want %s)", RedactSpec(part), rewardSyntax)
		}
		if _, err := reward.ParseServerURL(rw.URL); err != nil {
			return rw, fmt.Errorf("config: reward entry %q: %v (want %s, e.g. compose@http://127.0.0.1:8700=0.5)", RedactSpec(part), err, rewardSyntax)
		}
		return rw, nil
	}
	name, w, hasW := strings.Cut(part, "=")
	rw := RewardWeight{Name: strings.TrimSpace(name), Weight: 1}
	if hasW {
		v, err := strconv.ParseFloat(strings.TrimSpace(w), 64)
		if err != nil || !finite(v) {
			return rw, fmt.Errorf("config: reward %q: weight %q is not a finite number", rw.Name, w)
		}
		rw.Weight = v
	}
	return rw, nil
}

func (c Config) taskError() error {
	return fmt.Errorf("config: unknown task %q (valid: %s)", c.Task, strings.Join(world.TaskNames, ", "))
}

// Validate reports the first bad value, naming the key and, for choices, the valid ones.
func (c Config) Validate() error { return c.validate(nil) }

// validate is Validate with extra reward names accepted besides the registered ones.
func (c Config) validate(extra map[string]reward.Reward) error {
	algo, err := lookupAlgo(c.Algo)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if _, ok := presets[c.Preset]; c.Preset != "" && !ok {
		return presetError(c.Preset)
	}
	if !slices.Contains(world.TaskNames, c.Task) && c.PromptsFile == "" {
		return c.taskError()
	}
	if c.Resolution < 0 {
		return fmt.Errorf("config: resolution must be ≥ 0 (got %d)", c.Resolution)
	}
	if c.EvalPromptsFile != "" && c.PromptsFile == "" {
		return errors.New("config: eval_prompts_file needs prompts_file too")
	}
	if err := c.checkNumbers(); err != nil {
		return err
	}
	rws, err := c.Rewards()
	if err != nil {
		return err
	}
	for _, rw := range rws {
		if _, ok := extra[rw.Name]; ok || rw.URL != "" {
			continue
		}
		if _, err := reward.ByName(rw.Name); err != nil {
			return fmt.Errorf("config: %w", err)
		}
	}
	positive := []struct {
		key string
		v   int
	}{{"steps", c.Steps}, {"prompts", c.Prompts}, {"group", c.Group}, {"rollout_steps", c.RolloutSteps},
		{"micro_batch", c.MicroBatch}, {"lora_rank", c.LoRARank}, {"eval_prompts", c.EvalPrompts},
		{"eval_seeds", c.EvalSeeds}, {"eval_steps", c.EvalSteps}}
	for _, p := range positive {
		if p.v < 1 {
			return fmt.Errorf("config: %s must be ≥ 1 (got %d)", p.key, p.v)
		}
	}
	switch {
	case c.Group < 2:
		return fmt.Errorf("config: group must be ≥ 2 for group-relative advantages (got %d)", c.Group)
	case c.EvalEvery < 0 || c.CheckpointEvery < 0:
		return fmt.Errorf("config: eval_every and checkpoint_every must be ≥ 0 (got %d, %d)", c.EvalEvery, c.CheckpointEvery)
	case !(c.LR > 0) || math.IsInf(c.LR, 0):
		return fmt.Errorf("config: lr must be a positive number (got %g)", c.LR)
	case c.WeightDecay < 0 || c.GradClip < 0:
		return fmt.Errorf("config: weight_decay and grad_clip must be ≥ 0 (got %g, %g)", c.WeightDecay, c.GradClip)
	case !(c.LoRAAlpha > 0):
		return fmt.Errorf("config: lora_alpha must be > 0 (got %g)", c.LoRAAlpha)
	case !(c.CFG > 0) || !(c.EvalCFG > 0):
		return fmt.Errorf("config: cfg and eval_cfg must be > 0 (got %g, %g)", c.CFG, c.EvalCFG)
	case !(c.RewardTimeout > 0) || math.IsInf(c.RewardTimeout, 0):
		return fmt.Errorf("config: reward_timeout must be a positive number of seconds (got %g)", c.RewardTimeout)
	case !(c.EvalEMA >= 0 && c.EvalEMA < 1) || c.EvalEMAEvery < 1:
		return fmt.Errorf("config: eval_ema must be in [0,1) and eval_ema_every ≥ 1 (got %g, %d)", c.EvalEMA, c.EvalEMAEvery)
	case c.RewardRetries < 1:
		return fmt.Errorf("config: reward_retries must be ≥ 1, the first attempt included (got %d)", c.RewardRetries)
	}
	return algo.validate(c)
}
