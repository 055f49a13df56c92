package diffusion

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/flowtune/flowtune/diffusion/world"
	"github.com/flowtune/flowtune/internal/plot"
	"github.com/flowtune/flowtune/nn"
	"github.com/flowtune/flowtune/tensor"
)

// PretrainConfig drives base-model pretraining on the built-in world.
type PretrainConfig struct {
	Steps         int     `json:"steps"`
	StopAfter     int     `json:"stop_after,omitempty"` // stop after this many steps of the Steps-long schedule (0: Steps)
	Batch         int     `json:"batch"`
	LR            float64 `json:"lr"`
	WarmupSteps   int     `json:"warmup_steps"`
	MinLRFraction float64 `json:"min_lr_fraction"` // cosine decay ends at LR·this
	WeightDecay   float64 `json:"weight_decay"`
	GradClip      float64 `json:"grad_clip"`
	EMADecay      float64 `json:"ema_decay"`
	EmptyPrompt   float64 `json:"empty_prompt_prob"` // caption dropped → learns the unconditional velocity (CFG)
	LogitMean     float64 `json:"logit_mean"`        // σ = sigmoid(u), u ~ N(mean, std²) (SD3)
	LogitStd      float64 `json:"logit_std"`
	SampleEvery   int     `json:"sample_every"` // sample-grid PNG every N steps (0: only at the end)
	SaveEvery     int     `json:"save_every"`   // checkpoint every N steps (0: only at the end)
	LogEvery      int     `json:"log_every"`
	Seed          uint64  `json:"seed"`

	// TimeBudgetS, when > 0, fits the schedule to a wall-clock budget: after budgetProbeSteps
	// steps the run measures its seconds per step and shortens Steps (an upper bound then) so
	// that the whole cosine schedule ends within the budget. Every budgetReplanSteps steps it
	// measures again (the mean rate since the probe began) and moves the end when it is off by
	// more than 1%, so other jobs starting on the machine later cannot push it past the budget.
	// Every plan is logged; a run that was never re-planned is repeated with -steps alone.
	TimeBudgetS float64 `json:"time_budget_s,omitempty"`
}

// budgetProbeSteps is how many steps a time-budgeted run times before fixing its schedule; the
// first budgetSkipSteps of them (start-up, first allocations) are left out of the rate. The plan
// is checked again every budgetReplanSteps steps.
const budgetProbeSteps, budgetSkipSteps, budgetReplanSteps = 30, 5, 100

// DefaultPretrainConfig is stage 1 of the previous shipped base's curriculum (cmd/pretrain
// -recipe small); the current base's recipe sets its shape and schedule by flags.
func DefaultPretrainConfig() PretrainConfig {
	return PretrainConfig{Steps: 5000, Batch: 32, LR: 1e-3, WarmupSteps: 200, MinLRFraction: 0.1,
		WeightDecay: 0, GradClip: 1, EMADecay: 0.999, EmptyPrompt: 0.1, LogitMean: 0, LogitStd: 1,
		SampleEvery: 1000, SaveEvery: 1000, LogEvery: 50, Seed: 1}
}

// Validate reports the first bad field.
func (c PretrainConfig) Validate() error {
	switch {
	case c.Steps < 1 || c.Batch < 1:
		return fmt.Errorf("pretrain config: steps and batch must be ≥ 1 (got %d, %d)", c.Steps, c.Batch)
	case c.StopAfter < 0 || c.StopAfter > c.Steps:
		return fmt.Errorf("pretrain config: stop_after must be in [0, steps=%d] (got %d; 0 runs the whole schedule)", c.Steps, c.StopAfter)
	case !(c.LR > 0):
		return fmt.Errorf("pretrain config: lr must be > 0 (got %g)", c.LR)
	case c.EMADecay < 0 || c.EMADecay >= 1:
		return fmt.Errorf("pretrain config: ema_decay must be in [0,1) (got %g)", c.EMADecay)
	case c.EmptyPrompt < 0 || c.EmptyPrompt > 1:
		return fmt.Errorf("pretrain config: empty_prompt_prob must be in [0,1] (got %g)", c.EmptyPrompt)
	case c.LogitStd <= 0:
		return fmt.Errorf("pretrain config: logit_std must be > 0 (got %g)", c.LogitStd)
	case c.TimeBudgetS < 0 || math.IsNaN(c.TimeBudgetS) || math.IsInf(c.TimeBudgetS, 0):
		return fmt.Errorf("pretrain config: time_budget_s must be a finite number ≥ 0 (got %g; 0: no budget)", c.TimeBudgetS)
	case c.TimeBudgetS > 0 && c.StopAfter > 0:
		return fmt.Errorf("pretrain config: a time budget sets the schedule's length itself; drop stop_after (%d)", c.StopAfter)
	}
	return nil
}

