package train

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/flowtune/flowtune/diffusion"
	"github.com/flowtune/flowtune/diffusion/world"
	"github.com/flowtune/flowtune/internal/atomicfile"
	"github.com/flowtune/flowtune/rl/reward"
	"github.com/flowtune/flowtune/rl/reward/rewardtest"
)

func TestDiversityIsTheMeanCrossSeedDistance(t *testing.T) {
	img := func(v uint8) *image.RGBA {
		m := image.NewRGBA(image.Rect(0, 0, 2, 2))
		for i := range m.Pix {
			m.Pix[i] = v
			if i%4 == 3 {
				m.Pix[i] = 255 // alpha never counts
			}
		}
		return m
	}
	// Two prompts, two seeds (seed-major): prompt 0's images differ by 51/255 = 0.2 everywhere,
	// prompt 1's are identical.
	got := diversity([]*image.RGBA{img(0), img(100), img(51), img(100)}, 2)
	if want := (0.2 + 0) / 2; math.Abs(got-want) > 1e-12 {
		t.Fatalf("diversity = %v, want %v", got, want)
	}
	// Three seeds: pairwise distances 0.2, 0.4, 0.2 → mean 0.8/3.
	got = diversity([]*image.RGBA{img(0), img(51), img(102)}, 1)
	if want := 0.8 / 3; math.Abs(got-want) > 1e-12 {
		t.Fatalf("diversity over three seeds = %v, want %v", got, want)
	}
	if d := diversity([]*image.RGBA{img(0), img(9)}, 2); d != 0 {
		t.Fatalf("one seed has no cross-seed pairs, got %v", d)
	}
}

// fakeRun writes a finished run directory whose held-out curve is evals (one value per eval
// step 0, every, 2·every, …), with stepSecs seconds per training step and diversity div[i].
func fakeRun(t *testing.T, dir string, cfg Config, evals, div []float64, every int, stepSecs float64) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	y, err := cfg.YAML()
	if err != nil {
		t.Fatal(err)
	}
	if err := atomicfile.WriteBytes(filepath.Join(dir, ConfigFile), y); err != nil {
		t.Fatal(err)
	}
	var lines []string
	add := func(v any) {
		b, _ := json.Marshal(v)
		lines = append(lines, string(b))
	}
	for i, v := range evals {
		step := i * every
		if step > 0 {
			for s := step - every + 1; s <= step; s++ {
				add(trainRecord{Kind: "train", Step: s, Reward: map[string]float64{"brightness": v}, Time: map[string]float64{"step": stepSecs}})
			}
		}
		add(evalRecord{Kind: "eval", Step: step, Reward: map[string]float64{"brightness": v}, Diversity: div[i],
			Stderr: map[string]float64{"brightness": 0.01 * float64(i+1)},
			Time:   map[string]float64{"eval": 100}})
	}
	if err := os.WriteFile(filepath.Join(dir, MetricsFile), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, _ := json.Marshal(Summary{Algo: cfg.Algo, Completed: true, Steps: (len(evals) - 1) * every})
	if err := os.WriteFile(filepath.Join(dir, SummaryFile), s, 0o644); err != nil {
		t.Fatal(err)
	}
}

