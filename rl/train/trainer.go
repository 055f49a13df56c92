package train

// The fine-tuning loop: per step, P training prompts × G rollouts (scored while the next group
// samples), group-relative advantages, the algorithm's loss accumulated over micro-batches, one
// clipped AdamW step on the policy's LoRA adapter and the lagged-adapter updates; held-out
// evaluation at step 0, every EvalEvery steps and at the end; checkpoints of the whole state.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/flowtune/flowtune/diffusion"
	"github.com/flowtune/flowtune/diffusion/world"
	"github.com/flowtune/flowtune/nn"
	"github.com/flowtune/flowtune/rl"
	"github.com/flowtune/flowtune/rl/reward"
	"github.com/flowtune/flowtune/tensor"
)

// Trainer runs one fine-tuning job and writes its run directory:
//
//	config.yaml             the resolved config
//	metrics.jsonl           one JSON object per step ("kind":"train") and per evaluation ("kind":"eval")
//	summary.json            base and final held-out rewards with their noise, wall time
//	reward_curve.png        held-out and training reward against the step; below, KL and diversity
//	samples_step<N>.png     captioned evaluation samples after step N (fixed prompts and seeds)
//	samples_base.png        the same as samples_step0.png: the base model
//	samples_final.png       the same as the last step's: the fine-tuned model
//	samples_prompts.txt     the prompts of the sample grids' rows
//	adapters.safetensors    the trained LoRA adapter
//	checkpoint.safetensors  the whole training state (for Resume)
//
// docs/run-directory.md describes every file.
type Trainer struct {
	Cfg Config
	// The model: either Pipeline (any text-to-image model, e.g. SD3 with its VAE and prompt
	// embeddings), or Model and Tok (flowtune's built-in model). The trainer adds the adapters
	// to the bare base model.
	Pipeline Pipeline
	Model    *diffusion.Model
	Tok      *world.Tokenizer
	// The prompts: either Prompts (prompt files), or World and the config's task.
	Prompts  *PromptSet
	World    *world.World
	OutDir   string
	Log      zerolog.Logger
	BaseName string // how summary.json and the adapter file name the base model
	// Resume continues from OutDir's checkpoint instead of starting afresh.
	Resume bool
	// BaseEvalDir, when set, is where runs that share a base model share its step-0 evaluation
	// images (baseeval.go; built-in model only): a comparison's runs sample them once.
	BaseEvalDir string
	// ExtraRewards are rewards usable by name besides the registered ones (synthetic rewards
	// in tests).
	ExtraRewards map[string]reward.Reward
	// Phase, when set, is called as each phase of a step begins and the function it returns as
	// the phase ends: step, inside it rollout (sample and decode per group), advantage and train
	// (loss and backward per micro-batch, then optimizer), and eval. Phases nest. cmd/finetune
	// passes cuda.Range, so that nsys shows the phases as NVTX ranges, and with -phase-table a
	// cuda.PhaseTable's Range as well.
	Phase func(name string) (end func())
	// BeforeStep, when set, is called with the number of each step before it runs, and with
	// Cfg.Steps+1 when training ends (cmd/finetune's -profile-steps brackets steps with it).
	BeforeStep func(step int)

	afterStep     func(step int)         // test hook, after a step's records and checkpoint
	remoteOptions reward.RemoteOptions   // test hook: base options of remote rewards (backoff); the config sets timeout and attempts
	lossFault     func(step int) bool    // test hook: true turns the step's loss into NaN
	memAvailable  func() (float64, bool) // test hook: the memory available (default: the machine's)
}

// Files of the run directory.
const (
	ConfigFile     = "config.yaml"
	MetricsFile    = "metrics.jsonl"
	SummaryFile    = "summary.json"
	CurveFile      = "reward_curve.png"
	AdaptersFile   = "adapters.safetensors"
	CheckpointFile = "checkpoint.safetensors"
)

