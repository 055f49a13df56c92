package train

// Rollouts: G images per drawn prompt, sampled group by group; each finished group is scored on
// another goroutine while the next one samples. The prompts come from a data cursor that walks
// seeded permutations of the training split, so its whole state is two integers.

import (
	"fmt"
	"image"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/flowtune/flowtune/diffusion"
	"github.com/flowtune/flowtune/diffusion/prompts"
	"github.com/flowtune/flowtune/nn"
	"github.com/flowtune/flowtune/tensor"
)

// stepBatch is one step's rollouts.
type stepBatch struct {
	prompts []string
	conds   []diffusion.Cond     // per group, G rows
	finals  []*tensor.Tensor     // per group, [G, C, H, W]
	sde     []*diffusion.Rollout // per group, Flow-GRPO only
	scores  map[string][]float64 // per reward, P·G scores in group order
	adv     []float64            // P·G advantages
}

// phaseTimes are a step's wall-clock seconds per phase.
type phaseTimes struct {
	rollout    float64 // sampling (rewards of earlier groups are scored meanwhile)
	reward     float64 // waiting for the scorer after the last group sampled
	rewardBusy float64 // scorer's total time, overlapped or not
	advantage  float64
	train      float64 // losses, backward, optimizer and adapter updates
	step       float64
}

func (p phaseTimes) record() map[string]float64 {
	return map[string]float64{"rollout": p.rollout, "reward": p.reward, "reward_busy": p.rewardBusy,
		"advantage": p.advantage, "train": p.train, "step": p.step}
}

// rollout samples cfg.Group images for each prompt with the algorithm's behaviour policy and
// scores them with every configured reward.
func (r *run) rollout(drawn []prompts.Prompt) (*stepBatch, phaseTimes, error) {
	cfg := r.cfg
	G := cfg.Group
	texts := promptTexts(drawn)
	b := &stepBatch{prompts: texts, scores: map[string][]float64{}}
	for _, rw := range r.rewards {
		b.scores[rw.name] = make([]float64, len(texts)*G)
	}
	var tm phaseTimes

	type job struct {
		group int
		imgs  []image.Image
	}
	jobs := make(chan job, len(texts)) // never blocks the sampler, even if the scorer fails
	var scoreFailed atomic.Bool        // the step is lost: stop sampling
	var eg errgroup.Group
	eg.Go(func() error {
		for j := range jobs {
			start := time.Now()
			ps := make([]string, G)
			group := make([]prompts.Prompt, G)
			for i := range ps {
				ps[i], group[i] = texts[j.group], drawn[j.group]
			}
			meta := metadataOf(group)
			for _, rw := range r.rewards {
				s, err := rw.score(ps, meta, j.imgs)
				if err != nil {
					scoreFailed.Store(true)
					return rw.scoreFailure(err, fmt.Sprintf("on %q", texts[j.group]))
				}
				copy(b.scores[rw.name][j.group*G:], s)
			}
			tm.rewardBusy += time.Since(start).Seconds()
		}
		return nil
	})

	start := time.Now()
	lat := r.pipe.Latent()
	grid := diffusion.SigmaGrid(cfg.RolloutSteps, diffusion.SD3Shift)
	sampler := diffusion.Guided{Model: r.pol.Sampler(r.algo.rolloutAdapter()), Uncond: r.uncond, Scale: float32(cfg.CFG)}
	if _, sde := r.algo.sde(); !sde {
		// Not for Flow-GRPO's SDE rollouts: their stored log-probs must be exactly what the
		// unmerged training forward recomputes (a ratio of 1 on-policy), not equal to rounding.
		defer r.freezeForSampling(r.algo.rolloutAdapter())()
	}
	var sampleErr error
	for g, p := range texts {
		if scoreFailed.Load() {
			break
		}
		c, err := r.pipe.Encode([]string{p})
		if err != nil {
			sampleErr = err
			break
		}
		c = c.Repeat(G)
		x := r.rolloutRNG.Normal(r.pipe.Backend(), G, lat[0], lat[1], lat[2])
		var final *tensor.Tensor
		end := r.phase("sample")
		if sde, ok := r.algo.sde(); ok {
			ro := diffusion.SampleSDE(sampler, x, grid, c, sde, r.rolloutRNG)
			b.sde = append(b.sde, ro)
			final = ro.Final()
		} else {
			final = diffusion.SampleODE(sampler, x, grid, c)
		}
		end()
		b.conds = append(b.conds, c)
		b.finals = append(b.finals, final)
		end = r.phase("decode")
		imgs := asImages(r.pipe.Images(final))
		end()
		jobs <- job{g, imgs}
	}
	close(jobs)
	tm.rollout = time.Since(start).Seconds()
	wait := time.Now()
	err := eg.Wait()
	tm.reward = time.Since(wait).Seconds()
	if sampleErr != nil {
		return nil, tm, sampleErr
	}
	return b, tm, err
}