// The report's numbers from hand-made curves: threshold, reach steps and seconds, ratios,
// spread over seeds and the diversity at the reach point.
func TestCompareReportFromKnownCurves(t *testing.T) {
	dir := t.TempDir()
	c := &Comparison{Algos: []string{"ram", "flowgrpo"}, Seeds: 3, OutDir: dir, Overrides: map[string]string{},
		ExtraRewards: map[string]reward.Reward{"brightness": rewardtest.Brightness{}}, Log: zerolog.Nop(), Device: "cpu"}
	c.ConfigPath = filepath.Join(dir, "base.yaml")
	base := tinyConfig("ram")
	y, _ := base.YAML()
	if err := os.WriteFile(c.ConfigPath, y, 0o644); err != nil {
		t.Fatal(err)
	}
	cfgFor := func(algo string, k int) Config {
		cfg, err := c.config(algo, k)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	// Eval every 2 steps, 8 steps, 3 seeds. Flow-GRPO's seed-mean curve: 0.5, 0.55, 0.6, 0.7,
	// 0.9 → peak 0.9 at step 8, where its paired changes +0.3, +0.5, +0.4 are beyond noise, so
	// the threshold is 0.5 + 0.95·0.4 = 0.88, reached at step 8 after 8 × 3 s.
	// RAM's seed means: 0.5, 0.7, 0.9, 0.95, 0.95 → reaches 0.88 at step 4 after 4 × 1 s.
	div := []float64{0.2, 0.2, 0.15, 0.1, 0.1}
	fakeRun(t, c.runDir("flowgrpo", 0), cfgFor("flowgrpo", 0), []float64{0.5, 0.5, 0.6, 0.6, 0.8}, div, 2, 3)
	fakeRun(t, c.runDir("flowgrpo", 1), cfgFor("flowgrpo", 1), []float64{0.5, 0.6, 0.6, 0.8, 1.0}, div, 2, 3)
	fakeRun(t, c.runDir("flowgrpo", 2), cfgFor("flowgrpo", 2), []float64{0.5, 0.55, 0.6, 0.7, 0.9}, div, 2, 3)
	fakeRun(t, c.runDir("ram", 0), cfgFor("ram", 0), []float64{0.5, 0.6, 0.8, 0.9, 0.9}, div, 2, 1)
	fakeRun(t, c.runDir("ram", 1), cfgFor("ram", 1), []float64{0.5, 0.8, 1.0, 1.0, 1.0}, div, 2, 1)
	fakeRun(t, c.runDir("ram", 2), cfgFor("ram", 2), []float64{0.5, 0.7, 0.9, 0.95, 0.95}, div, 2, 1)

	rep, err := c.Report()
	if err != nil {
		t.Fatal(err)
	}
	near := func(what string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-9 {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	near("base", rep.BaseEval, 0.5)
	near("threshold", rep.Threshold, 0.88)
	near("evaluation noise (the base evaluation's)", rep.EvalStderr, 0.01)
	if !rep.Complete || len(rep.Seeds) != 3 || rep.Seeds[0]+1 != rep.Seeds[1] || rep.Seeds[1]+1 != rep.Seeds[2] {
		t.Fatalf("complete %v seeds %v", rep.Complete, rep.Seeds)
	}
	ram, fg := rep.Algos[0], rep.Algos[1]
	if ram.Algo != "ram" || fg.Algo != "flowgrpo" {
		t.Fatalf("algorithm order %s, %s", ram.Algo, fg.Algo)
	}
	near("flowgrpo peak", fg.Peak, 0.9)
	if fg.PeakStep != 8 || fg.ReachStep != 8 || ram.ReachStep != 4 || ram.PeakStep != 6 {
		t.Fatalf("peak/reach steps: flowgrpo %d/%d, ram %d/%d", fg.PeakStep, fg.ReachStep, ram.PeakStep, ram.ReachStep)
	}
	near("flowgrpo reach seconds", fg.ReachSeconds, 24)
	near("ram reach seconds", ram.ReachSeconds, 4)
	near("ram step ratio", ram.StepRatio, 2)
	near("ram time ratio", ram.TimeRatio, 6)
	near("flowgrpo own ratio", fg.StepRatio, 1)
	near("ram spread at step 2", ram.Spread[1], 0.1) // sample sd of 0.6, 0.8, 0.7
	near("ram peak per seed", ram.PeakSeedsMean, 0.95)
	near("ram diversity at reach", ram.DiversityAtReach, 0.15/0.2)
	near("ram seconds per step", ram.SecondsPerStep, 1)

	for _, f := range []string{CompareTableFile, CompareJSONFile, CompareCurveFile} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Fatalf("%s not written: %v", f, err)
		}
	}
	md, _ := os.ReadFile(filepath.Join(dir, CompareTableFile))
	// Gains at step 8: Flow-GRPO +0.3, +0.5, +0.4 (mean 0.4, sd 0.1), RAM +0.4, +0.5, +0.45
	// (0.45, sd 0.05); with three seeds t(0.975, 2) = 4.3027, so both intervals exclude zero.
	const t2 = 4.302652729911275
	near("flowgrpo gain", fg.Gain.Mean, 0.4)
	near("flowgrpo gain stderr", fg.Gain.StdErr, 0.1/math.Sqrt(3))
	near("ram gain interval low", *ram.Gain.CILow, 0.45-t2*0.05/math.Sqrt(3))
	if fg.Gain.WithinNoise || ram.Gain.WithinNoise || fg.Gain.Step != 8 {
		t.Errorf("gains %+v, %+v: want both beyond noise at step 8", *fg.Gain, *ram.Gain)
	}
	if pg := rep.ReferencePeakGain; pg == nil || pg.Step != 8 || pg.WithinNoise {
		t.Errorf("reference peak gain %+v: want step 8, beyond noise", pg)
	}
	js, _ := os.ReadFile(filepath.Join(dir, CompareJSONFile))
	if !strings.Contains(string(js), `"within_noise": false`) || !strings.Contains(string(js), `"reference_peak_gain"`) {
		t.Errorf("compare.json lacks the gain interval or the reference's peak gain:\n%s", js)
	}
	for _, want := range []string{"| ram | 0.9500 (step 6)", "| 4 | 4 | 2.00× | 6.00× |", "| flowgrpo | 0.9000 (step 8)",
		"| flowgrpo | 8 | +0.4000 | +0.3000, +0.5000, +0.4000 | [+0.1516, +0.6484] | 6.9 | beyond noise |",
		"is beyond noise (95% interval [+0.1516, +0.6484] over 3 seeds)"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("compare.md lacks %q:\n%s", want, md)
		}
	}
}

