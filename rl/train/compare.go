package train

// Head-to-head comparison: every algorithm trained on the same base model, task, prompts, group
// size, rollout budget and seeds, then measured against Flow-GRPO the way the papers state their
// claims — how many steps and how many seconds each needs to reach (most of) what Flow-GRPO
// reaches, and what happens to sample diversity on the way.
//
// Each (algorithm, seed) is an ordinary fine-tuning run in its own directory under the
// comparison's directory, so every run has its metrics, curves and sample grids, and an
// interrupted comparison continues where it stopped when started again with the same -out.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/flowtune/flowtune/diffusion"
	"github.com/flowtune/flowtune/diffusion/world"
	"github.com/flowtune/flowtune/internal/atomicfile"
	"github.com/flowtune/flowtune/rl/reward"
)

// Files a comparison writes into its directory (besides one run directory per algorithm and seed).
const (
	CompareTableFile = "compare.md"
	CompareJSONFile  = "compare.json"
	CompareCurveFile = "compare_curves.png"
	// BaseEvalDir holds the base model's evaluation images, sampled by the first run and
	// scored by every run (baseeval.go).
	BaseEvalDir = "base-eval"
)

// ReferenceAlgo is the baseline every comparison measures against.
const ReferenceAlgo = "flowgrpo"

// DefaultReach is the share of Flow-GRPO's peak gain an algorithm must reach.
const DefaultReach = 0.95

// CompareDefaults are the config values a comparison uses unless the config file or flags set
// them: the built-in composability task without guidance, and a held-out evaluation large enough
// that one evaluation's standard error is about 0.01 on compose, within an hour on two CPU cores.
//
// Guidance (docs/measurements.md §5, "The paper preset on an H200"): AWM and RAM regress the
// plain conditional velocity toward endpoints of the rollout sampler. Rolled out at CFG 4.5 and
// evaluated at CFG 4.5, paper-sized AWM and RAM runs lowered held-out compose (−0.041 and −0.032,
// z ≈ −3 and −2.5, by step 50); rolled out and evaluated at CFG 1, as the AWM and DiffusionNFT
// papers train, AWM raised it (+0.032, z = 2.8, by step 40). On pref all three algorithms gain
// more without guidance or as much (§4). So a comparison runs every algorithm at CFG 1 (Flow-GRPO
// then runs as its published no-CFG variant); -cfg 4.5 -eval-cfg 4.5 is Flow-GRPO's own recipe.
//
// Sizing (§5, "What a 60-minute CPU comparison can buy"): the per-image sd of compose is about
// 0.39, so sd/√n ≤ 0.01 needs 1536 images: 128 held-out prompts × 12 seeds. Three seeds of the
// three algorithms at 16 steps of 4 prompts × 8, evaluated at the start (sampled once,
// BaseEvalDir, shared by all runs) and at the end, fit the hour (measured: docs/measurements.md
// §4). Images of one prompt under different seeds are correlated, so the gains are judged on the
// paired change over seeds (compare_gain.go), where prompt difficulty cancels. Flags override
// every key: e.g. -eval-every 4 for a curve with more points.
var CompareDefaults = map[string]string{
	"task":         "compose",
	"steps":        "16",
	"eval_every":   "16",
	"eval_prompts": "128",
	"eval_seeds":   "12",
	"cfg":          "1",
	"eval_cfg":     "1",
}

// Comparison describes one head-to-head comparison.
type Comparison struct {
	Algos      []string          // must include ReferenceAlgo
	Seeds      int               // seeds per algorithm: Seed, Seed+1, …
	ConfigPath string            // optional YAML config shared by all runs
	Overrides  map[string]string // config keys set explicitly (flags); applied over CompareDefaults
	OutDir     string
	Reach      float64 // 0: DefaultReach
	// NewModel returns a fresh copy of the base model and its name (each run adds its own adapters).
	NewModel func() (*diffusion.Model, string, error)
	World    *world.World
	Tok      *world.Tokenizer
	Log      zerolog.Logger
	Device   string // how the report names the device ("cpu", "cuda")

	ExtraRewards map[string]reward.Reward // test rewards
}

