package reward

import (
	"fmt"
	"image"
	"math"
	"sync"

	"github.com/flowtune/flowtune/diffusion/world"
)

// OCR reads a sign by analysis by synthesis: it knows where the world's renderer would put a
// string of n characters (world.TextLayout) and tries every n from 1 to world.MaxTextLen.
//
// For one n, with font scale s, each character cell is matched against the 32 glyphs of the
// alphabet at every offset within s+1 pixels of its nominal place. Matching happens at font
// resolution: the image's ink (brightest channel) is averaged over s×s blocks, read in O(1)
// per block from an integral image, giving a 7×9 patch (the 5×7 cell and a ring of the blank
// space around it), and scored by normalised cross-correlation with the glyph's bitmap. The
// line is read at the one offset where the cells' best glyphs correlate best in sum; the
// n-character reading is then redrawn and the reading whose redrawing correlates best with
// the whole image wins. Correlation ignores
// the ink's colour, brightness and the background level, and the averaging and the search
// over offsets absorb blur, noise and small displacements.

// ocrMinCorrelation is the whole-image correlation below which the image is read as blank.
const ocrMinCorrelation = 0.3

// Template patch geometry in font pixels: the glyph cell plus a one-font-pixel ring.
const (
	patchW = world.GlyphW + 2
	patchH = world.GlyphH + 2
)

// ocrTemplateBlurs are the blurs, in image pixels, glyph templates are tried at; a cell's
// score is its best correlation over glyphs and blurs.
var ocrTemplateBlurs = []float64{0, 0.7}

// glyphTemplate is one alphabet character's padded bitmap, possibly blurred, centred and
// scaled to unit norm, so that a dot product with a centred patch is a correlation.
type glyphTemplate struct {
	glyph int // index in world.Alphabet
	t     [patchW * patchH]float64
}

var templateCache sync.Map // font scale → []glyphTemplate

// glyphTemplates returns the templates for a font scale: every glyph at every blur of
// ocrTemplateBlurs (converted to font pixels, sigma/scale).
func glyphTemplates(scale int) []glyphTemplate {
	if t, ok := templateCache.Load(scale); ok {
		return t.([]glyphTemplate)
	}
	var out []glyphTemplate
	for _, sigma := range ocrTemplateBlurs {
		if sigma > 0 && sigma/float64(scale) < 0.3 {
			continue // at large scales the blur hardly changes the font-pixel averages
		}
		for gi, r := range world.Alphabet {
			g := world.Glyph(r)
			bitmap := make([]float64, patchW*patchH)
			for y := 0; y < world.GlyphH; y++ {
				for x := 0; x < world.GlyphW; x++ {
					if g[y][x] {
						bitmap[(y+1)*patchW+x+1] = 1
					}
				}
			}
			bitmap = gaussianBlur(bitmap, patchW, patchH, sigma/float64(scale))
			gt := glyphTemplate{glyph: gi}
			mean := 0.0
			for _, b := range bitmap {
				mean += b
			}
			mean /= patchW * patchH
			norm := 0.0
			for i, b := range bitmap {
				gt.t[i] = b - mean
				norm += gt.t[i] * gt.t[i]
			}
			norm = math.Sqrt(norm)
			for i := range gt.t {
				gt.t[i] /= norm
			}
			out = append(out, gt)
		}
	}
	templateCache.Store(scale, out)
	return out
}

// integral is a summed-area table of one plane; sums over windows reaching outside the image
// count the outside as zero.
type integral struct {
	w, h int
	s    []float64 // (w+1)×(h+1)
}

func newIntegral(v []float64, w, h int) integral {
	ii := integral{w: w, h: h, s: make([]float64, (w+1)*(h+1))}
	for y := 0; y < h; y++ {
		row := 0.0
		for x := 0; x < w; x++ {
			row += v[y*w+x]
			ii.s[(y+1)*(w+1)+x+1] = ii.s[y*(w+1)+x+1] + row
		}
	}
	return ii
}

// sum is the total over [x0, x1) × [y0, y1).
func (ii integral) sum(x0, y0, x1, y1 int) float64 {
	x0, x1 = max(0, min(x0, ii.w)), max(0, min(x1, ii.w))
	y0, y1 = max(0, min(y0, ii.h)), max(0, min(y1, ii.h))
	W := ii.w + 1
	return ii.s[y1*W+x1] - ii.s[y0*W+x1] - ii.s[y1*W+x0] + ii.s[y0*W+x0]
}

// ReadText returns the string on a sign image ("" when it finds none).
func ReadText(img image.Image) string {
	p := toPlanes(img)
	v := p.brightness()
	ii := newIntegral(v, p.w, p.h)
	best, bestScore := "", ocrMinCorrelation
	for n := 1; n <= world.MaxTextLen; n++ {
		text, score := readN(v, ii, p.w, p.h, n)
		if score > bestScore {
			best, bestScore = text, score
		}
	}
	return best
}

