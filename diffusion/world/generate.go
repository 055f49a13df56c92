package world

// The scene generator: random specs in the proportions of GenEval's task families, used both
// for the prompt lists and for pretraining samples.

// composeFamily is one GenEval-like kind of composition prompt with its sampling weight.
type composeFamily struct {
	name   string
	weight float64
	draw   func(rng RNG) Spec
}

// composeFamilies: single object, counting, two objects, colour attribution, position, and
// mixed counts ("two red circles and a blue square", up to three clauses).
var composeFamilies = []composeFamily{
	{"single_object", 0.15, func(rng RNG) Spec {
		return composeSpec(Clause{1, maybeColor(rng, 0.5), randomKind(rng)})
	}},
	{"counting", 0.20, func(rng RNG) Spec {
		return composeSpec(Clause{intRange(rng, 2, MaxCount), maybeColor(rng, 0.5), randomKind(rng)})
	}},
	{"two_object", 0.15, func(rng RNG) Spec {
		return composeSpec(Clause{1, maybeColor(rng, 0.5), randomKind(rng)},
			Clause{1, maybeColor(rng, 0.5), randomKind(rng)})
	}},
	{"colour_attr", 0.15, func(rng RNG) Spec {
		a, b := twoDistinct(rng, len(Colors))
		k, l := twoDistinct(rng, len(Kinds))
		return composeSpec(Clause{1, Colors[a], Kinds[k]}, Clause{1, Colors[b], Kinds[l]})
	}},
	{"position", 0.20, func(rng RNG) Spec {
		s := composeSpec(Clause{1, randomColor(rng), randomKind(rng)}, Clause{1, randomColor(rng), randomKind(rng)})
		s.Relation = Relations[rng.Intn(len(Relations))]
		return s
	}},
	{"mixed", 0.15, func(rng RNG) Spec {
		n := intRange(rng, 2, MaxClauses)
		left := MaxObjects - n
		var cs []Clause
		for i := 0; i < n; i++ {
			extra := 0
			if left > 0 && chance(rng, 0.5) {
				extra = intRange(rng, 1, left)
				left -= extra
			}
			cs = append(cs, Clause{1 + extra, randomColor(rng), randomKind(rng)})
		}
		return composeSpec(cs...)
	}},
}

func composeSpec(cs ...Clause) Spec { return Spec{Family: Compose, Clauses: cs} }

func randomKind(rng RNG) Kind   { return Kinds[rng.Intn(len(Kinds))] }
func randomColor(rng RNG) Color { return Colors[rng.Intn(len(Colors))] }

// maybeColor names a colour with probability p and otherwise leaves it open.
func maybeColor(rng RNG, p float64) Color {
	if chance(rng, p) {
		return randomColor(rng)
	}
	return AnyColor
}

func twoDistinct(rng RNG, n int) (int, int) {
	a := rng.Intn(n)
	b := (a + 1 + rng.Intn(n-1)) % n
	return a, b
}

// RandomComposeSpec draws a valid composition spec: a family by weight, then its clauses,
// redrawn until they pass Spec.Validate (clauses that would overlap are rejected).
func RandomComposeSpec(rng RNG) Spec {
	for {
		u := rng.Float64()
		f := composeFamilies[len(composeFamilies)-1]
		for _, g := range composeFamilies {
			if u < g.weight {
				f = g
				break
			}
			u -= g.weight
		}
		if s := f.draw(rng); s.Validate() == nil {
			return s
		}
	}
}

// RandomTextSpec draws a sign of 1..MaxTextLen characters, lengths and characters uniform.
func RandomTextSpec(rng RNG) Spec {
	n := intRange(rng, 1, MaxTextLen)
	b := make([]byte, n)
	for i := range b {
		b[i] = Alphabet[rng.Intn(len(Alphabet))]
	}
	return Spec{Family: Text, Text: string(b)}
}

// drawSpec draws from gen until the spec's held-out status equals heldOut.
func drawSpec(rng RNG, split *Split, heldOut bool, gen func(RNG) Spec) Spec {
	for {
		if s := gen(rng); split.HeldOut(s) == heldOut {
			return s
		}
	}
}

// ComposeFamilies names the GenEval-like families of composition prompts, in report order.
var ComposeFamilies = []string{"single_object", "counting", "two_object", "colour_attr", "position", "mixed"}

// ComposeFamily names the family a Compose spec belongs to by its structure, as GenEval groups
// its prompts: one clause of one shape is single_object, one clause of several is counting;
// two single shapes are position when related, colour_attr when both are coloured and
// two_object otherwise; anything else is mixed. A two_object draw that happens to name both
// colours is structurally a colour_attr prompt and is named so. It returns "" for a spec of
// another family.
func (s Spec) ComposeFamily() string {
	if s.Family != Compose || len(s.Clauses) == 0 {
		return ""
	}
	c := s.Clauses
	switch {
	case len(c) == 1 && c[0].Count == 1:
		return "single_object"
	case len(c) == 1:
		return "counting"
	case len(c) == 2 && c[0].Count == 1 && c[1].Count == 1:
		switch {
		case s.Relation != NoRelation:
			return "position"
		case c[0].Color != AnyColor && c[1].Color != AnyColor:
			return "colour_attr"
		default:
			return "two_object"
		}
	}
	return "mixed"
}
