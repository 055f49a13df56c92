package reward

import (
	"fmt"
	"image"
	"math"

	"github.com/flowtune/flowtune/diffusion/world"
)

// ComposeCheck is the detector's verdict on a composition prompt: which of its checks (one
// per clause, plus one for the relation if there is one) the image passes.
type ComposeCheck struct {
	Passed, Total int
}

// Fraction is the share of checks passed: the "compose" reward.
func (c ComposeCheck) Fraction() float64 {
	if c.Total == 0 {
		return 0
	}
	return float64(c.Passed) / float64(c.Total)
}

// Strict is 1 when every check passes and 0 otherwise, GenEval's per-prompt score: the
// "compose_strict" reward.
func (c ComposeCheck) Strict() float64 {
	if c.Total > 0 && c.Passed == c.Total {
		return 1
	}
	return 0
}

// CheckCompose compares detected objects with a composition spec. A clause passes when the
// number of detected shapes of its kind (and colour, if it names one) is exactly its count
// (two or more for an unnumbered plural); shapes the prompt does not mention are ignored, as in
// GenEval. The relation passes when some shape of the first clause and some shape of the second
// are placed as it says (see relationHolds).
func CheckCompose(spec world.Spec, objs []Object) ComposeCheck {
	var c ComposeCheck
	matches := make([][]Object, len(spec.Clauses))
	for i, cl := range spec.Clauses {
		for _, o := range objs {
			if o.Kind == cl.Kind && (cl.Color == world.AnyColor || o.Color == cl.Color) {
				matches[i] = append(matches[i], o)
			}
		}
		n := len(matches[i])
		c.Total++
		if n == cl.Count || (cl.Count == 0 && n >= 2) {
			c.Passed++
		}
	}
	if spec.Relation != world.NoRelation && len(spec.Clauses) == 2 {
		c.Total++
	pairs:
		for _, a := range matches[0] {
			for _, b := range matches[1] {
				if relationHolds(a, b, spec.Relation) {
					c.Passed++
					break pairs
				}
			}
		}
	}
	return c
}

// positionSlack is GenEval's position threshold: offsets are shrunk by this fraction of the
// two boxes' summed sides before their direction is judged, so near-aligned shapes count as
// neither left nor right.
const positionSlack = 0.1

// relationHolds follows GenEval's rule for "a <rel> b": take the offset from a's box centre to
// b's, shrink each axis towards zero by positionSlack times the summed box sides along that
// axis, divide by the unshrunk offset's length, and require the component along the
// relation's axis to exceed 0.5 (so the direction is within about 60° of the axis, and not
// too close to call).
func relationHolds(a, b Object, rel world.Relation) bool {
	ax, ay := a.Center()
	bx, by := b.Center()
	dx, dy := bx-ax, by-ay
	norm := math.Hypot(dx, dy)
	if norm == 0 {
		return false
	}
	shrink := func(d float64, sides int) float64 {
		m := math.Max(math.Abs(d)-positionSlack*float64(sides), 0)
		return math.Copysign(m, d)
	}
	rx := shrink(dx, a.Box.Dx()+b.Box.Dx()) / norm
	ry := shrink(dy, a.Box.Dy()+b.Box.Dy()) / norm
	ux, uy := rel.Axis()
	return rx*ux+ry*uy > 0.5
}

// composeReward is the GenEval-like reward; strict selects the all-or-nothing score.
type composeReward struct{ strict bool }

func (r composeReward) Name() string {
	if r.strict {
		return "compose_strict"
	}
	return "compose"
}

func (r composeReward) Score(prompt string, img image.Image) (float64, error) {
	spec, err := world.Parse(prompt)
	if err != nil {
		return 0, fmt.Errorf("reward %s: %v", r.Name(), err)
	}
	if spec.Family != world.Compose {
		return 0, fmt.Errorf("reward %s: %q is not a composition prompt", r.Name(), prompt)
	}
	if err := checkSize(r.Name(), img); err != nil {
		return 0, err
	}
	c := CheckCompose(spec, Detect(img))
	if r.strict {
		return c.Strict(), nil
	}
	return c.Fraction(), nil
}
