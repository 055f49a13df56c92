package world

import (
	"fmt"
	"image"
	"image/color"
	"math"
)

// MinSize is the smallest image side the renderer and the detectors support.
const MinSize = 32

// Shape is one drawn shape: its kind and colour and the square box [X, X+Size) × [Y, Y+Size)
// it fills (a circle is inscribed in the box, a triangle has its base on the box's bottom edge
// and its apex at the middle of the top edge).
type Shape struct {
	Kind   Kind
	Color  Color
	X, Y   int
	Size   int
	Clause int // index of the spec clause the shape belongs to
}

// Center is the centre of the shape's box.
func (s Shape) Center() (x, y float64) {
	return float64(s.X) + float64(s.Size)/2, float64(s.Y) + float64(s.Size)/2
}

// Blank returns a size×size opaque black image.
func Blank(size int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, size, size))
	for i := 3; i < len(img.Pix); i += 4 {
		img.Pix[i] = 255
	}
	return img
}

// supersample is the number of sub-samples per pixel side used for anti-aliased edges.
const supersample = 4

// Covers reports whether the point (u, v), in units of the shape's box side and relative to
// its top-left corner, lies in a shape of kind k (detectors draw templates with it).
func Covers(k Kind, u, v float64) bool {
	switch k {
	case Circle:
		du, dv := u-0.5, v-0.5
		return du*du+dv*dv <= 0.25
	case Triangle:
		return math.Abs(u-0.5) <= v/2
	}
	return true
}

// DrawShape paints s into img: each pixel is blended towards the shape's colour by the
// fraction of its 4×4 sub-samples that fall inside the shape, so squares are crisp and
// circles and triangles have soft one-pixel edges.
func DrawShape(img *image.RGBA, s Shape) {
	col := s.Color.RGBA()
	r := image.Rect(s.X, s.Y, s.X+s.Size, s.Y+s.Size).Intersect(img.Bounds())
	side := float64(s.Size)
	for py := r.Min.Y; py < r.Max.Y; py++ {
		for px := r.Min.X; px < r.Max.X; px++ {
			hits := 0
			for j := 0; j < supersample; j++ {
				v := (float64(py-s.Y) + (float64(j)+0.5)/supersample) / side
				for i := 0; i < supersample; i++ {
					u := (float64(px-s.X) + (float64(i)+0.5)/supersample) / side
					if Covers(s.Kind, u, v) {
						hits++
					}
				}
			}
			if hits > 0 {
				blend(img, px, py, col, float64(hits)/(supersample*supersample))
			}
		}
	}
}

// blend moves pixel (x, y) a fraction c of the way to col.
func blend(img *image.RGBA, x, y int, col color.RGBA, c float64) {
	o := img.PixOffset(x, y)
	p := img.Pix[o : o+3 : o+3]
	for k, v := range [3]uint8{col.R, col.G, col.B} {
		p[k] = uint8(math.Round(float64(p[k])*(1-c) + float64(v)*c))
	}
}

// DrawText paints text in col with the built-in font, laid out by TextLayout for the image's
// width (images are square).
func DrawText(img *image.RGBA, text string, col Color) {
	b := img.Bounds()
	runes := []rune(text)
	scale, x0, y0 := TextLayout(b.Dx(), len(runes))
	rgb := col.RGBA()
	for i, r := range runes {
		g := Glyph(r)
		gx := b.Min.X + x0 + i*(GlyphW+1)*scale
		for fy := 0; fy < GlyphH; fy++ {
			for fx := 0; fx < GlyphW; fx++ {
				if !g[fy][fx] {
					continue
				}
				for dy := 0; dy < scale; dy++ {
					for dx := 0; dx < scale; dx++ {
						img.SetRGBA(gx+fx*scale+dx, b.Min.Y+y0+fy*scale+dy, rgb)
					}
				}
			}
		}
	}
}

// sceneGeometry holds the size rules for shapes on a size×size image, all scaled from the
// 32×32 values: shapes 8–12 px (7–10 px when three or four share the image), at least 3 px
// of black between shapes and 1 px to the border.
type sceneGeometry struct {
	minSide, maxSide, gap, margin int
}