// budgetedSteps is the schedule length that ends a run within budget seconds: done steps took
// elapsed seconds, the rest take perStep each, and 3% of the budget is kept for the final
// checkpoint and sample grid. It never exceeds maxSteps and never stops before done+1.
func budgetedSteps(maxSteps, done int, elapsed, perStep, budget float64) int {
	left := 0.97*budget - elapsed
	n := done + 1
	if perStep > 0 && left > 0 {
		n = max(n, done+int(left/perStep))
	}
	return min(n, maxSteps)
}

// replanMoves says whether a new time-budget plan of n steps differs enough (more than 1%) from
// the current one to move the schedule's end; smaller differences are the rate's jitter.
func replanMoves(cur, n int) bool {
	return math.Abs(float64(n-cur)) > 0.01*float64(cur)
}

// stopStep is the step count the run ends after: StopAfter when set, else Steps.
func (c PretrainConfig) stopStep() int {
	if c.StopAfter > 0 {
		return c.StopAfter
	}
	return c.Steps
}

// lrAt is linear warm-up followed by cosine decay to MinLRFraction·LR.
func (c PretrainConfig) lrAt(step int) float64 {
	if step < c.WarmupSteps {
		return c.LR * float64(step+1) / float64(c.WarmupSteps)
	}
	p := float64(step-c.WarmupSteps) / math.Max(1, float64(c.Steps-c.WarmupSteps))
	return c.LR * (c.MinLRFraction + (1-c.MinLRFraction)*0.5*(1+math.Cos(math.Pi*p)))
}

// emaDecayAt warms the EMA up: min(EMADecay, (1+step)/(10+step)). Without it the average
// keeps the random initialisation's weight for thousands of steps, and interpolating between
// those weights and trained ones gives a broken model (the mid-run sample grids show noise).
func (c PretrainConfig) emaDecayAt(step int) float64 {
	return math.Min(c.EMADecay, float64(1+step)/float64(10+step))
}

// Batch is one pretraining batch: images in [−1,1] and their (tokenised) captions.
type Batch struct {
	X0       []float32 // [B, 3, H, W]
	Captions []string
	Cond     Cond
}

// DrawBatch renders n (image, imperfect caption) pairs from w, dropping a caption to the empty
// prompt with probability pEmpty.
func DrawBatch(w *world.World, tok *world.Tokenizer, n int, pEmpty float64, rng *tensor.RNG) (Batch, error) {
	var b Batch
	imgs := make([]image.Image, 0, n)
	for i := 0; i < n; i++ {
		img, caption := w.Sample(rng)
		if rng.Float64() <= pEmpty {
			caption = ""
		}
		imgs = append(imgs, img)
		b.Captions = append(b.Captions, caption)
	}
	b.X0 = world.BatchToCHW(imgs)
	ids, mask, err := tok.EncodeBatch(b.Captions)
	if err != nil {
		return b, err
	}
	b.Cond = Cond{Tokens: ids, Mask: mask, B: n, L: tok.MaxLen}
	return b, nil
}

// Pretrainer trains a base model with the rectified-flow loss on images rendered on the fly.
type Pretrainer struct {
	Cfg    PretrainConfig
	Model  *Model
	World  *world.World
	Tok    *world.Tokenizer
	OutDir string
	Log    zerolog.Logger

	// SamplePrompts are rendered into the periodic sample grids (fixed seeds).
	SamplePrompts []string

	now func() time.Time // the clock a time budget reads (nil: time.Now; tests set a fake one)
}

