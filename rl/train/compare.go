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
	"image"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/flowtune/flowtune/diffusion"
	"github.com/flowtune/flowtune/diffusion/world"
	"github.com/flowtune/flowtune/internal/atomicfile"
	"github.com/flowtune/flowtune/internal/plot"
	"github.com/flowtune/flowtune/rl/reward"
)

// Files a comparison writes into its directory (besides one run directory per algorithm and seed).
const (
	CompareTableFile = "compare.md"
	CompareJSONFile  = "compare.json"
	CompareCurveFile = "compare_curves.png"
)

// ReferenceAlgo is the baseline every comparison measures against.
const ReferenceAlgo = "flowgrpo"

// DefaultReach is the share of Flow-GRPO's peak gain an algorithm must reach.
const DefaultReach = 0.95

// CompareDefaults are the config values a comparison uses unless the config file or flags set
// them: the built-in composability task, the default fine-tuning run made shorter, and a held-out
// evaluation large enough that one evaluation's standard error is about 0.01 on compose.
//
// Sizing (docs/measurements.md §1): the shipped base model's per-image sd of the compose reward
// is 0.25–0.26, so sd/√n ≤ 0.01 needs n ≥ 660 images; the task has 128 held-out prompts, so
// 128 prompts × 6 seeds = 768 images (0.0093 on the base; ocr, sd 0.16, would need 2 seeds).
// Evaluating costs about 94 CPU-ms per image (10 ODE steps and the reward), so every 8 steps
// (5 evaluations per run) keeps three seeds of three algorithms within an hour on two idle
// CPU cores: about 23 min of training (the old default's measured 26.7 min less its ~4 min of
// evaluation) and 27 min of evaluation (estimated). Images of one prompt under different seeds are correlated, so the error counted
// by prompt is larger (0.012); the gains are judged on the paired change over seeds instead
// (compare_gain.go), where prompt difficulty cancels.
var CompareDefaults = map[string]string{
	"task":         "compose",
	"steps":        "32",
	"eval_every":   "8",
	"eval_prompts": "128",
	"eval_seeds":   "6",
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

// CompareReport is compare.json.
type CompareReport struct {
	Task          string        `json:"task"`
	Reward        string        `json:"reward"` // the held-out reward compared (the config's first)
	Seeds         []uint64      `json:"seeds"`
	Budget        CompareBudget `json:"budget"`
	Reach         float64       `json:"reach"`
	Threshold     float64       `json:"threshold"`
	ThresholdRule string        `json:"threshold_rule"`
	BaseEval      float64       `json:"base_eval"`
	EvalStderr    float64       `json:"eval_stderr"` // one evaluation's std/√n over its images (base model)
	BaseDiversity float64       `json:"base_diversity"`
	Machine       string        `json:"machine"`
	Device        string        `json:"device"`
	Complete      bool          `json:"complete"` // every run finished
	Algos         []AlgoResult  `json:"algos"`
}

// CompareBudget is what every algorithm gets alike.
type CompareBudget struct {
	Steps        int `json:"steps"`
	Prompts      int `json:"prompts_per_step"`
	Group        int `json:"group"`
	RolloutSteps int `json:"rollout_steps"`
	Rollouts     int `json:"rollouts"` // steps × prompts × group
	EvalImages   int `json:"eval_images"`
}

// AlgoResult is one algorithm's part of the report; curves are over the seeds at each
// evaluation step.
type AlgoResult struct {
	Algo      string    `json:"algo"`
	Runs      []string  `json:"runs"`
	Completed int       `json:"completed_runs"`
	EvalSteps []int     `json:"eval_steps"`
	Mean      []float64 `json:"mean"`   // held-out reward, mean over seeds
	Spread    []float64 `json:"spread"` // its standard deviation over seeds
	Diversity []float64 `json:"diversity_rel"`
	// Peak is the highest point of the mean curve; PeakSeeds the mean and spread of each
	// seed's own peak.
	Peak          float64 `json:"peak"`
	PeakStep      int     `json:"peak_step"`
	PeakSeedsMean float64 `json:"peak_seeds_mean"`
	PeakSeedsStd  float64 `json:"peak_seeds_std"`
	Final         float64 `json:"final"`
	// ReachStep is the first evaluation step whose mean reaches the threshold (−1: never);
	// ReachSeconds the training wall time (evaluations excluded) up to it, averaged over seeds.
	ReachStep    int     `json:"reach_step"`
	ReachSeconds float64 `json:"reach_seconds"`
	// StepRatio and TimeRatio are Flow-GRPO's reach step and seconds over this algorithm's
	// (> 1: faster than Flow-GRPO); 0 when either never reaches.
	StepRatio float64 `json:"step_ratio"`
	TimeRatio float64 `json:"time_ratio"`
	// DiversityAtReach is the held-out diversity at the reach step (the peak step if it never
	// reaches) relative to the base model's: the collapse check.
	DiversityAtReach float64 `json:"diversity_at_reach"`
	SecondsPerStep   float64 `json:"seconds_per_step"`
	// Gain is the held-out change from the base at the last evaluation, with a t-interval over
	// seeds and whether it is within noise.
	Gain         *Gain   `json:"gain,omitempty"`
	TrainSeconds float64 `json:"train_seconds"` // whole run's training time, mean over seeds
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
				Log: c.Log.With().Str("run", filepath.Base(dir)).Logger(), ExtraRewards: c.ExtraRewards}
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

// config is the resolved config of algo's k-th seed: CompareDefaults, then the file, then the
// explicit overrides, with the algorithm and seed set.
func (c *Comparison) config(algo string, k int) (Config, error) {
	ov := map[string]string{}
	if c.ConfigPath == "" { // a config file decides the budget itself
		for key, v := range CompareDefaults {
			ov[key] = v
		}
	}
	for key, v := range c.Overrides {
		ov[key] = v
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

// runCurve is what one run contributes: its evaluations and cumulative training time.
type runCurve struct {
	steps     []int
	reward    []float64
	stderr    []float64
	diversity []float64
	trainSecs []float64 // training seconds up to each eval step
	total     float64
}

func readRun(dir, rewardName string, extra map[string]reward.Reward) (*runCurve, Config, error) {
	if _, err := os.Stat(filepath.Join(dir, ConfigFile)); err != nil {
		return nil, Config{}, err
	}
	cfg, err := resolveConfig(filepath.Join(dir, ConfigFile), nil, extra)
	if err != nil {
		return nil, Config{}, fmt.Errorf("compare: %w", err)
	}
	data, err := os.ReadFile(filepath.Join(dir, MetricsFile))
	if err != nil {
		return nil, Config{}, fmt.Errorf("compare: %w", err)
	}
	rc := &runCurve{}
	var secs float64
	for i, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if line == "" {
			continue
		}
		var rec struct {
			Kind      string             `json:"kind"`
			Step      int                `json:"step"`
			Reward    map[string]float64 `json:"reward"`
			Stderr    map[string]float64 `json:"stderr"`
			Diversity float64            `json:"diversity"`
			Time      map[string]float64 `json:"time"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			return nil, Config{}, fmt.Errorf("compare: %s line %d: %v", filepath.Join(dir, MetricsFile), i+1, err)
		}
		switch rec.Kind {
		case "train":
			secs += rec.Time["step"]
		case "eval":
			v, ok := rec.Reward[rewardName]
			if !ok {
				return nil, Config{}, fmt.Errorf("compare: %s has no %q reward in its evaluations", dir, rewardName)
			}
			rc.steps = append(rc.steps, rec.Step)
			rc.reward = append(rc.reward, v)
			rc.stderr = append(rc.stderr, rec.Stderr[rewardName])
			rc.diversity = append(rc.diversity, rec.Diversity)
			rc.trainSecs = append(rc.trainSecs, secs)
		}
	}
	rc.total = secs
	if len(rc.steps) == 0 || rc.steps[0] != 0 {
		return nil, Config{}, fmt.Errorf("compare: %s has no base evaluation (step 0)", dir)
	}
	return rc, cfg, nil
}

// Report reads every run directory and writes the comparison's table, JSON and chart. Runs that
// have not finished contribute what they have (the report says so).
func (c *Comparison) Report() (*CompareReport, error) {
	reach := c.Reach
	if reach == 0 {
		reach = DefaultReach
	}
	first, err := c.config(c.Algos[0], 0)
	if err != nil {
		return nil, err
	}
	rws, err := first.Rewards()
	if err != nil {
		return nil, err
	}
	rep := &CompareReport{Task: first.Task, Reward: rws[0].Name, Reach: reach, Complete: true, Device: c.Device,
		Machine: fmt.Sprintf("%s/%s, %d CPU threads", runtime.GOOS, runtime.GOARCH, runtime.NumCPU())}
	curves := map[string][]*runCurve{}
	var baseRewards, baseDiv, baseSE []float64
	for _, algo := range c.Algos {
		for k := 0; k < c.Seeds; k++ {
			dir := c.runDir(algo, k)
			rc, cfg, err := readRun(dir, rep.Reward, c.ExtraRewards)
			if errors.Is(err, os.ErrNotExist) {
				rep.Complete = false
				continue
			}
			if err != nil {
				return nil, err
			}
			if algo == c.Algos[0] {
				rep.Seeds = append(rep.Seeds, cfg.Seed)
				rep.Budget = CompareBudget{Steps: cfg.Steps, Prompts: cfg.Prompts, Group: cfg.Group, RolloutSteps: cfg.RolloutSteps,
					Rollouts: cfg.Steps * cfg.Prompts * cfg.Group, EvalImages: cfg.EvalPrompts * cfg.EvalSeeds}
			}
			if done, _ := finished(dir); !done {
				rep.Complete = false
			}
			curves[algo] = append(curves[algo], rc)
			baseRewards = append(baseRewards, rc.reward[0])
			baseDiv = append(baseDiv, rc.diversity[0])
			baseSE = append(baseSE, rc.stderr[0])
		}
	}
	if len(curves[ReferenceAlgo]) == 0 {
		return nil, fmt.Errorf("compare: no %s run in %s to measure against yet", ReferenceAlgo, c.OutDir)
	}
	rep.BaseEval, rep.BaseDiversity, rep.EvalStderr = mean(baseRewards), mean(baseDiv), mean(baseSE)

	for _, algo := range c.Algos {
		rep.Algos = append(rep.Algos, c.summarise(algo, curves[algo], rep.BaseDiversity))
	}
	refIdx := slices.Index(c.Algos, ReferenceAlgo)
	gain := rep.Algos[refIdx].Peak - rep.BaseEval
	rep.Threshold = rep.BaseEval + reach*gain
	rep.ThresholdRule = fmt.Sprintf("base + %g × (Flow-GRPO's peak − base) on the seed-mean held-out curve", reach)
	for i := range rep.Algos {
		a := &rep.Algos[i]
		a.ReachStep, a.ReachSeconds = -1, 0
		if gain <= 0 {
			continue // Flow-GRPO never rose above the base: there is nothing to reach
		}
		for j, s := range a.EvalSteps {
			if a.Mean[j] >= rep.Threshold {
				a.ReachStep = s
				a.ReachSeconds = meanAt(curves[a.Algo], s, func(rc *runCurve, j int) float64 { return rc.trainSecs[j] })
				a.DiversityAtReach = a.Diversity[j]
				break
			}
		}
		if a.ReachStep < 0 {
			a.DiversityAtReach = a.Diversity[slices.Index(a.EvalSteps, a.PeakStep)]
		}
	}
	refAt := rep.Algos[refIdx] // with its reach filled in
	for i := range rep.Algos {
		a := &rep.Algos[i]
		if a.ReachStep > 0 && refAt.ReachStep > 0 {
			a.StepRatio = float64(refAt.ReachStep) / float64(a.ReachStep)
			a.TimeRatio = refAt.ReachSeconds / a.ReachSeconds
		}
	}

	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := atomicfile.WriteBytes(filepath.Join(c.OutDir, CompareJSONFile), append(data, '\n')); err != nil {
		return nil, err
	}
	if err := atomicfile.WriteBytes(filepath.Join(c.OutDir, CompareTableFile), []byte(rep.Markdown())); err != nil {
		return nil, err
	}
	if err := diffusion.SavePNG(filepath.Join(c.OutDir, CompareCurveFile), rep.chart()); err != nil {
		return nil, err
	}
	return rep, nil
}

// summarise averages one algorithm's runs at the evaluation steps they all have.
func (c *Comparison) summarise(algo string, rcs []*runCurve, baseDiv float64) AlgoResult {
	a := AlgoResult{Algo: algo, ReachStep: -1}
	for k := 0; k < c.Seeds; k++ {
		dir := c.runDir(algo, k)
		if _, err := os.Stat(dir); err == nil {
			a.Runs = append(a.Runs, dir)
		}
		if done, _ := finished(dir); done {
			a.Completed++
		}
	}
	if len(rcs) == 0 {
		return a
	}
	common := rcs[0].steps
	for _, rc := range rcs[1:] {
		common = slices.DeleteFunc(slices.Clone(common), func(s int) bool { return !slices.Contains(rc.steps, s) })
	}
	a.EvalSteps = common
	for _, s := range common {
		vals := collect(rcs, s, func(rc *runCurve, j int) float64 { return rc.reward[j] })
		m, sd := meanStdOf(vals)
		a.Mean, a.Spread = append(a.Mean, m), append(a.Spread, sd)
		d := meanAt(rcs, s, func(rc *runCurve, j int) float64 { return rc.diversity[j] })
		if baseDiv > 0 {
			d /= baseDiv
		}
		a.Diversity = append(a.Diversity, d)
	}
	a.Peak, a.PeakStep = math.Inf(-1), 0
	for j, m := range a.Mean {
		if m > a.Peak {
			a.Peak, a.PeakStep = m, common[j]
		}
	}
	a.Final = a.Mean[len(a.Mean)-1]
	a.Gain = gainOf(rcs, common[len(common)-1])
	var peaks, totals, perStep []float64
	for _, rc := range rcs {
		p := math.Inf(-1)
		for _, v := range rc.reward {
			p = max(p, v)
		}
		peaks = append(peaks, p)
		totals = append(totals, rc.total)
		if last := rc.steps[len(rc.steps)-1]; last > 0 {
			perStep = append(perStep, rc.total/float64(last))
		}
	}
	a.PeakSeedsMean, a.PeakSeedsStd = meanStdOf(peaks)
	a.TrainSeconds, a.SecondsPerStep = mean(totals), mean(perStep)
	return a
}

func collect(rcs []*runCurve, step int, f func(*runCurve, int) float64) []float64 {
	var out []float64
	for _, rc := range rcs {
		if j := slices.Index(rc.steps, step); j >= 0 {
			out = append(out, f(rc, j))
		}
	}
	return out
}

func meanAt(rcs []*runCurve, step int, f func(*runCurve, int) float64) float64 {
	return mean(collect(rcs, step, f))
}

// meanStdOf is the mean and sample standard deviation (0 for fewer than two values).
func meanStdOf(v []float64) (float64, float64) {
	m := mean(v)
	if len(v) < 2 {
		return m, 0
	}
	ss := 0.0
	for _, x := range v {
		ss += (x - m) * (x - m)
	}
	return m, math.Sqrt(ss / float64(len(v)-1))
}

// Markdown is compare.md: the budget, the threshold and one row per algorithm.
func (r *CompareReport) Markdown() string {
	var b strings.Builder
	state := ""
	if !r.Complete {
		state = " (INCOMPLETE: some runs have not finished)"
	}
	fmt.Fprintf(&b, "## %s vs %s on %s%s\n\n", strings.Join(r.algoNames(), ", "), ReferenceAlgo, r.Task, state)
	fmt.Fprintf(&b, "Held-out reward `%s` (ODE sampler, fixed seeds, %d images per evaluation). Same base model, prompts, "+
		"group size and rollout budget for every algorithm: %d steps × %d prompts × %d images = %d rollouts of %d steps; seeds %v. "+
		"%s, device %s.\n\n", r.Reward, r.Budget.EvalImages, r.Budget.Steps, r.Budget.Prompts, r.Budget.Group,
		r.Budget.Rollouts, r.Budget.RolloutSteps, r.Seeds, r.Machine, r.Device)
	fmt.Fprintf(&b, "Base model: %.4f. Reach threshold: %.4f = %s. Evaluation noise: one evaluation's standard error "+
		"is %.4f (std/√n over its images; the same prompts and noise at every evaluation make changes paired, but "+
		"differences of a few standard errors between single evaluations are still noise).\n\n", r.BaseEval, r.Threshold, r.ThresholdRule, r.EvalStderr)
	b.WriteString("| algorithm | peak (mean curve) | peak per seed (mean ± sd) | final | steps to reach | train s to reach | step ratio vs Flow-GRPO | time ratio vs Flow-GRPO | s/step | diversity at reach (÷ base) |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, a := range r.Algos {
		reachStep, reachSec, sr, tr := "not reached", "–", "–", "–"
		if a.ReachStep >= 0 {
			reachStep, reachSec = strconv.Itoa(a.ReachStep), fmt.Sprintf("%.0f", a.ReachSeconds)
		}
		if a.StepRatio > 0 {
			sr, tr = fmt.Sprintf("%.2f×", a.StepRatio), fmt.Sprintf("%.2f×", a.TimeRatio)
		}
		fmt.Fprintf(&b, "| %s | %.4f (step %d) | %.4f ± %.4f | %.4f | %s | %s | %s | %s | %.2f | %.3f |\n",
			a.Algo, a.Peak, a.PeakStep, a.PeakSeedsMean, a.PeakSeedsStd, a.Final, reachStep, reachSec, sr, tr,
			a.SecondsPerStep, a.DiversityAtReach)
	}
	b.WriteString(r.gainMarkdown())
	b.WriteString("\nRatios are Flow-GRPO's steps (training seconds) to the threshold over the algorithm's; > 1 is faster. " +
		"Training seconds exclude the held-out evaluations. Diversity is the mean RMS pixel distance between a prompt's " +
		"images under different seeds, relative to the base model; well below 1 means the samples collapsed.\n")
	return b.String()
}

func (r *CompareReport) algoNames() []string {
	var out []string
	for _, a := range r.Algos {
		if a.Algo != ReferenceAlgo {
			out = append(out, a.Algo)
		}
	}
	sort.Strings(out)
	return out
}

// chart draws every algorithm's seed-mean held-out curve with ±1 sd bars over seeds, and the
// reach threshold.
func (r *CompareReport) chart() *image.RGBA {
	var ss []plot.Series
	xMax := 0.0
	for i, a := range r.Algos {
		s := plot.Series{Name: fmt.Sprintf("%s (%d seeds)", a.Algo, a.Completed), Col: plot.Palette[i%len(plot.Palette)], Thick: true, Err: a.Spread}
		for j, st := range a.EvalSteps {
			s.X, s.Y = append(s.X, float64(st)), append(s.Y, a.Mean[j])
			xMax = max(xMax, float64(st))
		}
		ss = append(ss, s)
	}
	if r.Threshold != r.BaseEval {
		ss = append(ss, plot.Series{Name: fmt.Sprintf("reach threshold %.3f", r.Threshold), Col: plot.Lighter(plot.Lighter(plot.Palette[len(plot.Palette)-1])),
			X: []float64{0, xMax}, Y: []float64{r.Threshold, r.Threshold}})
	}
	title := fmt.Sprintf("held-out %s on %s: mean +/- 1 sd over %d seeds", r.Reward, r.Task, len(r.Seeds))
	return plot.Chart(title, "step", r.Reward, ss, xMax)
}
