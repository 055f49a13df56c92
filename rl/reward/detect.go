package reward

import (
	"image"
	"math"

	"github.com/flowtune/flowtune/diffusion/world"
)

// Object is one shape found by Detect.
type Object struct {
	Color world.Color
	Kind  world.Kind
	// Box is the bounding box of the shape's pixels and Area their number.
	Box  image.Rectangle
	Area int
	// Match is the correlation of the shape with a template of each kind drawn in its box
	// (indexed by world.Kind); Kind is the best of them.
	Match [3]float64
}

// Center is the centre of the object's box (relations compare box centres, as GenEval does).
func (o Object) Center() (x, y float64) {
	return float64(o.Box.Min.X+o.Box.Max.X) / 2, float64(o.Box.Min.Y+o.Box.Max.Y) / 2
}

// Detector thresholds (brightness in [0,1]; areas for a 32×32 image, scaled by area).
const (
	inkThreshold = 0.4  // a pixel is ink when its filtered brightness reaches this
	minArea32    = 10.0 // smaller blobs are debris (the smallest drawn triangle has ~24 px)
	// minMatch is the confidence threshold, like GenEval's detector score threshold: a blob
	// whose best template correlation is below it is not a shape. Rendered shapes under every
	// degradation of the detector test correlate at 0.89 or more (their lowest 1%); the debris
	// the ink threshold finds in Gaussian noise sits near 0.06. Without it, noise scores compose
	// about 0.19 and a policy can raise its reward by breaking shapes into fragments.
	minMatch = 0.5
)

// Detect finds the palette shapes in an image:
//
//  1. filter each channel with a 3×3 median (removes speckle and most per-pixel noise, keeps
//     edges in place);
//  2. mark ink where the brightest channel reaches inkThreshold;
//  3. give each ink pixel the palette colour nearest to its chromaticity, the colour divided
//     by its brightest channel (so dimmed, blurred or ±40-shifted colours keep their name);
//  4. split ink into 4-connected components of one colour and drop those under minArea;
//  5. draw a circle, a square and an upright triangle into each component's box, the way the
//     renderer draws them, and name the kind whose drawing correlates best with the filtered
//     brightness around the box;
//  6. drop the component when even the best kind correlates below minMatch: it is debris.
func Detect(img image.Image) []Object {
	p := toPlanes(img)
	w, h := p.w, p.h
	raw := p.brightness()
	for k := range p.c {
		p.c[k] = median3(p.c[k], w, h)
	}
	v := p.brightness()
	label := make([]int8, w*h) // palette index + 1, 0 = background
	for i := range v {
		if v[i] < inkThreshold {
			continue
		}
		label[i] = int8(nearestColor(p.c[0][i]/v[i], p.c[1][i]/v[i], p.c[2][i]/v[i]) + 1)
	}
	minArea := int(math.Max(4, math.Round(minArea32*float64(w*h)/(32*32))))
	seen := make([]bool, w*h)
	var objs []Object
	var stack []int
	for start := range label {
		if label[start] == 0 || seen[start] {
			continue
		}
		// Flood-fill one component, tracking its size and box.
		lab := label[start]
		box := image.Rect(start%w, start/w, start%w+1, start/w+1)
		area := 0
		stack = append(stack[:0], start)
		seen[start] = true
		for len(stack) > 0 {
			i := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			x, y := i%w, i/w
			area++
			box = box.Union(image.Rect(x, y, x+1, y+1))
			for _, n := range [4][2]int{{x - 1, y}, {x + 1, y}, {x, y - 1}, {x, y + 1}} {
				if n[0] < 0 || n[0] >= w || n[1] < 0 || n[1] >= h {
					continue
				}
				j := n[1]*w + n[0]
				if !seen[j] && label[j] == lab {
					seen[j] = true
					stack = append(stack, j)
				}
			}
		}
		if area < minArea {
			continue
		}
		o := Object{Color: world.Colors[lab-1], Box: box, Area: area}
		o.Kind, o.Match = classify(raw, w, h, box)
		if o.Match[o.Kind] < minMatch {
			continue
		}
		objs = append(objs, o)
	}
	return objs
}