// Run trains for Cfg.Steps steps, writing progress lines, sample grids (samples_stepN.png),
// the EMA model (base.safetensors) and a loss log (pretrain_log.jsonl) into OutDir. Cancelling
// ctx stops after the current step and saves.
func (p *Pretrainer) Run(ctx context.Context) (err error) {
	cfg := p.Cfg
	if err := cfg.Validate(); err != nil {
		return err
	}
	if err := os.MkdirAll(p.OutDir, 0o755); err != nil {
		return err
	}
	b := p.Model.Patch.Proj.Weight.Backend()
	params := nn.Trainable(p.Model)
	opt := nn.NewAdamW(params, nn.AdamWConfig{LR: float32(cfg.LR), Beta1: 0.9, Beta2: 0.999, Eps: 1e-8,
		WeightDecay: float32(cfg.WeightDecay), MaxGradNorm: cfg.GradClip})
	ema := nn.NewEMA(nn.NamedParams(p.Model), float32(cfg.EMADecay))

	dataRNG := tensor.NewRNG(cfg.Seed)          // images, captions
	noiseRNG := tensor.NewRNG(cfg.Seed + 1<<32) // σ and ε
	size := p.Model.Cfg.Size

	// Render the next batch while the current one trains.
	type next struct {
		b   Batch
		err error
	}
	queue := make(chan next, 2)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			bt, err := DrawBatch(p.World, p.Tok, cfg.Batch, cfg.EmptyPrompt, dataRNG)
			select {
			case queue <- next{bt, err}:
			case <-stop:
				return
			}
			if err != nil {
				return
			}
		}
	}()

	logPath := filepath.Join(p.OutDir, "pretrain_log.jsonl")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := logFile.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("pretrain: closing %s: %w", logPath, cerr)
		}
	}()

	now := p.now
	if now == nil {
		now = time.Now
	}
	start := now()
	var lossSum float64
	var lossN int
	// The progress line's throughput is that of the steps since the previous line, so that it
	// shows the machine's pace now; the ETA divides by a smoothed version of it (each window
	// weighs 0.3, as tqdm smooths), which follows a change of load within a few lines without
	// jumping at a single slow window (a sample grid, a checkpoint).
	lastLog, lastLogStep, pace := start, 0, 0.0
	var probeStart time.Time
	step := 0
	stopAt := cfg.stopStep()
	maxSteps := cfg.Steps // a time budget's upper bound
	for ; step < stopAt; step++ {
		if cfg.TimeBudgetS > 0 && step == budgetSkipSteps {
			probeStart = now()
		}
		if cfg.TimeBudgetS > 0 && step >= budgetProbeSteps && (step-budgetProbeSteps)%budgetReplanSteps == 0 {
			t := now()
			elapsed := t.Sub(start).Seconds()
			perStep := t.Sub(probeStart).Seconds() / float64(step-budgetSkipSteps)
			n := budgetedSteps(maxSteps, step, elapsed, perStep, cfg.TimeBudgetS)
			if first := step == budgetProbeSteps; first || replanMoves(cfg.Steps, n) {
				cfg.Steps, stopAt = n, n
				ev := p.Log.Info().Int("steps", n).Int("at_step", step).Float64("time_budget_s", cfg.TimeBudgetS).Float64("s_per_step", perStep)
				if first {
					ev.Msgf("time budget: the schedule is now %d steps (rerun it with -steps %d)", n, n)
				} else {
					ev.Msgf("time budget: the machine's pace changed; the schedule now ends at step %d", n)
				}
				if err := writeLogRecord(logFile, map[string]any{"step": step, "budget_steps": n, "elapsed_s": elapsed, "s_per_step": perStep}); err != nil {
					return fmt.Errorf("pretrain: writing %s: %w", logPath, err)
				}
			}
		}
		if ctx.Err() != nil {
			p.Log.Warn().Int("step", step).Msg("interrupted: saving and stopping")
			break
		}
		nx := <-queue
		if nx.err != nil {
			return nx.err
		}
		x0 := tensor.New(b, nx.b.X0, cfg.Batch, 3, size, size)
		eps := noiseRNG.Normal(b, cfg.Batch, 3, size, size)
		sigma := make([]float32, cfg.Batch)
		for i := range sigma {
			sigma[i] = float32(SampleLogitNormal(noiseRNG, cfg.LogitMean, cfg.LogitStd))
		}
		loss := FlowMatchLoss(p.Model, x0, eps, sigma, nx.b.Cond)
		lv := float64(loss.Item())
		if math.IsNaN(lv) || math.IsInf(lv, 0) {
			return fmt.Errorf("pretrain: loss became %v at step %d; the last checkpoint in %s is intact (try a lower -lr)", lv, step, p.OutDir)
		}
		nn.ZeroGrads(p.Model)
		loss.Backward()
		opt.LR = float32(cfg.lrAt(step))
		gnorm := opt.Step()
		ema.Decay = float32(cfg.emaDecayAt(step))
		ema.Update()
		lossSum += lv
		lossN++

		done := step + 1
		if cfg.LogEvery > 0 && done%cfg.LogEvery == 0 || done == stopAt {
			t := now()
			el := t.Sub(start).Seconds()
			rate := 0.0 // steps per second since the previous line
			if win := t.Sub(lastLog).Seconds(); win > 0 {
				rate = float64(done-lastLogStep) / win
				if pace == 0 {
					pace = rate
				} else {
					pace = 0.3*rate + 0.7*pace
				}
			}
			lastLog, lastLogStep = t, done
			eta := "?"
			if pace > 0 {
				eta = time.Duration(float64(stopAt-done) / pace * float64(time.Second)).Round(time.Second).String()
			}
			avg := lossSum / float64(lossN)
			p.Log.Info().Int("step", done).Int("of", stopAt).Float64("loss", avg).
				Float64("grad_norm", gnorm).Float64("lr", float64(opt.LR)).
				Float64("img_per_s", rate*float64(cfg.Batch)).Str("eta", eta).
				Msg("pretrain")
			if err := writeLogRecord(logFile, map[string]any{"step": done, "loss": avg, "grad_norm": gnorm, "lr": opt.LR, "elapsed_s": el}); err != nil {
				return fmt.Errorf("pretrain: step %d: writing %s: %w", done, logPath, err)
			}
			lossSum, lossN = 0, 0
		}
		if cfg.SampleEvery > 0 && done%cfg.SampleEvery == 0 {
			if err := p.saveSamples(ema, fmt.Sprintf("samples_step%d.png", done)); err != nil {
				return err
			}
		}
		if cfg.SaveEvery > 0 && done%cfg.SaveEvery == 0 {
			if err := p.saveEMA(ema, cfg, done); err != nil {
				return err
			}
		}
	}
	// The checkpoint first: a run stopped by a deadline (SIGINT, then a kill) keeps it even if
	// the kill lands during the sample grid.
	if err := p.saveEMA(ema, cfg, step); err != nil {
		return err
	}
	if err := p.saveSamples(ema, "samples_final.png"); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return errors.Join(ctx.Err(), fmt.Errorf("pretraining stopped at step %d of %d; checkpoint saved", step, stopAt))
	}
	return nil
}

