package train

// The comparison's report: every run directory read back, each algorithm's curve summarised
// over its seeds against Flow-GRPO's (reach step and time, peak, gain, diversity), and written
// as compare.md, compare.json and compare_curves.png.

import (
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

	"github.com/flowtune/flowtune/diffusion"
	"github.com/flowtune/flowtune/internal/atomicfile"
	"github.com/flowtune/flowtune/internal/plot"
	"github.com/flowtune/flowtune/rl/reward"
)

// CompareReport is compare.json.
type CompareReport struct {
	Task   string `json:"task"`
	Reward string `json:"reward"` // the held-out reward compared (the config's first)
	// Eval says what the evaluation prompts are (EvalLabel): "held-out" for a task's split,
	// "training-prompt" for a prompt file evaluated on itself.
	Eval          string        `json:"evaluation"`
	Seeds         []uint64      `json:"seeds"`
	Budget        CompareBudget `json:"budget"`
	Reach         float64       `json:"reach"`
	Threshold     float64       `json:"threshold"`
	ThresholdRule string        `json:"threshold_rule"`
	// ReferencePeakGain is Flow-GRPO's paired change at the peak of its seed-mean curve, with
	// its interval over seeds: the gain the threshold is a fraction of. When it is within
	// noise there is no threshold, and so no ratio.
	ReferencePeakGain *Gain        `json:"reference_peak_gain,omitempty"`
	BaseEval          float64      `json:"base_eval"`
	EvalStderr        float64      `json:"eval_stderr"` // one evaluation's std/√n over its images (base model)
	BaseDiversity     float64      `json:"base_diversity"`
	Machine           string       `json:"machine"`
	Device            string       `json:"device"`
	Complete          bool         `json:"complete"` // every run finished
	Algos             []AlgoResult `json:"algos"`
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

// runCurve is what one run contributes: its evaluations and cumulative training time.
type runCurve struct {
	steps     []int
	reward    []float64
	stderr    []float64
	diversity []float64
	trainSecs []float64 // training seconds up to each eval step
	total     float64
	eval      string // EvalLabel from the eval records; "" when they do not say
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
			Prompts   int                `json:"eval_prompts"`
			TrainedOn int                `json:"eval_prompts_trained_on"`
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
			if rec.Prompts > 0 {
				rc.eval = EvalLabel(rec.TrainedOn, rec.Prompts)
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
				if len(rep.Seeds) == 0 {
					rep.Eval = rc.eval
					if rep.Eval == "" { // metrics from before eval records named their prompts
						rep.Eval = evalLabelOf(cfg)
					}
				}
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
	rep.Threshold, rep.ThresholdRule, rep.ReferencePeakGain = reachThreshold(rep.BaseEval, reach, rep.Algos[refIdx], curves[ReferenceAlgo])
	for i := range rep.Algos {
		a := &rep.Algos[i]
		a.ReachStep, a.ReachSeconds = -1, 0
		for j, s := range a.EvalSteps {
			if a.Mean[j] >= rep.Threshold { // never, when the threshold is NaN (nothing to reach)
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

	data, err := marshalJSONIndent(rep, "", "  ") // a NaN threshold is written as null
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

// reachThreshold is the level the ratios are measured at: base + reach × Flow-GRPO's gain at
// the peak of its seed-mean curve. There is none (NaN, written as null) when that curve never
// rose above the base, or when the paired change at its peak step cannot be told from the
// noise between seeds (its t-interval over seeds contains zero, or there is one seed): a
// fraction of a gain that may be noise would make any step or time ratio noise too. The peak
// step is chosen as the curve's highest point, so the interval at it is, if anything, kind to
// the reference.
func reachThreshold(base, reach float64, ref AlgoResult, refRuns []*runCurve) (float64, string, *Gain) {
	gain := ref.Peak - base
	if gain <= 0 {
		return math.NaN(), "none: Flow-GRPO's seed-mean evaluation curve never rose above the base, so there is no gain of its to reach", nil
	}
	pg := gainOf(refRuns, ref.PeakStep)
	if pg == nil || pg.WithinNoise {
		why, change := "one seed gives no interval", gain
		if pg != nil {
			change = pg.Mean
			if pg.CILow != nil {
				why = fmt.Sprintf("its %.0f%% interval over %d seeds, [%+.4f, %+.4f], contains zero", 100*GainLevel, len(pg.PerSeed), *pg.CILow, *pg.CIHigh)
			}
		}
		return math.NaN(), fmt.Sprintf("none: Flow-GRPO's paired change at its peak (step %d, %+.4f) is within noise (%s), "+
			"so a threshold on it, and every step or time ratio, would measure noise", ref.PeakStep, change, why), pg
	}
	return base + reach*gain, fmt.Sprintf("base + %g × (Flow-GRPO's peak − base) on the seed-mean evaluation curve; "+
		"its paired change at the peak, step %d, is beyond noise (%.0f%% interval [%+.4f, %+.4f] over %d seeds)",
		reach, ref.PeakStep, 100*GainLevel, *pg.CILow, *pg.CIHigh, len(pg.PerSeed)), pg
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
		} else {
			d = math.NaN() // one seed per prompt: no spread between seeds to compare (null in JSON)
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

// Markdown is compare.md: the budget, the threshold and one row per algorithm.
func (r *CompareReport) Markdown() string {
	var b strings.Builder
	state := ""
	if !r.Complete {
		state = " (INCOMPLETE: some runs have not finished)"
	}
	fmt.Fprintf(&b, "## %s vs %s on %s%s\n\n", strings.Join(r.algoNames(), ", "), ReferenceAlgo, r.Task, state)
	fmt.Fprintf(&b, "Reward `%s`%s (ODE sampler, fixed seeds, %d images per evaluation). Same base model, prompts, "+
		"group size and rollout budget for every algorithm: %d steps × %d prompts × %d images = %d rollouts of %d steps; seeds %v. "+
		"%s, device %s.\n\n", r.Reward, labelled(", %s evaluation", r.Eval), r.Budget.EvalImages, r.Budget.Steps, r.Budget.Prompts, r.Budget.Group,
		r.Budget.Rollouts, r.Budget.RolloutSteps, r.Seeds, r.Machine, r.Device)
	threshold := fmt.Sprintf("%.4f = %s", r.Threshold, r.ThresholdRule)
	if math.IsNaN(r.Threshold) {
		threshold = r.ThresholdRule
	}
	fmt.Fprintf(&b, "Base model: %.4f. Reach threshold: %s. Evaluation noise: one evaluation's standard error "+
		"is %.4f (std/√n over its images; the same prompts and noise at every evaluation make changes paired, but "+
		"differences of a few standard errors between single evaluations are still noise).\n\n", r.BaseEval, threshold, r.EvalStderr)
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
		div := "– (one seed per prompt)"
		if !math.IsNaN(a.DiversityAtReach) {
			div = fmt.Sprintf("%.3f", a.DiversityAtReach)
		}
		fmt.Fprintf(&b, "| %s | %.4f (step %d) | %.4f ± %.4f | %.4f | %s | %s | %s | %s | %.2f | %s |\n",
			a.Algo, a.Peak, a.PeakStep, a.PeakSeedsMean, a.PeakSeedsStd, a.Final, reachStep, reachSec, sr, tr,
			a.SecondsPerStep, div)
	}
	b.WriteString(r.gainMarkdown())
	b.WriteString("\nRatios are Flow-GRPO's steps (training seconds) to the threshold over the algorithm's; > 1 is faster. " +
		"Training seconds exclude the evaluations. Diversity is the mean RMS pixel distance between a prompt's " +
		"images under different seeds, relative to the base model, at the reach step (at the peak where the threshold is not reached); " +
		"well below 1 means the samples collapsed.\n")
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

// evalLabelOf names a run's evaluation (EvalLabel) from its config, reading its prompt files
// again; a file that is gone gives "" (nothing said).
func evalLabelOf(cfg Config) string {
	set, err := LoadPromptSet(cfg)
	switch {
	case err != nil:
		return ""
	case set == nil: // the task's prompts, split
		return EvalLabel(0, 1)
	}
	n := min(cfg.EvalPrompts, len(set.HeldOut))
	if n <= 0 {
		return ""
	}
	return EvalLabel(set.SeenInTraining(set.EvalPrompts(n)), n)
}

// labelled formats label into format, or gives "" when there is no label.
func labelled(format, label string) string {
	if label == "" {
		return ""
	}
	return fmt.Sprintf(format, label)
}

// chart draws every algorithm's seed-mean evaluation curve with ±1 sd bars over seeds, and the
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
	if !math.IsNaN(r.Threshold) && r.Threshold != r.BaseEval {
		ss = append(ss, plot.Series{Name: fmt.Sprintf("reach threshold %.3f", r.Threshold), Col: plot.Lighter(plot.Lighter(plot.Palette[len(plot.Palette)-1])),
			X: []float64{0, xMax}, Y: []float64{r.Threshold, r.Threshold}})
	}
	title := fmt.Sprintf("%s reward, %s%s prompts: mean +/- 1 sd over %d seeds", r.Reward, labelled("%s ", r.Eval), r.Task, len(r.Seeds))
	return plot.Chart(title, "step", r.Reward, ss, xMax)
}
