package train

// What a run reports: the per-step and per-evaluation records of metrics.jsonl (kept in the
// checkpoint too, so a resumed run rewrites exactly the records it continues from), the
// progress line, and summary.json.

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"sort"
	"time"

	"github.com/flowtune/flowtune/internal/atomicfile"
)

// trainRecord is one step's line of metrics.jsonl. Everything but Time is a deterministic
// function of the config and seed.
type trainRecord struct {
	Kind        string             `json:"kind"` // "train"
	Step        int                `json:"step"`
	Reward      map[string]float64 `json:"reward"`       // mean rollout reward per reward name
	RewardTotal float64            `json:"reward_total"` // mean of the weighted sum that is normalised
	RewardStd   float64            `json:"reward_std"`   // its std over the step's images
	Loss        float64            `json:"loss"`
	KL          float64            `json:"kl"`    // velocity- or step-space divergence from the base model
	Terms       map[string]float64 `json:"terms"` // the algorithm's loss terms
	ZeroSpread  float64            `json:"zero_spread_frac"`
	ClippedFrac float64            `json:"adv_clipped_frac"`
	GradNorm    float64            `json:"grad_norm"`
	Prompts     []string           `json:"prompts"`
	Time        map[string]float64 `json:"time"` // seconds per phase (not reproducible)
}

// evalRecord is one held-out evaluation's line of metrics.jsonl.
type evalRecord struct {
	Kind      string               `json:"kind"` // "eval"
	Step      int                  `json:"step"`
	Reward    map[string]float64   `json:"reward"`     // mean over prompts × seeds
	Stderr    map[string]float64   `json:"stderr"`     // std / √n over the images
	SeedMeans map[string][]float64 `json:"seed_means"` // the mean of each seed's images
	PerImage  map[string][]float64 `json:"per_image"`  // seed-major: image s·prompts + j
	Diversity float64              `json:"diversity"`  // mean pairwise distance across seeds (see diversity)
	Time      map[string]float64   `json:"time"`
	// Prompts is the number of evaluation prompts and TrainedOn how many of them are also
	// training prompts (EvalLabel), so that a report can name the evaluation from the record
	// alone. Records written before these fields have neither.
	Prompts   int `json:"eval_prompts"`
	TrainedOn int `json:"eval_prompts_trained_on"`
}

// anyRecord reads the fields both kinds share.
type anyRecord struct {
	Kind      string               `json:"kind"`
	Step      int                  `json:"step"`
	Reward    map[string]float64   `json:"reward"`
	Stderr    map[string]float64   `json:"stderr"`
	SeedMeans map[string][]float64 `json:"seed_means"`
	PerImage  map[string][]float64 `json:"per_image"`
	KL        float64              `json:"kl"`        // train records
	Diversity float64              `json:"diversity"` // eval records
}

func (r *run) appendRecord(rec any) error {
	line, err := marshalJSON(rec)
	if err != nil {
		return err
	}
	r.st.Metrics = append(r.st.Metrics, line)
	return r.writeMetrics()
}

// writeMetrics rewrites metrics.jsonl from the records in memory (atomically, so the file
// always matches a prefix of the run).
func (r *run) writeMetrics() error {
	return atomicfile.Write(filepath.Join(r.t.OutDir, MetricsFile), func(w io.Writer) error {
		for _, line := range r.st.Metrics {
			if _, err := w.Write(append(append([]byte(nil), line...), '\n')); err != nil {
				return err
			}
		}
		return nil
	})
}

func (r *run) records() []anyRecord {
	out := make([]anyRecord, 0, len(r.st.Metrics))
	for _, line := range r.st.Metrics {
		var a anyRecord
		if json.Unmarshal(line, &a) == nil {
			out = append(out, a)
		}
	}
	return out
}

func (r *run) hasEval(step int) bool {
	for _, a := range r.records() {
		if a.Kind == "eval" && a.Step == step {
			return true
		}
	}
	return false
}