// Run trains every missing run, then writes compare.md, compare.json and compare_curves.png.
// Runs already finished in OutDir are reused and interrupted ones resumed, so the same command
// continues an interrupted comparison.
func (c *Comparison) Run(ctx context.Context) (*CompareReport, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(c.OutDir, 0o755); err != nil {
		return nil, fmt.Errorf("compare: %w", err)
	}
	lock, err := lockDir(c.OutDir)
	if err != nil {
		return nil, fmt.Errorf("compare: %w", err)
	}
	defer lock.unlock()
	if _, err := atomicfile.RemoveStale(c.OutDir, func(name string) bool {
		return name == CompareTableFile || name == CompareJSONFile || name == CompareCurveFile
	}); err != nil {
		return nil, fmt.Errorf("compare: %w", err)
	}
	base, err := c.config(c.Algos[0], 0)
	if err != nil {
		return nil, err
	}
	total := len(c.Algos) * c.Seeds
	c.Log.Info().Strs("algos", c.Algos).Int("seeds", c.Seeds).Str("task", base.Task).Int("steps", base.Steps).
		Int("prompts", base.Prompts).Int("group", base.Group).Str("dir", c.OutDir).Msg("comparison")
	start := time.Now()
	trained := 0
	for k := 0; k < c.Seeds; k++ { // seed-major: an interrupted comparison has balanced partial results
		for _, algo := range c.Algos {
			i := k*len(c.Algos) + slices.Index(c.Algos, algo) + 1
			dir := c.runDir(algo, k)
			if done, err := finished(dir); err != nil {
				return nil, err
			} else if done {
				c.Log.Info().Str("run", filepath.Base(dir)).Msgf("compare %d/%d: finished earlier, reused", i, total)
				continue
			}
			cfg, err := c.config(algo, k)
			if err != nil {
				return nil, err
			}
			resume := false
			if _, err := os.Stat(filepath.Join(dir, CheckpointFile)); err == nil {
				resume = true
				full := cfg.Reward
				if cfg, err = resolveConfig(filepath.Join(dir, ConfigFile), nil, c.ExtraRewards); err != nil {
					return nil, fmt.Errorf("compare: resuming %s: %w", dir, err)
				}
				if cfg.Reward == RedactSpec(full) {
					cfg.Reward = full // the credentials the run's config.yaml does not keep
				}
			}
			ev := c.Log.Info().Str("run", filepath.Base(dir)).Bool("resume", resume)
			if trained > 0 {
				per := time.Since(start) / time.Duration(trained)
				ev = ev.Str("eta", (per * time.Duration(total-i+1)).Round(time.Second).String())
			}
			ev.Msgf("compare %d/%d", i, total)
			m, name, err := c.NewModel()
			if err != nil {
				return nil, err
			}
			t := &Trainer{Cfg: cfg, Model: m, World: c.World, Tok: c.Tok, OutDir: dir, BaseName: name, Resume: resume,
				BaseEvalDir: filepath.Join(c.OutDir, BaseEvalDir),
				Log:         c.Log.With().Str("run", filepath.Base(dir)).Logger(), ExtraRewards: c.ExtraRewards}
			if _, err := t.Run(ctx); err != nil {
				if errors.Is(err, ErrInterrupted) {
					return nil, fmt.Errorf("compare: %w (run the same command again to continue)", err)
				}
				return nil, fmt.Errorf("compare: %s seed %d: %w", algo, cfg.Seed, err)
			}
			trained++
		}
	}
	rep, err := c.Report()
	if err != nil {
		return nil, err
	}
	return rep, nil
}

func (c *Comparison) check() error {
	if len(c.Algos) == 0 {
		return errors.New("compare: no algorithms given (e.g. -compare awm,ram,flowgrpo)")
	}
	seen := map[string]bool{}
	for _, a := range c.Algos {
		if !slices.Contains(Algorithms, a) {
			return fmt.Errorf("compare: unknown algorithm %q (valid: %s)", a, strings.Join(Algorithms, ", "))
		}
		if seen[a] {
			return fmt.Errorf("compare: algorithm %q is listed twice", a)
		}
		seen[a] = true
	}
	if !seen[ReferenceAlgo] {
		return fmt.Errorf("compare: the list %q must include %s, the baseline the others are measured against", strings.Join(c.Algos, ","), ReferenceAlgo)
	}
	if c.Seeds < 1 {
		return fmt.Errorf("compare: seeds must be at least 1 (got %d; 3 or more to see the spread)", c.Seeds)
	}
	if _, ok := c.Overrides["algo"]; ok {
		return errors.New("compare: -algo does not apply to a comparison (list the algorithms in -compare)")
	}
	if c.NewModel == nil || c.World == nil || c.Tok == nil || c.OutDir == "" {
		return errors.New("compare: NewModel, World, Tok and OutDir must be set")
	}
	if c.Reach < 0 || c.Reach > 1 {
		return fmt.Errorf("compare: reach %g is outside (0, 1]", c.Reach)
	}
	return nil
}

// config is the resolved config of algo's k-th seed: CompareDefaults (unless a config file or a
// preset is given), then the file, then the explicit overrides, with the algorithm and seed set.
func (c *Comparison) config(algo string, k int) (Config, error) {
	// Keys are merged in their file form (eval_prompts): a flag's name (eval-prompts) is the
	// same key, and must replace the default, not sit beside it.
	ov := map[string]string{}
	if c.ConfigPath == "" && c.Overrides["preset"] == "" { // a config file or a preset decides the budget itself
		for key, v := range CompareDefaults {
			ov[fileKey(key)] = v
		}
	}
	for key, v := range c.Overrides {
		ov[fileKey(key)] = v
	}
	ov["algo"] = algo
	seed := uint64(1)
	if s, ok := ov["seed"]; ok {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return Config{}, fmt.Errorf("compare: seed %q is not a whole number", s)
		}
		seed = v
	} else if c.ConfigPath != "" {
		fileCfg, err := resolveConfig(c.ConfigPath, map[string]string{"algo": algo}, c.ExtraRewards)
		if err != nil {
			return Config{}, err
		}
		seed = fileCfg.Seed
	}
	ov["seed"] = strconv.FormatUint(seed+uint64(k), 10)
	cfg, err := resolveConfig(c.ConfigPath, ov, c.ExtraRewards)
	if err != nil {
		return Config{}, err
	}
	return cfg, nil
}

func (c *Comparison) runDir(algo string, k int) string {
	return filepath.Join(c.OutDir, fmt.Sprintf("%s-seed%d", algo, k+1))
}

// finished reports whether dir holds a completed run.
func finished(dir string) (bool, error) {
	data, err := os.ReadFile(filepath.Join(dir, SummaryFile))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("compare: %w", err)
	}
	var s Summary
	if err := json.Unmarshal(data, &s); err != nil {
		return false, fmt.Errorf("compare: %s is unreadable (%v); delete that run directory to train it again", filepath.Join(dir, SummaryFile), err)
	}
	return s.Completed, nil
}
