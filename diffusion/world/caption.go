package world

import (
	"fmt"
	"image"
)

// CaptionNoise sets how pretraining captions under-describe their images, the way web alt
// text does. Each field is a probability, applied independently in this order:
//
//	DropClause    a scene of two or more clauses loses one of them (and any relation)
//	DropRelation  "A left of B" is captioned "A and B"
//	DropCount     per clause of two or more shapes: "three red circles" becomes "red circles"
//	DropColor     per coloured clause: "a red circle" becomes "a circle" (skipped where the
//	              colourless clause would overlap another one)
//	TextTypo      a sign's caption has one character replaced by another
//	TextDropped   a sign is captioned just "a sign"
//
// Empty captions (for classifier-free guidance) are the trainer's business, not the world's.
type CaptionNoise struct {
	DropClause, DropRelation, DropCount, DropColor float64
	TextTypo, TextDropped                          float64
}

// DefaultCaptionNoise leaves roughly half of the scene captions exact: the base model learns
// the grammar well but has headroom on counts, relations and attribute binding.
var DefaultCaptionNoise = CaptionNoise{
	DropClause: 0.15, DropRelation: 0.3, DropCount: 0.25, DropColor: 0.1,
	TextTypo: 0.1, TextDropped: 0.05,
}

func (c CaptionNoise) validate() error {
	for _, p := range []float64{c.DropClause, c.DropRelation, c.DropCount, c.DropColor, c.TextTypo, c.TextDropped} {
		if p < 0 || p > 1 {
			return fmt.Errorf("world: caption noise probability %g is outside [0, 1]", p)
		}
	}
	return nil
}

// Sample draws one pretraining pair: with probability Config.TextFraction a sign, otherwise a
// scene of shapes, and an imperfect caption for it (see CaptionNoise). Neither the image nor
// the caption touches a held-out combination unless Config.PretrainHeldOut is set.
func (w *World) Sample(rng RNG) (*image.RGBA, string) {
	if chance(rng, w.cfg.TextFraction) {
		spec := w.drawPretrainSpec(rng, RandomTextSpec)
		img, _ := w.Render(spec, rng) // a valid text spec always renders
		return img, w.textCaption(spec, rng).String()
	}
	for {
		spec := w.drawPretrainSpec(rng, RandomComposeSpec)
		img, err := w.Render(spec, rng)
		if err != nil {
			continue // no room for this layout; draw another scene
		}
		return img, w.composeCaption(spec, rng).String()
	}
}

// drawPretrainSpec draws a pretraining spec from gen: outside the held-out combinations unless
// the config's PretrainHeldOut lets pretraining see them.
func (w *World) drawPretrainSpec(rng RNG, gen func(RNG) Spec) Spec {
	if w.cfg.PretrainHeldOut {
		return gen(rng)
	}
	return drawSpec(rng, w.split, false, gen)
}

// composeCaption applies the caption noise to a scene's spec.
func (w *World) composeCaption(s Spec, rng RNG) Spec {
	n := w.cfg.Captions
	c := Spec{Family: Compose, Clauses: append([]Clause(nil), s.Clauses...), Relation: s.Relation}
	if len(c.Clauses) >= 2 && chance(rng, n.DropClause) {
		i := rng.Intn(len(c.Clauses))
		c.Clauses = append(c.Clauses[:i], c.Clauses[i+1:]...)
		c.Relation = NoRelation
	}
	if c.Relation != NoRelation && chance(rng, n.DropRelation) {
		c.Relation = NoRelation
	}
	for i := range c.Clauses {
		if c.Clauses[i].Count >= 2 && chance(rng, n.DropCount) {
			c.Clauses[i].Count = 0
		}
	}
	for i := range c.Clauses {
		if c.Clauses[i].Color == AnyColor || !chance(rng, n.DropColor) {
			continue
		}
		keep := c.Clauses[i].Color
		c.Clauses[i].Color = AnyColor
		if c.Validate() != nil {
			c.Clauses[i].Color = keep
		}
	}
	return c
}

// textCaption applies the caption noise to a sign's spec. A typo never produces a held-out
// string, so held-out strings appear in no caption either.
func (w *World) textCaption(s Spec, rng RNG) Spec {
	n := w.cfg.Captions
	if chance(rng, n.TextDropped) {
		return Spec{Family: Text}
	}
	if !chance(rng, n.TextTypo) {
		return s
	}
	for {
		b := []byte(s.Text)
		i := rng.Intn(len(b))
		b[i] = Alphabet[rng.Intn(len(Alphabet))]
		if t := string(b); t != s.Text && !w.split.HeldText(t) {
			return Spec{Family: Text, Text: t}
		}
	}
}
