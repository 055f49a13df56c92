package world

import (
	"image"
	"math"
	"math/rand"
	"testing"
)

// TestPlaceScene: for random specs at several sizes, the placed shapes are exactly what the
// spec asks for, inside the image, apart by the gap, sized by the geometry, never in a
// held-out colour–kind pair they were free to avoid, and clearly in the asked relation.
func TestPlaceScene(t *testing.T) {
	split := NewSplit(1)
	rng := rand.New(rand.NewSource(5))
	for _, size := range []int{32, 48, 64, 100} {
		for i := 0; i < 300; i++ {
			spec := RandomComposeSpec(rng)
			shapes, err := PlaceScene(spec, size, rng, split.HeldPair)
			if err != nil {
				t.Fatal(err)
			}
			g := geometry(size, len(shapes))
			perClause := make([]int, len(spec.Clauses))
			for j, s := range shapes {
				c := spec.Clauses[s.Clause]
				perClause[s.Clause]++
				if s.Kind != c.Kind || (c.Color != AnyColor && s.Color != c.Color) || s.Color == AnyColor {
					t.Fatalf("%q: shape %+v does not fit clause %q", spec, s, c)
				}
				if c.Color == AnyColor && split.HeldPair(s.Color, s.Kind) {
					t.Fatalf("%q: free colour chose the held-out pair %s %s", spec, s.Color, s.Kind)
				}
				if s.Size < g.minSide || s.Size > g.maxSide {
					t.Fatalf("%q at %d: size %d outside [%d, %d]", spec, size, s.Size, g.minSide, g.maxSide)
				}
				if s.X < g.margin || s.Y < g.margin || s.X+s.Size > size-g.margin || s.Y+s.Size > size-g.margin {
					t.Fatalf("%q at %d: shape %+v leaves the image", spec, size, s)
				}
				for _, o := range shapes[:j] {
					if !apart(s, o, g.gap) {
						t.Fatalf("%q at %d: shapes %+v and %+v closer than %d px", spec, size, s, o, g.gap)
					}
				}
			}
			for ci, c := range spec.Clauses {
				if perClause[ci] != c.Count {
					t.Fatalf("%q: clause %q drew %d shapes", spec, c, perClause[ci])
				}
			}
			if spec.Relation != NoRelation {
				ax, ay := shapes[0].Center()
				bx, by := shapes[1].Center()
				ux, uy := spec.Relation.Axis()
				along := (bx-ax)*ux + (by-ay)*uy
				across := math.Abs((bx-ax)*uy - (by-ay)*ux)
				if along <= 0 || across > 0.4*along {
					t.Fatalf("%q: centres (%g,%g) and (%g,%g) do not show the relation", spec, ax, ay, bx, by)
				}
			}
		}
	}
	if _, err := PlaceScene(composeSpec(Clause{1, Red, Circle}), 20, rng, nil); err == nil {
		t.Fatal("size below the minimum accepted")
	}
}

// TestDrawShapeCoverage compares the drawn ink of each kind with its exact area: a square
// fills its box, a circle π/4 of it, a triangle half.
func TestDrawShapeCoverage(t *testing.T) {
	want := map[Kind]float64{Square: 1, Circle: math.Pi / 4, Triangle: 0.5}
	for _, side := range []int{7, 12, 30} {
		for _, k := range Kinds {
			img := Blank(40)
			DrawShape(img, Shape{Kind: k, Color: Green, X: 3, Y: 4, Size: side})
			ink := 0.0
			for y := 0; y < 40; y++ {
				for x := 0; x < 40; x++ {
					c := img.RGBAAt(x, y)
					if c.R != 0 || c.B != 0 {
						t.Fatalf("green shape has red or blue at (%d,%d): %v", x, y, c)
					}
					inBox := image.Pt(x, y).In(image.Rect(3, 4, 3+side, 4+side))
					if c.G != 0 && !inBox {
						t.Fatalf("%s of side %d inks (%d,%d) outside its box", k, side, x, y)
					}
					ink += float64(c.G) / 255
				}
			}
			got := ink / float64(side*side)
			// 4×4 sub-sampling: error of order one sub-sample row per edge.
			if tol := 0.5 / float64(side); math.Abs(got-want[k]) > tol {
				t.Errorf("%s of side %d covers %.4f of its box, want %.4f ± %.4f", k, side, got, want[k], tol)
			}
		}
	}
}

