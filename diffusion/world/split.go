package world

import "fmt"

// Split decides which combinations are held out of training, deterministically from a seed:
//
//   - three colour–kind pairs, one per kind and each with a different colour (e.g. "red
//     circle", "cyan square", "white triangle"), so every colour and kind is still seen in
//     training, just not in these pairings;
//   - ten of the 98 colour–axis–colour layouts ("a red shape to the left of a blue shape",
//     "a green shape above a green shape"), counted once per layout so that "A left of B" and
//     "B right of A" are held out together;
//   - one in eight sign strings of two or more characters (every single character stays in
//     training).
//
// A spec is held out when it touches any of these; training prompts and pretraining samples
// never do.
type Split struct {
	pairs   map[[2]Color]bool // {colour, Color(kind)}
	layouts map[layout]bool
	seed    uint64
}

// layout is a relation with its direction normalised: first is the left (or upper) colour.
type layout struct {
	first, second Color
	vertical      bool
}

// Held-out fractions of the split.
const (
	heldLayouts = 10
	heldTextMod = 8 // one string in heldTextMod is held out
)

// NewSplit draws the held-out sets from seed.
func NewSplit(seed uint64) *Split {
	rng := &splitMix{state: seed ^ 0x5EED5EED}
	s := &Split{pairs: map[[2]Color]bool{}, layouts: map[layout]bool{}, seed: seed}
	perm := permutation(rng, len(Colors))
	for i, k := range Kinds {
		s.pairs[[2]Color{Colors[perm[i]], Color(k)}] = true
	}
	var all []layout
	for _, v := range []bool{false, true} {
		for _, a := range Colors {
			for _, b := range Colors {
				all = append(all, layout{a, b, v})
			}
		}
	}
	for _, i := range permutation(rng, len(all))[:heldLayouts] {
		s.layouts[all[i]] = true
	}
	return s
}

func permutation(rng RNG, n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	for i := n - 1; i > 0; i-- {
		j := rng.Intn(i + 1)
		p[i], p[j] = p[j], p[i]
	}
	return p
}

// HeldPair reports whether shapes of kind k in colour c are held out of training.
func (s *Split) HeldPair(c Color, k Kind) bool { return s.pairs[[2]Color{c, Color(k)}] }

// HeldText reports whether a sign string is held out of training.
func (s *Split) HeldText(text string) bool {
	return len(text) >= 2 && hash64(s.seed, text)%heldTextMod == 0
}

// HeldRelation reports whether "a <a> shape <rel> a <b> shape" is a held-out layout.
func (s *Split) HeldRelation(a Color, rel Relation, b Color) bool {
	if a == AnyColor || b == AnyColor {
		return false
	}
	switch rel {
	case LeftOf:
		return s.layouts[layout{a, b, false}]
	case RightOf:
		return s.layouts[layout{b, a, false}]
	case Above:
		return s.layouts[layout{a, b, true}]
	case Below:
		return s.layouts[layout{b, a, true}]
	}
	return false
}

// HeldOut reports whether spec touches any held-out combination.
func (s *Split) HeldOut(spec Spec) bool {
	if spec.Family == Text {
		return s.HeldText(spec.Text)
	}
	for _, c := range spec.Clauses {
		if s.HeldPair(c.Color, c.Kind) {
			return true
		}
	}
	if spec.Relation != NoRelation && len(spec.Clauses) == 2 {
		return s.HeldRelation(spec.Clauses[0].Color, spec.Relation, spec.Clauses[1].Color)
	}
	return false
}

// Describe lists the held-out pairs and layouts in words (for logs and reports).
func (s *Split) Describe() string {
	var pairs, lays []string
	for _, c := range Colors {
		for _, k := range Kinds {
			if s.HeldPair(c, k) {
				pairs = append(pairs, c.String()+" "+k.String())
			}
		}
	}
	for _, v := range []bool{false, true} {
		for _, a := range Colors {
			for _, b := range Colors {
				if s.layouts[layout{a, b, v}] {
					rel := "left of"
					if v {
						rel = "above"
					}
					lays = append(lays, a.String()+" "+rel+" "+b.String())
				}
			}
		}
	}
	return fmt.Sprintf("held-out colour–kind pairs %q; held-out layouts %q; sign strings with hash%%%d==0",
		pairs, lays, heldTextMod)
}
