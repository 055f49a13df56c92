package diffusion

import (
	"fmt"
	"image"

	"github.com/flowtune/flowtune/diffusion/world"
	"github.com/flowtune/flowtune/tensor"
)

// SampleOptions choose how SamplePrompts draws images.
type SampleOptions struct {
	PerPrompt int        // images per prompt
	Steps     int        // sampling steps on the shift-3 grid
	CFG       float32    // guidance scale (1: none)
	SDE       *SDEConfig // nil: Euler ODE; else the Flow-GRPO/CPS SDE
	Seed      uint64     // initial noise (and SDE noise) seed
}

// UncondCond is the empty prompt, the unconditional branch of classifier-free guidance.
func UncondCond(tok *world.Tokenizer) Cond {
	ids, mask, err := tok.EncodeBatch([]string{""})
	if err != nil {
		panic(err) // the empty prompt is always in the vocabulary
	}
	return Cond{Tokens: ids, Mask: mask, B: 1, L: tok.MaxLen}
}

// EncodePrompts tokenises prompts into a Cond (an unknown word is an error naming it).
func EncodePrompts(tok *world.Tokenizer, prompts []string) (Cond, error) {
	ids, mask, err := tok.EncodeBatch(prompts)
	if err != nil {
		return Cond{}, err
	}
	return Cond{Tokens: ids, Mask: mask, B: len(prompts), L: tok.MaxLen}, nil
}

// SamplePrompts draws o.PerPrompt images for each prompt, returned prompt by prompt.
func SamplePrompts(m *Model, tok *world.Tokenizer, prompts []string, o SampleOptions) ([]*image.RGBA, error) {
	c, err := EncodePrompts(tok, prompts)
	if err != nil {
		return nil, err
	}
	c = c.Repeat(o.PerPrompt)
	g := Guided{Model: m, Uncond: UncondCond(tok), Scale: o.CFG}
	b := m.Patch.Proj.Weight.Backend()
	s := m.Cfg.Size
	rng := tensor.NewRNG(o.Seed)
	x := rng.Normal(b, c.B, m.Cfg.Channels, s, s)
	grid := SigmaGrid(o.Steps, 3)
	if o.SDE == nil {
		return Images(SampleODE(g, x, grid, c)), nil
	}
	return Images(SampleSDE(g, x, grid, c, *o.SDE, rng).Final()), nil
}

// TailGrid is the part of a sampler grid below σ0 with σ0 itself in front: the levels an ODE
// started at noise level σ0 visits when it follows grid from there. σ0 must lie in (0, 1].
func TailGrid(grid []float64, sigma0 float64) []float64 {
	if !(sigma0 > 0 && sigma0 <= 1) {
		panic(fmt.Sprintf("diffusion.TailGrid: σ0 = %g is outside (0, 1]", sigma0))
	}
	tail := []float64{sigma0}
	for _, s := range grid {
		if s < sigma0 {
			tail = append(tail, s)
		}
	}
	return tail
}

// Restore noises clean images x0 to level σ0 with the noise eps, x = (1−σ0)·x0 + σ0·eps, and
// integrates the Euler ODE from there to σ = 0 on TailGrid(grid, σ0). Restoring known images from
// rising noise levels shows where a model loses them: an exact velocity brings every x0 back
// from any σ0 < 1 on any grid (x − σ·v = x0 for the data distribution that is a point mass), so
// what a trained model loses below σ0 is its own error on the levels it visited.
func Restore(m VelocityModel, x0, eps *tensor.Tensor, sigma0 float64, grid []float64, c Cond) *tensor.Tensor {
	tail := TailGrid(grid, sigma0)
	x := Interpolate(x0, eps, fill(x0.Dim(0), float32(sigma0)))
	return SampleODE(m, x, tail, c)
}
