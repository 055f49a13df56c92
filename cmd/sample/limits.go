package main

// Checks of the flag values before any work: finite numbers in sane ranges, and the memory the
// whole job will need, estimated from the model's shape and refused with the estimate when it
// exceeds what the machine has.

import (
	"fmt"
	"math"

	"github.com/flowtune/flowtune/diffusion"
	"github.com/flowtune/flowtune/internal/cli"
	"github.com/flowtune/flowtune/internal/memlimit"
	"github.com/flowtune/flowtune/internal/plot"
	"github.com/flowtune/flowtune/nn"
)

// Ranges of the numeric flags. They are far beyond what the shipped model is useful at, and keep
// a typo from turning into hours of work or a garbage image.
const (
	maxPerPrompt = 1024
	maxSteps     = 1000
	maxScale     = 32
)

// Ranges of the real-valued flags.
const (
	maxCFG   float64 = 100
	maxNoise float64 = 2 // a = √2 is the memoryless SDE; well beyond it the samples are noise
)

// check validates the flags that need no model.
func (o options) check() error {
	switch {
	case o.run != "" && o.adapters != "":
		return cli.Usagef("give either -run DIR or -adapters FILE, not both")
	case len(o.prompts) > 0 && o.heldout != "":
		return cli.Usagef("give either -prompt or -heldout, not both")
	case o.fromTruth != "" && o.heldout == "":
		return cli.Usagef("-from-truth needs -heldout TASK (the prompts whose ground truth is restored), e.g. -heldout compose -from-truth 0.5,0.7,0.9,1")
	case o.side != "heldout" && o.side != "train":
		return cli.Usagef("-side must be heldout or train (got %q)", o.side)
	case o.side == "train" && (o.heldout == "" || o.fromTruth != ""):
		return cli.Usagef("-side train needs -heldout TASK and no -from-truth (it scores the task's training prompts instead of its held-out ones)")
	case o.fromTruth != "" && o.sde:
		return cli.Usagef("-from-truth restores with the ODE; drop -sde")
	case o.exportDType != "f32" && o.exportDType != "bf16":
		return cli.Usagef("-export-dtype must be f32 or bf16 (got %q)", o.exportDType)
	case o.exportDType != "f32" && o.export == "":
		return cli.Usagef("-export-dtype %s needs -export FILE (the checkpoint to write)", o.exportDType)
	case len(o.prompts) == 0 && o.heldout == "" && o.export == "":
		return cli.Usagef("no -prompt given (example: -prompt \"two red circles\", or -heldout compose to score the held-out prompts)")
	}
	ints := []struct {
		flag      string
		v, lo, hi int
		what      string
	}{
		{"-n", o.n, 1, maxPerPrompt, "images per prompt"},
		{"-steps", o.steps, 1, maxSteps, "sampling steps"},
		{"-scale", o.scale, 1, maxScale, "times upscaling"},
		{"-prompts", o.limit, 0, math.MaxInt32, "held-out prompts (0: all)"},
	}
	for _, c := range ints {
		if c.v < c.lo || c.v > c.hi {
			return cli.Usagef("%s %d is out of range: want %d–%d %s", c.flag, c.v, c.lo, c.hi, c.what)
		}
	}
	switch {
	case math.IsNaN(o.cfg) || o.cfg < 0 || o.cfg > maxCFG:
		return cli.Usagef("-cfg %g: want a guidance scale from 0 to %g (1: no guidance)", o.cfg, maxCFG)
	case math.IsNaN(o.noise) || !(o.noise > 0) || o.noise > maxNoise:
		return cli.Usagef("-noise %g: want an SDE noise level 0 < a ≤ %g (0.7 is Flow-GRPO's)", o.noise, maxNoise)
	case o.fromTruth != "":
		if _, err := parseLevels(o.fromTruth); err != nil {
			return err
		}
	}
	switch {
	case math.IsNaN(o.maxMemGiB) || o.maxMemGiB < 0 || math.IsInf(o.maxMemGiB, 0):
		return cli.Usagef("-max-mem %g: want a number of GiB ≥ 0 (0: 80%% of the memory available now)", o.maxMemGiB)
	}
	return nil
}