// awmVsFlowGRPO reports a three-seed AWM-against-Flow-GRPO comparison from hand-made held-out
// curves (evaluated every 4 steps, 1 s per step) with the diversity curve div for both. Seed k
// adds jitter·(k−1) to every evaluation after step 0, so the seed-mean curves are the given
// ones and the paired changes spread by ±jitter across seeds.
func awmVsFlowGRPO(t *testing.T, awm, flowgrpo, div []float64, jitter float64) (*CompareReport, string) {
	t.Helper()
	dir := t.TempDir()
	c := &Comparison{Algos: []string{"awm", "flowgrpo"}, Seeds: 3, OutDir: dir, Overrides: map[string]string{},
		ExtraRewards: map[string]reward.Reward{"brightness": rewardtest.Brightness{}}, Log: zerolog.Nop()}
	c.ConfigPath = filepath.Join(dir, "base.yaml")
	y, _ := tinyConfig("awm").YAML()
	if err := os.WriteFile(c.ConfigPath, y, 0o644); err != nil {
		t.Fatal(err)
	}
	for algo, ev := range map[string][]float64{"flowgrpo": flowgrpo, "awm": awm} {
		for k := 0; k < c.Seeds; k++ {
			cfg, err := c.config(algo, k)
			if err != nil {
				t.Fatal(err)
			}
			seeded := slices.Clone(ev)
			for j := 1; j < len(seeded); j++ {
				seeded[j] += jitter * float64(k-1)
			}
			fakeRun(t, c.runDir(algo, k), cfg, seeded, div, 4, 1)
		}
	}
	rep, err := c.Report()
	if err != nil {
		t.Fatal(err)
	}
	return rep, dir
}

// A run that never reaches the threshold is reported as such, with no ratio.
func TestCompareReportNotReached(t *testing.T) {
	rep, _ := awmVsFlowGRPO(t, []float64{0.2, 0.3, 0.3}, []float64{0.2, 0.4, 0.6}, []float64{1, 1, 1}, 0.01)
	if math.IsNaN(rep.Threshold) || rep.Algos[1].ReachStep != 8 {
		t.Fatalf("threshold %v, flowgrpo reach %d: want a threshold Flow-GRPO reaches at step 8", rep.Threshold, rep.Algos[1].ReachStep)
	}
	if a := rep.Algos[0]; a.ReachStep != -1 || a.StepRatio != 0 || a.DiversityAtReach != 1 {
		t.Fatalf("awm: reach %d ratio %v diversity %v", a.ReachStep, a.StepRatio, a.DiversityAtReach)
	}
	if !strings.Contains(rep.Markdown(), "not reached") {
		t.Fatalf("table does not say 'not reached':\n%s", rep.Markdown())
	}
}

