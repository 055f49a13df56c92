package reward

import (
	"image"
	"testing"

	"github.com/flowtune/flowtune/diffusion/world"
)

// obj is a detected object with a side×side box whose centre is (cx, cy).
func obj(c world.Color, k world.Kind, cx, cy, side int) Object {
	return Object{Color: c, Kind: k, Box: image.Rect(cx-side/2, cy-side/2, cx-side/2+side, cy-side/2+side)}
}

func TestRelationRule(t *testing.T) {
	a := obj(world.Red, world.Circle, 10, 16, 8)
	cases := []struct {
		bx, by int
		holds  []world.Relation
	}{
		{24, 16, []world.Relation{world.LeftOf}},              // straight to the right
		{24, 20, []world.Relation{world.LeftOf}},              // right, a little lower
		{10, 2, []world.Relation{world.Below}},                // straight up: a is below b
		{10, 30, []world.Relation{world.Above}},               // straight down
		{0, 16, []world.Relation{world.RightOf}},              // to the left
		{22, 28, []world.Relation{world.LeftOf, world.Above}}, // diagonal counts for both axes
		{11, 17, nil}, // overlapping centres: too close to call
		{12, 16, nil}, // 2 px apart with 8 px boxes: within the slack
	}
	for _, c := range cases {
		b := obj(world.Blue, world.Square, c.bx, c.by, 8)
		for _, rel := range world.Relations {
			want := false
			for _, h := range c.holds {
				want = want || h == rel
			}
			if got := relationHolds(a, b, rel); got != want {
				t.Errorf("b at (%d,%d): a %s b = %v, want %v", c.bx, c.by, rel, got, want)
			}
		}
	}
}

func TestCheckCompose(t *testing.T) {
	objs := []Object{
		obj(world.Red, world.Circle, 6, 6, 6),
		obj(world.Red, world.Circle, 6, 20, 6),
		obj(world.Blue, world.Square, 24, 6, 8),
		obj(world.Green, world.Triangle, 24, 24, 8),
	}
	cases := []struct {
		prompt      string
		passed, tot int
	}{
		{"two red circles and a blue square", 2, 2},
		{"a red circle", 0, 1},      // counts are exact
		{"three red circles", 0, 1}, //
		{"red circles", 1, 1},       // an unnumbered plural means two or more
		{"two circles", 1, 1},       // a colourless clause counts every colour
		{"a square", 1, 1},          // unmentioned shapes are ignored
		{"a green triangle below a blue square", 3, 3},
		{"a green triangle above a blue square", 2, 3},
		{"a blue square right of a green triangle", 2, 3}, // right above it: not "right of"
		{"a yellow circle left of a blue square", 1, 3},   // no yellow circle, so no relation either
		{"a blue circle and a white triangle and a green triangle", 1, 3},
	}
	for _, c := range cases {
		spec, err := world.Parse(c.prompt)
		if err != nil {
			t.Fatal(err)
		}
		got := CheckCompose(spec, objs)
		if got.Passed != c.passed || got.Total != c.tot {
			t.Errorf("%q: %d/%d checks, want %d/%d", c.prompt, got.Passed, got.Total, c.passed, c.tot)
		}
		wantStrict := 0.0
		if c.passed == c.tot {
			wantStrict = 1
		}
		if got.Strict() != wantStrict || got.Fraction() != float64(c.passed)/float64(c.tot) {
			t.Errorf("%q: fraction %g strict %g", c.prompt, got.Fraction(), got.Strict())
		}
	}
}