// TestDrawText: the ink of a rendered sign fills exactly the box TextLayout gives, inside the
// image margin, and every lit pixel belongs to a glyph's font pixel.
func TestDrawText(t *testing.T) {
	for _, size := range []int{32, 48, 64, 96} {
		for n := 1; n <= MaxTextLen; n++ {
			text := "W2M8"[:n]
			img := Blank(size)
			DrawText(img, text, Cyan)
			scale, x0, y0 := TextLayout(size, n)
			margin := max(2, size/16)
			w := ((GlyphW+1)*n - 1) * scale
			if x0 < margin || y0 < margin || x0+w > size-margin || y0+GlyphH*scale > size-margin {
				t.Fatalf("size %d n %d: layout (%d,%d,%d) breaks the margin", size, n, scale, x0, y0)
			}
			ink := image.Rectangle{}
			for y := 0; y < size; y++ {
				for x := 0; x < size; x++ {
					if img.RGBAAt(x, y).G == 0 {
						continue
					}
					ink = ink.Union(image.Rect(x, y, x+1, y+1))
					i := (x - x0) / ((GlyphW + 1) * scale)
					fx := (x - x0 - i*(GlyphW+1)*scale) / scale
					fy := (y - y0) / scale
					if !Glyph(rune(text[i]))[fy][fx] {
						t.Fatalf("size %d: pixel (%d,%d) lit outside the glyph of %q", size, x, y, text[i])
					}
				}
			}
			if want := image.Rect(x0, y0, x0+w, y0+GlyphH*scale); ink != want {
				t.Fatalf("size %d %q: ink box %v, want %v", size, text, ink, want)
			}
		}
	}
}

// TestFont: the glyphs of the sign alphabet are pairwise different by at least three font
// pixels, and each has ink on all four sides of its cell (so a sign's ink box is its layout).
func TestFont(t *testing.T) {
	for i, a := range Alphabet {
		ga := Glyph(a)
		var top, bottom, left, right bool
		for x := 0; x < GlyphW; x++ {
			top, bottom = top || ga[0][x], bottom || ga[GlyphH-1][x]
		}
		for y := 0; y < GlyphH; y++ {
			left, right = left || ga[y][0], right || ga[y][GlyphW-1]
		}
		if !top || !bottom || !left || !right {
			t.Errorf("glyph %q does not touch all sides of its cell", a)
		}
		for _, b := range Alphabet[i+1:] {
			gb := Glyph(b)
			d := 0
			for y := range ga {
				for x := range ga[y] {
					if ga[y][x] != gb[y][x] {
						d++
					}
				}
			}
			if d < 3 {
				t.Errorf("glyphs %q and %q differ in %d pixels", a, b, d)
			}
		}
	}
	if Glyph('q') != Glyph('Q') || Glyph('~') != Glyph('?') {
		t.Error("lower case or fallback glyphs wrong")
	}
}

func TestRenderDeterministic(t *testing.T) {
	w := testWorld(t, 48)
	task, _ := w.Task("compose")
	a, err := task.RenderPrompt(task.Train[0], rand.New(rand.NewSource(9)))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := task.RenderPrompt(task.Train[0], rand.New(rand.NewSource(9)))
	if string(a.Pix) != string(b.Pix) || a.Bounds().Dx() != 48 {
		t.Fatal("same prompt and seed rendered differently")
	}
}