// runFile reports whether name is one of the files a run writes into its directory (each
// atomically): the fixed ones and the sample grids.
func runFile(name string) bool {
	switch name {
	case ConfigFile, MetricsFile, SummaryFile, CurveFile, AdaptersFile, CheckpointFile:
		return true
	}
	return strings.HasPrefix(name, "samples_")
}

// ErrInterrupted is returned (wrapped) when the context is cancelled: the state was saved and
// the run can be resumed.
var ErrInterrupted = errors.New("interrupted")

// ErrReward is returned (wrapped) when a reward cannot be computed: a remote reward's server
// cannot be reached at the start, or scoring fails (after the client's retries) during a step or
// an evaluation. In the latter cases the run saved a checkpoint it can be resumed from.
var ErrReward = errors.New("reward failed")

// rewardError marks err as a reward failure (errors.Is(e, ErrReward)) without changing its text.
type rewardError struct{ err error }

func (e *rewardError) Error() string   { return e.err.Error() }
func (e *rewardError) Unwrap() []error { return []error{ErrReward, e.err} }

func rewardFailure(err error) error { return &rewardError{err} }

// Run trains until Cfg.Steps steps are done, or ctx is cancelled (then it finishes the current
// step, abandons an evaluation in progress, saves a checkpoint and returns an error wrapping
// ErrInterrupted; a resumed run repeats the abandoned evaluation first). A non-finite loss or gradient stops the run
// with an error and leaves the last checkpoint as it was. A reward that cannot be computed (a
// remote reward's server down after the retries) stops the run with an error wrapping
// ErrReward after saving a checkpoint: of the state before the failed step, or after the step
// whose evaluation failed; resuming repeats exactly what the uninterrupted run would have done.
func (t *Trainer) Run(ctx context.Context) (*Summary, error) {
	r, err := t.setup()
	if err != nil {
		return nil, err
	}
	defer r.lock.unlock()
	cfg := t.Cfg
	if err := r.pendingEval(ctx); err != nil {
		return r.stop(err)
	}
	for r.st.Step < cfg.Steps {
		if ctx.Err() != nil {
			return r.interrupted()
		}
		start := r.stepStart()
		if t.BeforeStep != nil {
			t.BeforeStep(r.st.Step + 1)
		}
		if err := r.trainStep(); err != nil {
			if errors.Is(err, ErrReward) {
				r.rewind(start)
			}
			return r.stop(err)
		}
		step := r.st.Step
		if r.evalDue(step) {
			end := r.phase("eval")
			err := r.evalAndRecord(ctx, step, r.gridName(step))
			end()
			if err != nil {
				return r.stop(err)
			}
		}
		if step == cfg.Steps || cfg.CheckpointEvery > 0 && step%cfg.CheckpointEvery == 0 {
			if err := r.saveCheckpoint(); err != nil {
				return nil, err
			}
		}
		if t.afterStep != nil {
			t.afterStep(step)
		}
	}
	if t.BeforeStep != nil {
		t.BeforeStep(cfg.Steps + 1)
	}
	if err := r.saveAdapters(); err != nil {
		return nil, err
	}
	s := r.summary(true)
	if err := r.writeSummary(s); err != nil {
		return nil, err
	}
	t.Log.Info().Int("steps", r.st.Step).Float64("wall_s", s.WallSeconds).Str("dir", t.OutDir).Msg("done")
	return s, nil
}

// evalDue reports whether the held-out evaluation runs after step (0: the base model).
func (r *run) evalDue(step int) bool {
	return step == 0 || step == r.cfg.Steps || r.cfg.EvalEvery > 0 && step%r.cfg.EvalEvery == 0
}

// gridName is the sample grid an evaluation at step saves, if any.
func (r *run) gridName(step int) string {
	switch step {
	case 0:
		return BaseGridFile
	case r.cfg.Steps:
		return FinalGridFile
	}
	return ""
}

// pendingEval runs the evaluation of the step the run starts from, when it is due and its record
// is missing: the base model's at step 0, or one whose reward failed before a resume. The
// checkpoint is then saved again so that it holds the record.
func (r *run) pendingEval(ctx context.Context) error {
	step := r.st.Step
	if !r.evalDue(step) || r.hasEval(step) {
		return nil
	}
	if err := r.evalAndRecord(ctx, step, r.gridName(step)); err != nil {
		return err
	}
	if step > 0 {
		return r.saveCheckpoint()
	}
	return nil
}

