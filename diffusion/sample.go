package diffusion

import (
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