// jobMemory is the estimated peak memory of a sampling job, by part, in bytes.
type jobMemory struct {
	model, forward, trajectory, images, grid float64
}

func (j jobMemory) total() float64 { return j.model + j.forward + j.trajectory + j.images + j.grid }

// runtimeBytes is the resident memory of the command before it samples: the Go runtime, the
// binary and the embedded base checkpoint (measured: about 40 MB).
const runtimeBytes = 64 << 20

// fl converts a count to float64, in which the estimate is computed (no overflow).
func fl(v int) float64 { return float64(v) }

// estimateMemory estimates the peak memory of drawing images (= prompts × n) in batches of
// batch·n, keeping gridRows × n of them for the grid. The forward pass counts the activations of
// one block live at once (the residual streams, q/k/v, the MLP's hidden layer, the attention
// scores), both guidance branches, and a quarter more for the garbage collector's headroom; the
// grid counts the image and its PNG encoding. Measured on the shipped model (linux/amd64), the
// estimate is 1.3–1.5× the peak resident memory: a bound, not a guess that can fall short.
func estimateMemory(c diffusion.ModelConfig, params int, o options, images, batch, gridRows int) jobMemory {
	perImage := fl(c.Channels * c.Size * c.Size)
	beff := fl(batch) * fl(o.n)
	if o.cfg != 1 {
		beff *= 2
	}
	tokens := fl((c.Size/c.Patch)*(c.Size/c.Patch) + c.TextLen)
	perSample := tokens*fl(c.Dim)*(8+2*c.MLPRatio) + 2*fl(c.Heads)*tokens*tokens + 4*perImage
	j := jobMemory{
		model:   4*fl(params) + runtimeBytes,
		forward: 1.25 * 4 * beff * perSample,
		images:  fl(images) * fl(o.n) * (4*fl(c.Size*c.Size) + 64),
	}
	if o.sde {
		// kept live to the end, which lets the collector's target (twice the live heap) grow with it
		j.trajectory = 2 * 4 * fl(batch) * fl(o.n) * (fl(o.steps+1)*perImage + fl(o.steps))
	}
	j.trajectory += 8 * fl(o.steps+1)
	gw, gh := plot.GridSize(o.n, gridRows, c.Size*o.scale, true)
	j.grid = 2 * 4 * fl(gw) * fl(gh)
	return j
}

// checkMemory refuses a job whose estimate exceeds the allowance, naming the estimate.
func (o options) checkMemory(m *diffusion.Model, images, batch, gridRows int) error {
	j := estimateMemory(m.Cfg, nn.CountParams(m), o, images, batch, gridRows)
	limit, why := o.maxMemGiB*(1<<30), "-max-mem"
	if o.maxMemGiB == 0 {
		limit, why = memoryAllowance()
	}
	if j.total() <= limit {
		return nil
	}
	gib := func(b float64) string { return fmt.Sprintf("%.3g GiB", b/(1<<30)) }
	return cli.Usagef("this job needs about %s (sampling %s, SDE trajectory %s, images %s, grid %s, model and runtime %s), more than the %s allowed (%s): "+
		"lower -n, -scale, -steps or the number of prompts, or raise -max-mem",
		gib(j.total()), gib(j.forward), gib(j.trajectory), gib(j.images), gib(j.grid), gib(j.model), gib(limit), why)
}

// memoryAllowance is 80% of the memory available now (Linux's MemAvailable, bounded by a cgroup
// limit), or 8 GiB where that cannot be read.
func memoryAllowance() (float64, string) {
	if b, ok := memlimit.Available(); ok {
		return 0.8 * b, "80% of the memory available now; -max-mem sets it"
	}
	return 8 << 30, "a default where the available memory is unknown; -max-mem sets it"
}