// readN reads the image as a string of exactly n characters and returns the reading and the
// correlation of its redrawing with the image. The line is read at the common offset (within
// scale+1 pixels of the layout's place in each direction) whose best glyphs have the largest
// summed correlation: one offset for all cells, so that noise cannot pull single cells astray.
func readN(v []float64, ii integral, w, h, n int) (string, float64) {
	scale, x0, y0 := world.TextLayout(w, n)
	radius := scale + 1
	side := 2*radius + 1
	tmpl := glyphTemplates(scale)
	// best[(i*side+dy)*side+dx] is cell i's best glyph and correlation at offset (dx, dy).
	type pick struct {
		glyph int
		ncc   float64
	}
	best := make([]pick, n*side*side)
	var patch [patchW * patchH]float64
	for i := 0; i < n; i++ {
		cx := x0 + i*(world.GlyphW+1)*scale
		for dy := -radius; dy <= radius; dy++ {
			for dx := -radius; dx <= radius; dx++ {
				gx, gy := cx+dx, y0+dy
				// Average the image over the s×s blocks of the padded cell.
				mean := 0.0
				for py := 0; py < patchH; py++ {
					for px := 0; px < patchW; px++ {
						bx, by := gx+(px-1)*scale, gy+(py-1)*scale
						s := ii.sum(bx, by, bx+scale, by+scale)
						patch[py*patchW+px] = s
						mean += s
					}
				}
				mean /= patchW * patchH
				norm := 0.0
				for k := range patch {
					patch[k] -= mean
					norm += patch[k] * patch[k]
				}
				b := pick{0, -1}
				if norm > 0 {
					norm = math.Sqrt(norm)
					for _, gt := range tmpl {
						dot := 0.0
						for k, t := range gt.t {
							dot += t * patch[k]
						}
						if c := dot / norm; c > b.ncc {
							b = pick{gt.glyph, c}
						}
					}
				}
				best[(i*side+dy+radius)*side+dx+radius] = b
			}
		}
	}
	bestSum, bestOff := math.Inf(-1), 0
	for off := 0; off < side*side; off++ {
		sum := 0.0
		for i := 0; i < n; i++ {
			sum += best[i*side*side+off].ncc
		}
		if sum > bestSum {
			bestSum, bestOff = sum, off
		}
	}
	dx, dy := bestOff%side-radius, bestOff/side-radius
	ink := make([]float64, w*h) // the redrawn reading
	text := make([]byte, n)
	for i := 0; i < n; i++ {
		text[i] = world.Alphabet[best[i*side*side+bestOff].glyph]
		stamp(ink, w, h, world.Glyph(rune(text[i])), x0+i*(world.GlyphW+1)*scale+dx, y0+dy, scale)
	}
	return string(text), correlation(v, ink)
}

// stamp draws a glyph's ink as 1s at (x, y) with the given scale, clipped to the image.
func stamp(ink []float64, w, h int, g [world.GlyphH][world.GlyphW]bool, x, y, scale int) {
	for fy := 0; fy < world.GlyphH; fy++ {
		for fx := 0; fx < world.GlyphW; fx++ {
			if !g[fy][fx] {
				continue
			}
			for py := y + fy*scale; py < y+(fy+1)*scale; py++ {
				for px := x + fx*scale; px < x+(fx+1)*scale; px++ {
					if px >= 0 && px < w && py >= 0 && py < h {
						ink[py*w+px] = 1
					}
				}
			}
		}
	}
}

// correlation is the Pearson correlation of two equally long vectors (0 if either is flat).
func correlation(a, b []float64) float64 {
	n := float64(len(a))
	ma, mb := 0.0, 0.0
	for i := range a {
		ma += a[i]
		mb += b[i]
	}
	ma, mb = ma/n, mb/n
	sab, saa, sbb := 0.0, 0.0, 0.0
	for i := range a {
		da, db := a[i]-ma, b[i]-mb
		sab += da * db
		saa += da * da
		sbb += db * db
	}
	if saa == 0 || sbb == 0 {
		return 0
	}
	return sab / math.Sqrt(saa*sbb)
}

// Levenshtein is the edit distance between two strings (insertions, deletions and
// substitutions of bytes, each costing one).
func Levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			sub := prev[j-1]
			if a[i-1] != b[j-1] {
				sub++
			}
			cur[j] = min(sub, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// TextSimilarity is Flow-GRPO's OCR score: 1 − Levenshtein(target, read) / max(len(target),
// len(read)), and 1 when both are empty.
func TextSimilarity(target, read string) float64 {
	m := max(len(target), len(read))
	if m == 0 {
		return 1
	}
	return 1 - float64(Levenshtein(target, read))/float64(m)
}

type ocrReward struct{}

func (ocrReward) Name() string { return "ocr" }

func (ocrReward) Score(prompt string, img image.Image) (float64, error) {
	spec, err := world.Parse(prompt)
	if err != nil {
		return 0, fmt.Errorf("reward ocr: %v", err)
	}
	if spec.Family != world.Text || spec.Text == "" {
		return 0, fmt.Errorf("reward ocr: %q says no quoted text", prompt)
	}
	if err := checkSize("ocr", img); err != nil {
		return 0, err
	}
	return TextSimilarity(spec.Text, ReadText(img)), nil
}