func geometry(size, objects int) sceneGeometry {
	f := float64(size) / 32
	px := func(v float64) int { return max(1, int(math.Round(v*f))) }
	g := sceneGeometry{minSide: px(8), maxSide: px(12), gap: max(3, px(3)), margin: px(1)}
	if objects >= 3 {
		g.minSide, g.maxSide = px(7), px(10)
	}
	return g
}

// PlaceScene lays out the shapes a Compose spec asks for on a size×size image: counts are
// drawn for unnumbered plurals (two or three), colours for colourless clauses (never a pair
// for which avoid reports true; avoid may be nil), and positions uniformly at random subject
// to the gaps of sceneGeometry and to the relation, which is drawn clearly: the second shape
// lies along the relation's axis, at least a shape apart, within ±22° of it.
func PlaceScene(spec Spec, size int, rng RNG, avoid func(Color, Kind) bool) ([]Shape, error) {
	if size < MinSize {
		return nil, fmt.Errorf("world: image size %d is below the minimum %d", size, MinSize)
	}
	if spec.Family != Compose {
		return nil, fmt.Errorf("world: PlaceScene needs a composition spec, got %q", spec)
	}
	if err := spec.Validate(); err != nil {
		return nil, fmt.Errorf("world: %q: %v", spec, err)
	}
	var shapes []Shape
	left := MaxObjects - spec.Objects()
	for ci, c := range spec.Clauses {
		n := c.Count
		if n == 0 {
			n = 2 + rng.Intn(min(1, left)+1)
			left -= n - 2
		}
		for range n {
			col := c.Color
			if col == AnyColor {
				col = pickColor(rng, c.Kind, avoid)
			}
			shapes = append(shapes, Shape{Kind: c.Kind, Color: col, Clause: ci})
		}
	}
	g := geometry(size, len(shapes))
	for attempt := 0; attempt < 200; attempt++ {
		if placeAll(shapes, size, g, spec.Relation, rng) {
			return shapes, nil
		}
	}
	return nil, fmt.Errorf("world: could not place %q on a %d×%d image", spec, size, size)
}

func pickColor(rng RNG, k Kind, avoid func(Color, Kind) bool) Color {
	var ok []Color
	for _, c := range Colors {
		if avoid == nil || !avoid(c, k) {
			ok = append(ok, c)
		}
	}
	if len(ok) == 0 {
		ok = Colors
	}
	return ok[rng.Intn(len(ok))]
}

// placeAll draws sizes and positions for every shape; it gives up (false) when one shape finds
// no free spot in a bounded number of tries, and the caller starts over.
func placeAll(shapes []Shape, size int, g sceneGeometry, rel Relation, rng RNG) bool {
	for i := range shapes {
		s := &shapes[i]
		s.Size = intRange(rng, g.minSide, g.maxSide)
		placed := false
		for try := 0; try < 100 && !placed; try++ {
			s.X = intRange(rng, g.margin, size-g.margin-s.Size)
			s.Y = intRange(rng, g.margin, size-g.margin-s.Size)
			placed = true
			for j := 0; j < i && placed; j++ {
				placed = apart(*s, shapes[j], g.gap)
			}
			if placed && rel != NoRelation && i == 1 {
				placed = clearRelation(shapes[0], *s, rel, g.gap)
			}
		}
		if !placed {
			return false
		}
	}
	return true
}

// apart reports whether two shapes' boxes are at least gap pixels apart along some axis.
func apart(a, b Shape, gap int) bool {
	return a.X+a.Size+gap <= b.X || b.X+b.Size+gap <= a.X ||
		a.Y+a.Size+gap <= b.Y || b.Y+b.Size+gap <= a.Y
}

// clearRelation reports whether b sits unmistakably in the relation's direction from a: its
// centre at least half their summed sides plus the gap along the axis, and the sideways offset
// at most 0.4 of that distance.
func clearRelation(a, b Shape, rel Relation, gap int) bool {
	ax, ay := a.Center()
	bx, by := b.Center()
	ux, uy := rel.Axis()
	along := (bx-ax)*ux + (by-ay)*uy
	across := math.Abs((bx-ax)*uy - (by-ay)*ux)
	return along >= float64(a.Size+b.Size)/2+float64(gap) && across <= 0.4*along
}

// RenderShapes draws shapes on a black size×size image.
func RenderShapes(size int, shapes []Shape) *image.RGBA {
	img := Blank(size)
	for _, s := range shapes {
		DrawShape(img, s)
	}
	return img
}