func asImages(imgs []*image.RGBA) []image.Image {
	out := make([]image.Image, len(imgs))
	for i, im := range imgs {
		out[i] = im
	}
	return out
}

// cursorState is where the data cursor stands: permutation number Epoch, next index Pos.
type cursorState struct {
	Epoch int `json:"epoch"`
	Pos   int `json:"pos"`
}

// cursor draws training prompts without replacement: it walks a permutation of the n prompts
// that is a function of (seed, epoch) alone, and starts a fresh one when it runs out.
type cursor struct {
	seed      uint64
	n         int
	st        *cursorState
	perm      []int // the permutation of epoch permEpoch
	permEpoch int
}

func newCursor(seed uint64, n int, st *cursorState) *cursor {
	return &cursor{seed: seed, n: n, st: st}
}

// next returns the next k prompts of list (len n).
func (c *cursor) next(k int, list []string) []string {
	out := make([]string, 0, k)
	for _, i := range c.nextIdx(k) {
		out = append(out, list[i])
	}
	return out
}

// nextOf is next over a prompt set's entries.
func (c *cursor) nextOf(k int, list []prompts.Prompt) []prompts.Prompt {
	out := make([]prompts.Prompt, 0, k)
	for _, i := range c.nextIdx(k) {
		out = append(out, list[i])
	}
	return out
}

// nextIdx returns the indices of the next k prompts.
func (c *cursor) nextIdx(k int) []int {
	out := make([]int, 0, k)
	for len(out) < k {
		if c.st.Pos >= c.n {
			c.st.Epoch++
			c.st.Pos = 0
		}
		if c.perm == nil || c.permEpoch != c.st.Epoch {
			c.perm, c.permEpoch = permutation(c.seed+uint64(c.st.Epoch), c.n), c.st.Epoch
		}
		out = append(out, c.perm[c.st.Pos])
		c.st.Pos++
	}
	return out
}

// permutation is a Fisher–Yates shuffle of 0…n−1 drawn from a fresh stream of seed.
func permutation(seed uint64, n int) []int { return tensor.NewRNG(seed).Perm(n) }

// freezeSamplingMaxParams bounds the models whose sampling adapter is frozen: beyond it the
// merged weight copies cost real memory, and the products, not the launches, set the time.
const freezeSamplingMaxParams = 50_000_000

// freezeForSampling merges adapter into copies of the weights for one sampling pass when the
// backend is launch-bound and the model small (nn.FreezeAdapter: one product per adapted layer
// instead of four kernels); release drops the copies. The weights do not change during a pass.
func (r *run) freezeForSampling(adapter string) (release func()) {
	if adapter == "" || !tensor.IsLaunchBound(r.pipe.Backend()) || nn.CountParams(r.pol.Net) > freezeSamplingMaxParams {
		return func() {}
	}
	return nn.FreezeAdapter(r.pol.Net, adapter)
}