// When Flow-GRPO never rises above the base there is no threshold to reach: the report says so
// (not a threshold equal to the base), writes it as null, and still gives each algorithm's
// diversity at its peak.
func TestCompareReportReferenceNeverRose(t *testing.T) {
	rep, dir := awmVsFlowGRPO(t, []float64{0.2, 0.25, 0.3}, []float64{0.2, 0.19, 0.2}, []float64{1, 0.8, 0.6}, 0.01)
	if !math.IsNaN(rep.Threshold) {
		t.Errorf("threshold %v, want none (NaN)", rep.Threshold)
	}
	awm, fg := rep.Algos[0], rep.Algos[1]
	if awm.ReachStep != -1 || awm.StepRatio != 0 || math.Abs(awm.DiversityAtReach-0.6) > 1e-9 || math.Abs(fg.DiversityAtReach-1) > 1e-9 {
		t.Errorf("awm reach %d ratio %v diversity at peak %v; flowgrpo diversity %v", awm.ReachStep, awm.StepRatio, awm.DiversityAtReach, fg.DiversityAtReach)
	}
	md := rep.Markdown()
	if !strings.Contains(md, "Reach threshold: none: Flow-GRPO") || strings.Contains(md, "NaN") {
		t.Errorf("compare.md does not say there is no threshold:\n%s", md)
	}
	js, _ := os.ReadFile(filepath.Join(dir, CompareJSONFile))
	if !strings.Contains(string(js), `"threshold": null`) {
		t.Errorf("compare.json threshold is not null:\n%s", js)
	}
}

// With one seed per prompt an evaluation has no spread between seeds, so diversity is 0 for the
// base and every run: the collapse check is undefined, and the report says so instead of
// printing a ratio of 0 (which would read as a collapse) or NaN.
func TestCompareReportOneSeedHasNoDiversityRatio(t *testing.T) {
	rep, dir := awmVsFlowGRPO(t, []float64{0.2, 0.3, 0.4}, []float64{0.2, 0.3, 0.35}, []float64{0, 0, 0}, 0.01)
	for _, a := range rep.Algos {
		if !math.IsNaN(a.DiversityAtReach) {
			t.Errorf("%s: diversity at reach %v with no spread between seeds, want none (NaN)", a.Algo, a.DiversityAtReach)
		}
	}
	md := rep.Markdown()
	if !strings.Contains(md, "| – (one seed per prompt) |") || strings.Contains(md, "NaN") || strings.Contains(md, "| 0.000 |") {
		t.Errorf("compare.md does not mark the diversity as undefined:\n%s", md)
	}
	js, _ := os.ReadFile(filepath.Join(dir, CompareJSONFile))
	if !strings.Contains(string(js), `"diversity_at_reach": null`) {
		t.Errorf("compare.json diversity_at_reach is not null:\n%s", js)
	}
}

// When Flow-GRPO's rise is smaller than the spread between its seeds, a threshold on it would be
// noise: the report refuses it, and with it every ratio, though AWM's curve passes where the
// threshold would have been. It says why, with the interval.
func TestCompareReportReferenceGainWithinNoise(t *testing.T) {
	// Flow-GRPO's paired changes at its peak (step 8): +0.03 − 0.05, +0.03, +0.03 + 0.05.
	rep, _ := awmVsFlowGRPO(t, []float64{0.2, 0.3, 0.4}, []float64{0.2, 0.21, 0.23}, []float64{1, 1, 1}, 0.05)
	if !math.IsNaN(rep.Threshold) {
		t.Fatalf("threshold %v: want none, Flow-GRPO's gain is within noise", rep.Threshold)
	}
	if pg := rep.ReferencePeakGain; pg == nil || !pg.WithinNoise || pg.Step != 8 || math.Abs(pg.Mean-0.03) > 1e-9 {
		t.Fatalf("reference peak gain %+v: want +0.03 at step 8, within noise", pg)
	}
	for _, a := range rep.Algos {
		if a.ReachStep != -1 || a.StepRatio != 0 || a.TimeRatio != 0 {
			t.Errorf("%s: reach %d, ratios %v/%v: want none", a.Algo, a.ReachStep, a.StepRatio, a.TimeRatio)
		}
	}
	md := rep.Markdown()
	for _, want := range []string{"Reach threshold: none: Flow-GRPO's paired change at its peak (step 8, +0.0300) is within noise",
		"contains zero"} {
		if !strings.Contains(md, want) {
			t.Errorf("compare.md lacks %q:\n%s", want, md)
		}
	}
	if ratio := regexp.MustCompile(`[0-9]\.[0-9]{2}×`).FindString(md); ratio != "" {
		t.Errorf("compare.md prints a ratio, %s:\n%s", ratio, md)
	}
}

