package train

// Held-out evaluation: a fixed list of the task's held-out prompts, each sampled with a fixed
// set of noise seeds by the deterministic Euler ODE under the evaluation weights (an EMA of the
// policy adapter, or the policy itself with eval_ema 0), scored with every configured reward. The same prompts and noise at every evaluation make the curve a paired
// comparison: changes come from the weights, not from the draw.

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"math"
	"time"

	"github.com/flowtune/flowtune/diffusion"
	"github.com/flowtune/flowtune/nn"
	"github.com/flowtune/flowtune/rl"
	"github.com/flowtune/flowtune/tensor"
)

// evalBatch is how many images one sampling call generates.
const evalBatch = 32

type evalSet struct {
	r       *run
	prompts []string
	meta    []json.RawMessage // per prompt, nil when no prompt has metadata
	seen    int               // how many of the prompts are also training prompts
	cond    diffusion.Cond
}

// newEvalSet picks cfg.EvalPrompts held-out prompts evenly spread over the task's list.
func newEvalSet(r *run) (*evalSet, error) {
	held := r.set.HeldOut
	n := r.cfg.EvalPrompts
	if n > len(held) {
		return nil, fmt.Errorf("config: eval_prompts %d exceeds the %d held-out prompts of %s", n, len(held), r.set.Name)
	}
	sel := r.set.EvalPrompts(n)
	e := &evalSet{r: r, seen: r.set.SeenInTraining(sel)}
	e.prompts, e.meta = promptTexts(sel), metadataOf(sel)
	var err error
	if e.cond, err = r.pipe.Encode(e.prompts); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *evalSet) images() int { return len(e.prompts) * e.r.cfg.EvalSeeds }

// sample draws every evaluation image with the current policy, seed-major (image s·n + j is
// prompt j under seed s). Seed s's noise is the stream EvalSeed + s, one draw for all prompts,
// so an image's noise never depends on the batching. A cancelled ctx stops it between batches
// with an error wrapping ErrInterrupted.
func (e *evalSet) sample(ctx context.Context) ([]*image.RGBA, error) {
	cfg := e.r.cfg
	b, lat := e.r.pipe.Backend(), e.r.pipe.Latent()
	grid := diffusion.SigmaGrid(cfg.EvalSteps, diffusion.SD3Shift)
	sampler := diffusion.Guided{Model: e.r.pol.Sampler(e.r.evalAdapter()), Uncond: e.r.uncond, Scale: float32(cfg.EvalCFG)}
	defer e.r.freezeForSampling(e.r.evalAdapter())()
	n := len(e.prompts)
	var out []*image.RGBA
	prog := newProgress(time.Now(), n*cfg.EvalSeeds, evalProgressEvery)
	for s := 0; s < cfg.EvalSeeds; s++ {
		x := tensor.NewRNG(cfg.EvalSeed+uint64(s)).Normal(b, n, lat[0], lat[1], lat[2])
		for lo := 0; lo < n; lo += evalBatch {
			if ctx.Err() != nil {
				return nil, ErrInterrupted
			}
			hi := min(lo+evalBatch, n)
			var xb *tensor.Tensor
			tensor.NoGrad(func() { xb = tensor.Slice(x, 0, lo, hi) })
			out = append(out, e.r.pipe.Images(diffusion.SampleODE(sampler, xb, grid, e.cond.Rows(lo, hi)))...)
			if eta, ok := prog.tick(len(out), time.Now()); ok {
				e.r.t.Log.Info().Int("images", len(out)).Int("of", prog.total).Str("eta", eta.String()).Msg("evaluating")
			}
		}
	}
	return out, nil
}

// evalProgressEvery is how often a long evaluation logs its progress.
const evalProgressEvery = 20 * time.Second

// progress paces the progress lines of a long loop: tick reports, at most once per every and
// never for the last item, the time left at the mean pace so far.
type progress struct {
	start, last time.Time // last: the previous line, or start before the first
	total       int
	every       time.Duration
}

func newProgress(start time.Time, total int, every time.Duration) progress {
	return progress{start: start, last: start, total: total, every: every}
}

func (p *progress) tick(done int, now time.Time) (time.Duration, bool) {
	if done <= 0 || done >= p.total || now.Sub(p.last) < p.every {
		return 0, false
	}
	p.last = now
	left := time.Duration(float64(now.Sub(p.start)) * float64(p.total-done) / float64(done))
	return left.Round(time.Second), true
}

// evalAdapter is the adapter set evaluations sample with: the EMA of the policy when eval_ema > 0
// (docs/algorithms.md §7.3), the policy itself otherwise.
func (r *run) evalAdapter() string {
	if r.cfg.EvalEMA > 0 {
		return rl.EvalAdapter
	}
	return rl.PolicyAdapter
}