// withEMA runs f with the EMA weights loaded into the model, then restores the raw weights.
func (p *Pretrainer) withEMA(ema *nn.EMA, f func() error) error {
	raw := map[string][]float32{}
	p.Model.Params("", func(name string, t *tensor.Tensor) { raw[name] = t.Data() })
	ema.CopyTo()
	defer p.Model.Params("", func(name string, t *tensor.Tensor) { t.SetData(raw[name]) })
	return f()
}

// saveEMA writes the EMA weights with the run's config as it stands (a time budget's chosen
// steps, not the upper bound it was given).
func (p *Pretrainer) saveEMA(ema *nn.EMA, cfg PretrainConfig, step int) error {
	return p.withEMA(ema, func() error {
		cfgJSON, _ := json.Marshal(cfg)
		worldJSON, _ := json.Marshal(p.World.Config()) // the captions and sign fraction of this stage
		return p.Model.Save(filepath.Join(p.OutDir, "base.safetensors"), map[string]string{
			"flowtune.pretrain_config": string(cfgJSON),
			"flowtune.pretrain_world":  string(worldJSON),
			"flowtune.pretrain_step":   fmt.Sprint(step),
		})
	})
}

func (p *Pretrainer) saveSamples(ema *nn.EMA, name string) error {
	if len(p.SamplePrompts) == 0 {
		return nil
	}
	return p.withEMA(ema, func() error {
		imgs, err := SamplePrompts(p.Model, p.Tok, p.SamplePrompts, SampleOptions{PerPrompt: 2, Steps: 20, CFG: 1, Seed: 7})
		if err != nil {
			return err
		}
		var rows [][]*image.RGBA
		for i := range p.SamplePrompts {
			rows = append(rows, imgs[2*i:2*i+2])
		}
		title := fmt.Sprintf("pretraining, EMA weights, %s (20 ODE steps, seed 7)", strings.TrimSuffix(name, ".png"))
		return SavePNG(filepath.Join(p.OutDir, name), plot.CaptionedGrid(title, rows, p.SamplePrompts, 4))
	})
}

// DefaultSamplePrompts are the prompts of the pretraining sample grids: one per task family.
var DefaultSamplePrompts = []string{
	"two red circles",
	"a blue square above a yellow triangle",
	`a sign that says "K7Q"`,
	"a green triangle",
}

// writeLogRecord appends rec to the log as one JSON line. A value JSON cannot hold (a NaN or
// infinite gradient norm) is an error, not a silently empty line.
func writeLogRecord(w io.Writer, rec map[string]any) error {
	line, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	_, err = w.Write(append(line, '\n'))
	return err
}