// A flag given on the command line wins over the comparison's default for the same key, though
// the flag is spelled eval-prompts and the default eval_prompts.
func TestCompareFlagsOverrideItsDefaults(t *testing.T) {
	c := &Comparison{Algos: []string{"ram", "flowgrpo"}, Seeds: 2, Overrides: map[string]string{
		"eval-prompts": "1", "eval-seeds": "128", "eval_every": "4", "awm.kl-beta": "0.5"}}
	for k := 0; k < c.Seeds; k++ {
		cfg, err := c.config("awm", k)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.EvalPrompts != 1 || cfg.EvalSeeds != 128 || cfg.EvalEvery != 4 || cfg.AWM.KLBeta != 0.5 {
			t.Errorf("seed %d: eval prompts %d, seeds %d, every %d, awm kl_beta %v: want the flags' 1, 128, 4, 0.5",
				k, cfg.EvalPrompts, cfg.EvalSeeds, cfg.EvalEvery, cfg.AWM.KLBeta)
		}
		if cfg.Task != CompareDefaults["task"] || cfg.Steps != 16 || cfg.CFG != 1 || cfg.EvalCFG != 1 || cfg.Seed != uint64(1+k) {
			t.Errorf("seed %d: task %q, steps %d, cfg %g, eval cfg %g, seed %d: want the comparison's defaults",
				k, cfg.Task, cfg.Steps, cfg.CFG, cfg.EvalCFG, cfg.Seed)
		}
	}
}

func TestCompareRejectsBadLists(t *testing.T) {
	base := Comparison{Seeds: 3, OutDir: t.TempDir(), World: &world.World{}, Tok: world.NewTokenizer(0),
		NewModel: func() (*diffusion.Model, string, error) { return nil, "", nil }}
	for _, tc := range []struct {
		algos []string
		seeds int
		ov    map[string]string
		want  string
	}{
		{[]string{"awm", "ram"}, 3, nil, "must include flowgrpo"},
		{[]string{"awm", "sac", "flowgrpo"}, 3, nil, `unknown algorithm "sac" (valid: awm, ram, flowgrpo, nft)`},
		{[]string{"awm", "awm", "flowgrpo"}, 3, nil, "listed twice"},
		{[]string{"awm", "flowgrpo"}, 0, nil, "seeds must be at least 1"},
		{[]string{"awm", "flowgrpo"}, 3, map[string]string{"algo": "ram"}, "-algo does not apply"},
	} {
		c := base
		c.Algos, c.Seeds, c.Overrides = tc.algos, tc.seeds, tc.ov
		_, err := c.Run(context.Background())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v seeds %d: error %v, want it to contain %q", tc.algos, tc.seeds, err, tc.want)
		}
	}
}

// End to end on the tiny model: two algorithms × two seeds train, the report covers them all,
// and running the same comparison again trains nothing new.
func TestCompareEndToEndAndContinue(t *testing.T) {
	if testing.Short() {
		t.Skip("trains four tiny runs")
	}
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "tiny.yaml")
	y, _ := tinyConfig("ram").YAML()
	if err := os.WriteFile(cfgPath, y, 0o644); err != nil {
		t.Fatal(err)
	}
	tok := world.NewTokenizer(0)
	models := 0
	c := &Comparison{Algos: []string{"ram", "flowgrpo"}, Seeds: 2, ConfigPath: cfgPath, OutDir: filepath.Join(dir, "cmp"),
		Overrides: map[string]string{"steps": "2"}, World: sharedWorld(t), Tok: tok, Log: zerolog.Nop(), Device: "cpu",
		ExtraRewards: map[string]reward.Reward{"brightness": rewardtest.Brightness{}},
		NewModel: func() (*diffusion.Model, string, error) {
			models++
			return tinyModel(t, tok), "tiny test model", nil
		}}
	rep, err := c.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if models != 4 || !rep.Complete || len(rep.Algos) != 2 || rep.Budget.Steps != 2 {
		t.Fatalf("models built %d, complete %v, algos %d, steps %d", models, rep.Complete, len(rep.Algos), rep.Budget.Steps)
	}
	for _, a := range rep.Algos {
		if a.Completed != 2 || len(a.EvalSteps) != 2 || a.EvalSteps[1] != 2 {
			t.Fatalf("%s: %d runs, eval steps %v", a.Algo, a.Completed, a.EvalSteps)
		}
		if math.Abs(a.Mean[0]-rep.BaseEval) > 1e-12 {
			t.Fatalf("%s's step-0 evaluation %v is not the base model's %v", a.Algo, a.Mean[0], rep.BaseEval)
		}
	}
	if files, _ := filepath.Glob(filepath.Join(c.OutDir, BaseEvalDir, "base-eval-*.bin")); len(files) != 1 {
		t.Fatalf("the runs should share one stored base evaluation, found %v", files)
	}
	seeds := map[uint64]bool{}
	for _, algo := range c.Algos {
		for k := 0; k < 2; k++ {
			cfg, err := resolveConfig(filepath.Join(c.runDir(algo, k), ConfigFile), nil, c.ExtraRewards)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Algo != algo || cfg.Steps != 2 || cfg.Prompts != tinyConfig("").Prompts {
				t.Fatalf("%s seed %d ran with algo %s, %d steps, %d prompts", algo, k, cfg.Algo, cfg.Steps, cfg.Prompts)
			}
			seeds[cfg.Seed] = true
		}
	}
	if len(seeds) != 2 {
		t.Fatalf("seeds used: %v, want two distinct", seeds)
	}
	stamp := func() time.Time {
		st, err := os.Stat(filepath.Join(c.runDir("ram", 1), MetricsFile))
		if err != nil {
			t.Fatal(err)
		}
		return st.ModTime()
	}
	before := stamp()
	if _, err := c.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if models != 4 || !stamp().Equal(before) {
		t.Fatalf("re-running a finished comparison trained again (models built %d)", models)
	}
	if md, _ := os.ReadFile(filepath.Join(c.OutDir, CompareTableFile)); !strings.Contains(string(md), fmt.Sprintf("| %s |", "ram")) {
		t.Fatalf("compare.md:\n%s", md)
	}
}