// nearestColor returns the index in world.Colors whose chromaticity is closest to (r, g, b).
func nearestColor(r, g, b float64) int {
	best, bestD := 0, math.Inf(1)
	for i, c := range world.Colors {
		q := c.RGBA()
		dr, dg, db := r-float64(q.R)/255, g-float64(q.G)/255, b-float64(q.B)/255
		if d := dr*dr + dg*dg + db*db; d < bestD {
			best, bestD = i, d
		}
	}
	return best
}

// classify correlates the unfiltered brightness v around box with each kind drawn into the box
// with anti-aliased edges, and returns the best kind and all three correlations. The median
// filter can shave a pixel or two off a small triangle's apex, so for triangles the box's top
// is also tried one and two pixels higher, keeping the best correlation.
func classify(v []float64, w, h int, box image.Rectangle) (world.Kind, [3]float64) {
	var match [3]float64
	for _, k := range world.Kinds {
		match[k] = math.Inf(-1)
		for lift := 0; lift <= 2 && box.Min.Y-lift >= 0 && (lift == 0 || k == world.Triangle); lift++ {
			b := box
			b.Min.Y -= lift
			match[k] = math.Max(match[k], correlateKind(v, w, h, b, k))
		}
	}
	best := world.Circle
	for _, k := range world.Kinds {
		if match[k] > match[best] {
			best = k
		}
	}
	return best, match
}

// correlateKind returns the best correlation of v over box (grown by two pixels) with kind k
// drawn into box and blurred by each of templateBlurs: a soft image is then compared with a
// template as soft as itself, which keeps a blurred square from looking rounder than a crisp
// circle.
func correlateKind(v []float64, w, h int, box image.Rectangle, k world.Kind) float64 {
	region := box.Inset(-2).Intersect(image.Rect(0, 0, w, h))
	rw, rh := region.Dx(), region.Dy()
	obs := make([]float64, 0, rw*rh)
	cover := make([]float64, 0, rw*rh)
	const sub = 4
	bw, bh := float64(box.Dx()), float64(box.Dy())
	for y := region.Min.Y; y < region.Max.Y; y++ {
		for x := region.Min.X; x < region.Max.X; x++ {
			obs = append(obs, v[y*w+x])
			hits := 0
			for sy := 0; sy < sub; sy++ {
				vv := (float64(y-box.Min.Y) + (float64(sy)+0.5)/sub) / bh
				for sx := 0; sx < sub; sx++ {
					u := (float64(x-box.Min.X) + (float64(sx)+0.5)/sub) / bw
					if u >= 0 && u <= 1 && vv >= 0 && vv <= 1 && world.Covers(k, u, vv) {
						hits++
					}
				}
			}
			cover = append(cover, float64(hits)/(sub*sub))
		}
	}
	best := math.Inf(-1)
	for _, sigma := range templateBlurs {
		best = math.Max(best, correlation(obs, gaussianBlur(cover, rw, rh, sigma)))
	}
	return best
}

// templateBlurs are the blurs (Gaussian standard deviations in pixels) templates are tried at.
var templateBlurs = []float64{0, 0.6, 1.0}

// gaussianBlur blurs a plane separably with standard deviation sigma, counting the outside as
// zero; sigma 0 returns the plane itself.
func gaussianBlur(src []float64, w, h int, sigma float64) []float64 {
	if sigma == 0 {
		return src
	}
	r := int(math.Ceil(2 * sigma))
	k := make([]float64, 2*r+1)
	sum := 0.0
	for i := range k {
		d := float64(i - r)
		k[i] = math.Exp(-d * d / (2 * sigma * sigma))
		sum += k[i]
	}
	for i := range k {
		k[i] /= sum
	}
	tmp := make([]float64, len(src))
	out := make([]float64, len(src))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			acc := 0.0
			for i, kv := range k {
				if xx := x + i - r; xx >= 0 && xx < w {
					acc += kv * src[y*w+xx]
				}
			}
			tmp[y*w+x] = acc
		}
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			acc := 0.0
			for i, kv := range k {
				if yy := y + i - r; yy >= 0 && yy < h {
					acc += kv * tmp[yy*w+x]
				}
			}
			out[y*w+x] = acc
		}
	}
	return out
}