// stepState is what a training step changes before its rewards are known: the data cursor and
// the noise streams (the training stream is drawn only after the rewards, but is kept all the
// same), and the records.
type stepState struct {
	cursor               cursorState
	rolloutRNG, trainRNG tensor.RNG
	records              int
}

func (r *run) stepStart() stepState {
	return stepState{cursor: r.st.Cursor, rolloutRNG: r.st.RolloutRNG, trainRNG: r.st.TrainRNG, records: len(r.st.Metrics)}
}

// rewind puts the state back to the start of a step that failed before updating the weights.
// r.rolloutRNG, r.trainRNG and the cursor point into r.st, so they follow.
func (r *run) rewind(s stepState) {
	r.st.Cursor, r.st.RolloutRNG, r.st.TrainRNG = s.cursor, s.rolloutRNG, s.trainRNG
	r.st.Metrics = r.st.Metrics[:s.records]
}

// interrupted ends Run after ctx was cancelled, between steps or during an evaluation (whose
// record is then missing, so the resumed run evaluates first): it saves a checkpoint and the
// partial summary.
func (r *run) interrupted() (*Summary, error) {
	if err := r.saveCheckpoint(); err != nil {
		return nil, err
	}
	r.t.Log.Warn().Int("step", r.st.Step).Str("resume", "-resume "+r.t.OutDir).Msg("interrupted: checkpoint saved")
	s := r.summary(false)
	if err := r.writeSummary(s); err != nil {
		return nil, err
	}
	return s, fmt.Errorf("%w at step %d of %d; checkpoint saved in %s", ErrInterrupted, r.st.Step, r.cfg.Steps, r.t.OutDir)
}

// stop ends Run with err. An interruption (ctx cancelled during an evaluation) ends it as
// interrupted does. A reward failure first saves a checkpoint of the current state (the caller
// has made it consistent) and the partial summary, and says how to continue.
func (r *run) stop(err error) (*Summary, error) {
	if errors.Is(err, ErrInterrupted) {
		return r.interrupted()
	}
	if !errors.Is(err, ErrReward) {
		return nil, err
	}
	dir := r.t.OutDir
	if serr := r.saveCheckpoint(); serr != nil {
		return nil, fmt.Errorf("%w; saving a checkpoint failed too: %v", err, serr)
	}
	s := r.summary(false)
	if serr := r.writeSummary(s); serr != nil {
		return nil, fmt.Errorf("%w; the checkpoint at step %d was saved, but not the summary: %v", err, r.st.Step, serr)
	}
	fix := "fix the reward, then"
	switch {
	case errors.Is(err, reward.ErrServerDown):
		fix = "start the server again (or wait until it is less busy), then"
	case errors.Is(err, reward.ErrRejected):
		fix = "the server rejects what this run sends, so resuming as it is fails the same way: make the run and the server fit " +
			"(the task's prompts and the server's reward, the token, the server's limits: the message says which), then"
	case errors.Is(err, reward.ErrBadAnswer):
		fix = "the server's answers are unusable: fix the server, then"
	}
	r.t.Log.Error().Err(err).Int("step", r.st.Step).Str("resume", "-resume "+dir).Msg("reward failed: checkpoint saved")
	return s, fmt.Errorf("%w; the checkpoint at step %d was saved — %s continue with -resume %s", err, r.st.Step, fix, dir)
}

// scoreFailure marks a scoring error of rw as a reward failure; where says what was scored
// ("" for nothing to add). A remote reward's errors already name the reward and its server.
func (rw namedReward) scoreFailure(err error, where string) error {
	var re *reward.RemoteError
	if errors.As(err, &re) {
		return rewardFailure(err)
	}
	if where != "" {
		where = " " + where
	}
	return rewardFailure(fmt.Errorf("reward %s%s: %w", rw.name, where, err))
}