// The gain's t-interval over seeds: three seeds of paired changes 0.10, 0.12, 0.14 give mean 0.12,
// standard error 0.02/√3 and the interval 0.12 ± 4.302653·0.011547, which excludes zero; changes
// of 0.05, −0.02, 0.03 give an interval that contains it.
func TestGainInterval(t *testing.T) {
	curve := func(d float64) *runCurve {
		return &runCurve{steps: []int{0, 4, 8}, reward: []float64{0.3, 0.3 + d/2, 0.3 + d}}
	}
	g := gainOf([]*runCurve{curve(0.10), curve(0.12), curve(0.14)}, 8)
	se := 0.02 / math.Sqrt(3)
	half := 4.302652730 * se
	checks := []struct {
		what      string
		got, want float64
	}{{"mean", g.Mean, 0.12}, {"stderr", g.StdErr, se}, {"low", *g.CILow, 0.12 - half}, {"high", *g.CIHigh, 0.12 + half},
		{"t", g.T, 0.12 / se}}
	for _, c := range checks {
		if math.Abs(c.got-c.want) > 1e-8 {
			t.Errorf("%s = %.10f, want %.10f", c.what, c.got, c.want)
		}
	}
	if g.WithinNoise {
		t.Error("an interval of [0.07, 0.17] reported as within noise")
	}
	if g := gainOf([]*runCurve{curve(0.05), curve(-0.02), curve(0.03)}, 8); !g.WithinNoise || *g.CILow >= 0 {
		t.Errorf("changes 0.05, -0.02, 0.03: interval [%g, %g], within noise %v; want it to contain 0", *g.CILow, *g.CIHigh, g.WithinNoise)
	}
	if g := gainOf([]*runCurve{curve(0.2)}, 8); !g.WithinNoise || g.CILow != nil {
		t.Errorf("one seed: %+v; want no interval and within noise", *g)
	}
}

// Student-t quantiles against published table values.
func TestTQuantile(t *testing.T) {
	for _, c := range []struct {
		p    float64
		df   int
		want float64
	}{{0.975, 1, 12.7062047}, {0.975, 2, 4.3026527}, {0.975, 5, 2.5705818}, {0.975, 10, 2.2281389},
		{0.975, 30, 2.0422725}, {0.95, 3, 2.3533634}, {0.995, 4, 4.6040949}, {0.025, 2, -4.3026527}, {0.975, 1000, 1.9623391}} {
		if got := tQuantile(c.p, c.df); math.Abs(got-c.want) > 1e-6*math.Abs(c.want) {
			t.Errorf("t quantile %g with %d df = %.7f, want %.7f", c.p, c.df, got, c.want)
		}
	}
}