// updateEvalEMA moves the evaluation EMA towards the policy after optimizer step s (1-based),
// every eval_ema_every steps, with decay min(eval_ema, (1+s)/(10+s)).
func (r *run) updateEvalEMA(s int) {
	if r.cfg.EvalEMA == 0 || s%r.cfg.EvalEMAEvery != 0 {
		return
	}
	d := min(r.cfg.EvalEMA, float64(1+s)/float64(10+s))
	nn.UpdateAdapterEMA(r.net, rl.EvalAdapter, rl.PolicyAdapter, float32(d))
}

// evalAndRecord evaluates the current evaluation weights (evalAdapter) as step's record, redraws
// the curves and saves the captioned sample grid of the first prompts as samples_step<step>.png,
// and also under gridName when that is not empty (samples_base.png, samples_final.png).
func (r *run) evalAndRecord(ctx context.Context, step int, gridName string) error {
	start := time.Now()
	var imgs []*image.RGBA
	var err error
	shared := false
	if step == 0 && r.baseEvalKey != "" {
		imgs, shared, err = r.baseEvalImages(func() ([]*image.RGBA, error) { return r.eval.sample(ctx) })
	} else {
		imgs, err = r.eval.sample(ctx)
	}
	if err != nil {
		return fmt.Errorf("evaluation at step %d: %w", step, err)
	}
	n := len(r.eval.prompts)
	prompts := make([]string, len(imgs))
	var meta []json.RawMessage
	if r.eval.meta != nil {
		meta = make([]json.RawMessage, len(imgs))
	}
	for i := range prompts {
		prompts[i] = r.eval.prompts[i%n]
		if meta != nil {
			meta[i] = r.eval.meta[i%n]
		}
	}
	rec := evalRecord{Kind: "eval", Step: step, Reward: map[string]float64{}, Stderr: map[string]float64{},
		SeedMeans: map[string][]float64{}, PerImage: map[string][]float64{}, Prompts: n, TrainedOn: r.eval.seen}
	for _, rw := range r.rewards {
		s, err := rw.score(prompts, meta, asImages(imgs))
		if err != nil {
			return fmt.Errorf("evaluation at step %d: %w", step, rw.scoreFailure(err, ""))
		}
		rec.Reward[rw.name], rec.Stderr[rw.name], rec.PerImage[rw.name] = mean(s), stderr(s), s
		for seed := 0; seed < r.cfg.EvalSeeds; seed++ {
			rec.SeedMeans[rw.name] = append(rec.SeedMeans[rw.name], mean(s[seed*n:(seed+1)*n]))
		}
	}
	rec.Diversity = diversity(imgs, n)
	r.evalTime = time.Since(start).Seconds()
	rec.Time = map[string]float64{"eval": r.evalTime}
	if err := r.appendRecord(rec); err != nil {
		return err
	}
	ev := r.t.Log.Info().Int("step", step).Int("images", len(imgs))
	for _, rw := range r.rewards {
		ev = ev.Float64(rw.name, round4(rec.Reward[rw.name])).Float64(rw.name+"_stderr", round4(rec.Stderr[rw.name]))
	}
	ev = ev.Float64("diversity", round4(rec.Diversity)).Str("t_eval", secs(r.evalTime))
	if shared {
		ev = ev.Str("images_from", baseEvalPath(r.t.BaseEvalDir, r.baseEvalKey))
	}
	ev.Msg(r.evalLabel() + " eval")

	if err := r.plotCurve(); err != nil {
		return err
	}
	return r.saveGrids(step, imgs, gridName, rec)
}

// diversity is the collapse check of an evaluation: for each of the n prompts, the mean
// root-mean-square pixel distance (channels in [0, 1]) between its images under different
// noise seeds, averaged over the prompts. imgs is seed-major (image s·n + j is prompt j under
// seed s). A policy that collapses onto one image per prompt drives it towards 0; it is
// reported relative to the base model's value. With a single seed it is 0.
func diversity(imgs []*image.RGBA, n int) float64 {
	if n == 0 || len(imgs) < 2*n {
		return 0
	}
	seeds := len(imgs) / n
	total := 0.0
	for j := 0; j < n; j++ {
		sum, pairs := 0.0, 0
		for a := 0; a < seeds; a++ {
			for b := a + 1; b < seeds; b++ {
				sum += rmsDistance(imgs[a*n+j], imgs[b*n+j])
				pairs++
			}
		}
		total += sum / float64(pairs)
	}
	return total / float64(n)
}

// rmsDistance is the root-mean-square difference of the RGB channels of two equally sized
// images, with channels scaled to [0, 1].
func rmsDistance(a, b *image.RGBA) float64 {
	ss, cnt := 0.0, 0
	for i := 0; i+3 < len(a.Pix) && i+3 < len(b.Pix); i += 4 {
		for c := 0; c < 3; c++ {
			d := (float64(a.Pix[i+c]) - float64(b.Pix[i+c])) / 255
			ss += d * d
			cnt++
		}
	}
	if cnt == 0 {
		return 0
	}
	return math.Sqrt(ss / float64(cnt))
}