// trainStep runs one RL step and records it.
func (r *run) trainStep() error {
	cfg := r.cfg
	step := r.st.Step // completed steps; this is step+1
	t0 := time.Now()
	endStep := r.phase("step")
	defer func() { endStep() }()
	drawn := r.cursor.nextOf(cfg.Prompts, r.set.Train)
	prompts := promptTexts(drawn)
	end := r.phase("rollout")
	b, tm, err := r.rollout(drawn)
	end()
	if err != nil {
		return fmt.Errorf("step %d: %w", step+1, err)
	}

	t1 := time.Now()
	end = r.phase("advantage")
	weights := map[string]float64{}
	for _, rw := range r.rewards {
		weights[rw.name] = rw.weight
	}
	total, err := rl.WeightedRewards(b.scores, weights)
	if err != nil {
		return err
	}
	if err := checkTotals(step+1, total); err != nil {
		return err
	}
	keys := make([]string, len(total))
	for i := range keys {
		keys[i] = fmt.Sprint(i / cfg.Group) // one group per drawn prompt
	}
	adv, ast, err := rl.Advantages(total, keys, cfg.advantageConfig())
	if err != nil {
		return fmt.Errorf("step %d: %w", step+1, err)
	}
	b.adv = adv
	end()
	tm.advantage = time.Since(t1).Seconds()

	t2 := time.Now()
	end = r.phase("train")
	defer func() { end() }()
	nn.ZeroGrads(r.pol.Net)
	terms, err := r.algo.train(b)
	if err == nil && r.t.lossFault != nil && r.t.lossFault(step+1) {
		terms["loss"] = math.NaN()
	}
	if err == nil && !finite(terms["loss"]) {
		err = fmt.Errorf("loss is %v", terms["loss"])
	}
	var gnorm float64
	endOpt := r.phase("optimizer")
	if err == nil {
		gnorm = nn.GradNorm(r.opt.Params())
		if !finite(gnorm) {
			err = fmt.Errorf("gradient norm is %v", gnorm)
		}
	}
	if err != nil {
		kept := "no checkpoint has been written yet"
		if r.savedStep >= 0 {
			kept = fmt.Sprintf("the last good checkpoint (step %d) is kept in %s", r.savedStep, filepath.Join(r.t.OutDir, CheckpointFile))
		}
		endOpt()
		return fmt.Errorf("step %d: %w; stopped without updating the weights; %s (a lower lr may help)", step+1, err, kept)
	}
	// A Flow-GRPO step whose advantages are all zero trained nothing, and the reference takes no
	// optimiser step then (docs/algorithms.md §2.3).
	if kept, ok := terms["kept_frac"]; !ok || kept > 0 {
		r.opt.StepNorm(gnorm) // gnorm is GradNorm(r.opt.Params()), computed above
	}
	nn.ZeroGrads(r.pol.Net)
	r.algo.afterStep(step + 1)
	r.updateEvalEMA(step + 1)
	endOpt()
	tm.train = time.Since(t2).Seconds()
	tm.step = time.Since(t0).Seconds()
	r.stepTimes = append(r.stepTimes, tm.step)
	r.st.Step = step + 1

	rec := trainRecord{Kind: "train", Step: step + 1, Reward: map[string]float64{}, RewardTotal: ast.RewardMean,
		RewardStd: ast.RewardStd, Loss: terms["loss"], KL: terms["kl"], Terms: terms, ZeroSpread: ast.ZeroSpreadFrac,
		ClippedFrac: ast.ClippedFrac, GradNorm: gnorm, Prompts: prompts, Time: tm.record()}
	for name, s := range b.scores {
		rec.Reward[name] = mean(s)
	}
	if err := r.appendRecord(rec); err != nil {
		return err
	}
	r.logStep(rec, tm)
	return nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// phase opens the Trainer's Phase range for name (a no-op without one).
func (r *run) phase(name string) (end func()) {
	if r.t.Phase == nil {
		return func() {}
	}
	return r.t.Phase(name)
}