// A run given only a config that names prompt files (as each run of a comparison is) trains on
// the file's prompts and evaluates on the held-out file's, not on the task's lists.
func TestConfigPromptFilesReachTheRun(t *testing.T) {
	dir := t.TempDir()
	train, held := filepath.Join(dir, "train.txt"), filepath.Join(dir, "held.txt")
	trainPrompts := []string{"a red circle", "two blue squares"}
	if err := os.WriteFile(train, []byte(strings.Join(trainPrompts, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(held, []byte("a green triangle\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := tinyConfig("ram")
	cfg.PromptsFile, cfg.EvalPromptsFile, cfg.Steps, cfg.EvalPrompts = train, held, 2, 1
	out := filepath.Join(dir, "run")
	if _, err := newTinyTrainer(t, cfg, out).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	trained := 0
	for _, rec := range readMetrics(t, out) {
		if rec["kind"] != "train" {
			continue
		}
		for _, p := range rec["prompts"].([]any) {
			trained++
			if !slices.Contains(trainPrompts, p.(string)) {
				t.Errorf("step %v trained on %q, which is not in %s", rec["step"], p, train)
			}
		}
	}
	if trained == 0 {
		t.Fatal("no training prompts recorded")
	}
	rows, err := os.ReadFile(filepath.Join(out, GridPromptsFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(rows), "a green triangle") {
		t.Errorf("%s does not list the held-out file's prompt:\n%s", GridPromptsFile, rows)
	}
}

// The evaluation says what its prompts are: a task's split is held out, a prompt file with no
// evaluation file of its own is evaluated on its training prompts, and a separate file is held
// out again. Both the run's summary and a comparison's report carry it.
func TestEvaluationSaysWhetherItsPromptsWereTrainedOn(t *testing.T) {
	dir := t.TempDir()
	extra := map[string]reward.Reward{"brightness": rewardtest.Brightness{}}
	train, held := filepath.Join(dir, "train.txt"), filepath.Join(dir, "held.txt")
	if err := os.WriteFile(train, []byte("a red circle\ntwo blue squares\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(held, []byte("a green triangle\ntwo blue squares\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, prompts, eval string
		evalPrompts, seen   int
		label               string
	}{
		{"task", "", "", 2, 0, "held-out"},
		{"file on itself", train, "", 2, 2, "training-prompt"},
		{"separate file", train, held, 2, 1, "partly held-out (1 of 2 prompts trained on)"},
		{"separate file, first prompt", train, held, 1, 0, "held-out"},
	} {
		cfg := tinyConfig("ram")
		cfg.PromptsFile, cfg.EvalPromptsFile, cfg.Steps, cfg.EvalPrompts = c.prompts, c.eval, 1, c.evalPrompts
		out := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-"))
		s, err := newTinyTrainer(t, cfg, out).Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if s.EvalPrompts != c.evalPrompts || s.EvalSeen != c.seen {
			t.Errorf("%s: summary says %d of %d evaluation prompts trained on, want %d of %d", c.name, s.EvalSeen, s.EvalPrompts, c.seen, c.evalPrompts)
		}
		if got := EvalLabel(s.EvalSeen, s.EvalPrompts); got != c.label {
			t.Errorf("%s: label %q, want %q", c.name, got, c.label)
		}
		rcfg, err := resolveConfig(filepath.Join(out, ConfigFile), nil, extra)
		if err != nil {
			t.Fatal(err)
		}
		if got := evalLabelOf(rcfg); got != c.label {
			t.Errorf("%s: the label from the config's prompt files %q, want %q", c.name, got, c.label)
		}
		rc, _, err := readRun(out, "brightness", extra)
		if err != nil {
			t.Fatal(err)
		}
		if rc.eval != c.label {
			t.Errorf("%s: the label from the eval records %q, want %q", c.name, rc.eval, c.label)
		}
	}
	// The records say it without the prompt files, which a comparison read later may not have.
	for _, f := range []string{train, held} {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "separate-file")
	rc, cfg, err := readRun(out, "brightness", extra)
	if err != nil {
		t.Fatal(err)
	}
	if want := "partly held-out (1 of 2 prompts trained on)"; rc.eval != want {
		t.Errorf("with the prompt files gone, the eval records' label is %q, want %q", rc.eval, want)
	}
	if got := evalLabelOf(cfg); got != "" {
		t.Errorf("with the prompt files gone, the config gives the label %q; the test no longer shows why the records carry it", got)
	}
}