// logStep prints the step's progress line.
func (r *run) logStep(rec trainRecord, tm phaseTimes) {
	cfg := r.cfg
	ev := r.t.Log.Info().Int("step", rec.Step).Int("of", cfg.Steps)
	for _, rw := range r.rewards {
		ev = ev.Float64("r_"+rw.name, round4(rec.Reward[rw.name]))
	}
	ev = ev.Float64("loss", round4(rec.Loss)).Float64("kl", round4(rec.KL))
	names := make([]string, 0, len(rec.Terms))
	for k := range rec.Terms {
		if k != "loss" && k != "kl" {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	for _, k := range names {
		ev = ev.Float64(k, round4(rec.Terms[k]))
	}
	ev.Float64("zero_spread", round4(rec.ZeroSpread)).Float64("grad_norm", round4(rec.GradNorm)).
		Str("t_rollout", secs(tm.rollout)).Str("t_reward", secs(tm.reward)).Str("t_adv", secs(tm.advantage)).
		Str("t_train", secs(tm.train)).Str("eta", r.eta().String()).Msg("step")
}

// eta extrapolates this process's mean step time and the last evaluation time.
func (r *run) eta() time.Duration {
	left := r.cfg.Steps - r.st.Step
	if len(r.stepTimes) == 0 || left <= 0 {
		return 0
	}
	s := mean(r.stepTimes) * float64(left)
	if e := r.cfg.EvalEvery; e > 0 {
		s += r.evalTime * float64((r.cfg.Steps-1)/e-(r.st.Step)/e)
	}
	s += r.evalTime // the final evaluation
	return time.Duration(s * float64(time.Second)).Round(time.Second)
}

func round4(v float64) float64 {
	if !finite(v) {
		return v
	}
	return math.Round(v*1e4) / 1e4
}

func secs(s float64) string { return fmt.Sprintf("%.2fs", s) }

// Summary is summary.json: the held-out reward of the base model (step 0) and of the last
// evaluation, per reward, with the evaluation's noise.
type Summary struct {
	Algo         string  `json:"algo"`
	Task         string  `json:"task"`
	Base         string  `json:"base_model"`
	Steps        int     `json:"steps"` // completed
	PlannedSteps int     `json:"planned_steps"`
	Completed    bool    `json:"completed"`
	WallSeconds  float64 `json:"wall_seconds"` // over all resumed parts
	EvalImages   int     `json:"eval_images"`  // held-out prompts × seeds
	EvalPrompts  int     `json:"eval_prompts"`
	// EvalSeen is how many of the evaluation prompts are also training prompts: 0 for a task's
	// split, all of them for a prompt file evaluated on itself (then only the noise is new).
	EvalSeen  int                      `json:"eval_prompts_trained_on"`
	EvalNoise string                   `json:"eval_noise"`
	Rewards   map[string]RewardSummary `json:"rewards"`
}

// RewardSummary compares the base model with the fine-tuned one on one reward.
type RewardSummary struct {
	BaseEval    float64 `json:"base_eval"`
	FinalEval   float64 `json:"final_eval"`
	FinalStep   int     `json:"final_step"`
	BaseStderr  float64 `json:"base_stderr"`
	FinalStderr float64 `json:"final_stderr"`
	// Delta is final − base; DeltaStderr its standard error over the image pairs (the same
	// prompt and seed before and after), and DeltaZ their ratio.
	Delta       float64 `json:"delta"`
	DeltaStderr float64 `json:"delta_stderr"`
	DeltaZ      float64 `json:"delta_z"`
	// BaseSeedMeans is the base evaluation split by seed set: their spread is a direct look at
	// how much an evaluation moves with the noise alone.
	BaseSeedMeans []float64 `json:"base_seed_means"`
	TrainFirst    float64   `json:"train_first"` // mean rollout reward of step 1
	TrainLast     float64   `json:"train_last"`  // … of the last step
}

const evalNoiseNote = "stderr = std/sqrt(n) over the n evaluation images; delta_stderr is the standard error of the " +
	"per-image difference final-base (same prompts and noise seeds), delta_z = delta/delta_stderr; " +
	"base_seed_means are the base evaluation's means per seed set"

func (r *run) summary(completed bool) *Summary {
	s := &Summary{Algo: r.cfg.Algo, Task: r.taskName(), Base: r.t.BaseName, Steps: r.st.Step, PlannedSteps: r.cfg.Steps,
		Completed: completed, WallSeconds: r.wallSeconds(), EvalImages: r.eval.images(), EvalNoise: evalNoiseNote,
		EvalPrompts: len(r.eval.prompts), EvalSeen: r.eval.seen,
		Rewards: map[string]RewardSummary{}}
	var base, last *anyRecord
	var firstTrain, lastTrain *anyRecord
	recs := r.records()
	for i := range recs {
		a := &recs[i]
		switch a.Kind {
		case "eval":
			if a.Step == 0 && base == nil {
				base = a
			}
			last = a
		case "train":
			if firstTrain == nil {
				firstTrain = a
			}
			lastTrain = a
		}
	}
	for _, rw := range r.rewards {
		n := rw.name
		var rs RewardSummary
		if base != nil {
			rs.BaseEval, rs.BaseStderr, rs.BaseSeedMeans = base.Reward[n], base.Stderr[n], base.SeedMeans[n]
		}
		if last != nil {
			rs.FinalEval, rs.FinalStderr, rs.FinalStep = last.Reward[n], last.Stderr[n], last.Step
		}
		if base != nil && last != nil {
			rs.Delta = rs.FinalEval - rs.BaseEval
			rs.DeltaStderr = pairedStderr(base.PerImage[n], last.PerImage[n])
			if rs.DeltaStderr > 0 {
				rs.DeltaZ = rs.Delta / rs.DeltaStderr
			}
		}
		if firstTrain != nil {
			rs.TrainFirst, rs.TrainLast = firstTrain.Reward[n], lastTrain.Reward[n]
		}
		s.Rewards[n] = rs
	}
	return s
}

// pairedStderr is the standard error of the mean of b[i] − a[i].
func pairedStderr(a, b []float64) float64 {
	if len(a) != len(b) || len(a) < 2 {
		return 0
	}
	d := make([]float64, len(a))
	for i := range a {
		d[i] = b[i] - a[i]
	}
	return stderr(d)
}

func (r *run) wallSeconds() float64 { return r.st.WallSeconds + time.Since(r.started).Seconds() }

func (r *run) writeSummary(s *Summary) error {
	data, err := marshalJSONIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteBytes(filepath.Join(r.t.OutDir, SummaryFile), append(data, '\n'))
}

// taskName is what the summary calls the prompts: the task, or the prompt file.
func (r *run) taskName() string {
	if r.cfg.PromptsFile != "" {
		return r.cfg.PromptsFile
	}
	return r.cfg.Task
}
