// Package plot draws small line charts as PNG-ready images with the standard library's image
// package (text in x/image's 7×13 bitmap font): axes, round ticks, a grid, ± error bars and a
// legend. The trainer draws its reward curve with it and the comparison its seed-mean curves.
package plot

// A small line chart drawn with the standard library's image package (text in
// x/image's 7×13 bitmap font). Held-out evaluation rewards are thick lines with ±stderr bars,
// the training (rollout) rewards thin lines in a lighter shade of the same colour.

import (
	"fmt"
	"image"
	"image/color"
	"math"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Series is one line of a chart.
type Series struct {
	Name  string
	Col   color.RGBA
	X, Y  []float64
	Err   []float64 // ± bars at each point (nil: none)
	Thick bool      // thick line with point markers
}

// Palette is the colour cycle for successive series.
var Palette = []color.RGBA{
	{31, 119, 180, 255}, {214, 39, 40, 255}, {44, 160, 44, 255}, {148, 103, 189, 255}, {255, 127, 14, 255}, {23, 190, 207, 255},
}

// Lighter mixes c halfway with white.
func Lighter(c color.RGBA) color.RGBA {
	return color.RGBA{uint8((int(c.R) + 255) / 2), uint8((int(c.G) + 255) / 2), uint8((int(c.B) + 255) / 2), 255}
}

// Width and Height are a chart's size in pixels.
const Width, Height = chartW, chartH

const (
	chartW, chartH = 800, 480
	marginL        = 64
	marginR        = 20
	marginT        = 36
	marginB        = 44
)

// Chart renders the series on a white Width × Height canvas with axes, ticks, a grid and a
// legend; the x axis spans [0, xMax] (widened to the data). Non-finite y values are skipped.
func Chart(title, xLabel, yLabel string, ss []Series, xMax float64) *image.RGBA {
	return ChartSized(chartW, chartH, title, xLabel, yLabel, ss, xMax)
}

// ChartSized is Chart on a w × h canvas (a panel of a larger figure).
func ChartSized(w, h int, title, xLabel, yLabel string, ss []Series, xMax float64) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	fill(img, img.Bounds(), color.RGBA{255, 255, 255, 255})
	yLo, yHi := math.Inf(1), math.Inf(-1)
	for _, s := range ss {
		for i, y := range s.Y {
			e := 0.0
			if s.Err != nil {
				e = s.Err[i]
			}
			if finite(y) {
				yLo, yHi = min(yLo, y-e), max(yHi, y+e)
			}
			xMax = max(xMax, s.X[i])
		}
	}
	if !(yHi >= yLo) {
		yLo, yHi = 0, 1
	}
	if yHi-yLo < 1e-9 {
		yLo, yHi = yLo-0.5, yHi+0.5
	}
	pad := 0.05 * (yHi - yLo)
	yLo, yHi = yLo-pad, yHi+pad
	if xMax <= 0 {
		xMax = 1
	}
	x0, x1, y0, y1 := marginL, w-marginR, h-marginB, marginT // plot box, y0 at the bottom
	px := func(x float64) int { return x0 + int(math.Round(x/xMax*float64(x1-x0))) }
	py := func(y float64) int { return y0 - int(math.Round((y-yLo)/(yHi-yLo)*float64(y0-y1))) }

	black, grey, light := color.RGBA{0, 0, 0, 255}, color.RGBA{90, 90, 90, 255}, color.RGBA{225, 225, 225, 255}
	for _, t := range ticks(yLo, yHi, 6, 0) {
		line(img, x0, py(t), x1, py(t), light, 1)
		label := trimFloat(t)
		text(img, x0-6-textWidth(label), py(t)+4, label, grey)
	}
	for _, t := range ticks(0, xMax, 8, 1) { // steps are whole numbers
		line(img, px(t), y0, px(t), y1, light, 1)
		label := trimFloat(t)
		text(img, px(t)-textWidth(label)/2, y0+16, label, grey)
	}
	line(img, x0, y0, x1, y0, black, 1)
	line(img, x0, y0, x0, y1, black, 1)
	text(img, (x0+x1)/2-textWidth(xLabel)/2, h-10, xLabel, black)
	text(img, 8, marginT-8, yLabel, black)
	text(img, w/2-textWidth(title)/2, 18, title, black)

	for _, s := range ss {
		lw := 1
		if s.Thick {
			lw = 2
		}
		for i := 1; i < len(s.X); i++ {
			if finite(s.Y[i-1]) && finite(s.Y[i]) {
				line(img, px(s.X[i-1]), py(s.Y[i-1]), px(s.X[i]), py(s.Y[i]), s.Col, lw)
			}
		}
		for i := range s.X {
			if !finite(s.Y[i]) {
				continue
			}
			if s.Err != nil && s.Err[i] > 0 {
				x, top, bot := px(s.X[i]), py(s.Y[i]+s.Err[i]), py(s.Y[i]-s.Err[i])
				line(img, x, top, x, bot, s.Col, 1)
				line(img, x-3, top, x+3, top, s.Col, 1)
				line(img, x-3, bot, x+3, bot, s.Col, 1)
			}
			if s.Thick {
				fill(img, image.Rect(px(s.X[i])-3, py(s.Y[i])-3, px(s.X[i])+4, py(s.Y[i])+4), s.Col)
			}
		}
	}

	// Legend: top-left corner of the plot box, on white.
	lx, ly, rowH := x0+10, y1+8, 16
	wMax := 0
	for _, s := range ss {
		wMax = max(wMax, textWidth(s.Name))
	}
	box := image.Rect(lx-6, ly-4, lx+30+wMax+8, ly+rowH*len(ss)+2)
	fill(img, box, color.RGBA{255, 255, 255, 255})
	rect(img, box, grey)
	for i, s := range ss {
		y := ly + rowH*i + rowH/2
		lw := 1
		if s.Thick {
			lw = 2
		}
		line(img, lx, y, lx+22, y, s.Col, lw)
		if s.Thick {
			fill(img, image.Rect(lx+8, y-3, lx+15, y+4), s.Col)
		}
		text(img, lx+30, y+4, s.Name, black)
	}
	return img
}

// ticks returns round values (1, 2 or 5 × 10^k apart, at least minStep) inside [lo, hi], about
// n of them.
func ticks(lo, hi float64, n int, minStep float64) []float64 {
	span := hi - lo
	if !(span > 0) {
		return []float64{lo}
	}
	raw := max(span/float64(n), minStep)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var out []float64
	for t := math.Ceil(lo/step) * step; t <= hi+1e-9*span; t += step {
		out = append(out, math.Round(t/step)*step)
	}
	return out
}

func trimFloat(v float64) string {
	if v == 0 {
		return "0"
	}
	return fmt.Sprintf("%.4g", v)
}

func fill(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetRGBA(x, y, c)
		}
	}
}

func rect(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	line(img, r.Min.X, r.Min.Y, r.Max.X-1, r.Min.Y, c, 1)
	line(img, r.Min.X, r.Max.Y-1, r.Max.X-1, r.Max.Y-1, c, 1)
	line(img, r.Min.X, r.Min.Y, r.Min.X, r.Max.Y-1, c, 1)
	line(img, r.Max.X-1, r.Min.Y, r.Max.X-1, r.Max.Y-1, c, 1)
}

// line draws from (xa, ya) to (xb, yb) with Bresenham's algorithm, each point a w×w square.
func line(img *image.RGBA, xa, ya, xb, yb int, c color.RGBA, w int) {
	dx, dy := abs(xb-xa), -abs(yb-ya)
	sx, sy := sign(xb-xa), sign(yb-ya)
	e := dx + dy
	for {
		fill(img, image.Rect(xa, ya, xa+w, ya+w), c)
		if xa == xb && ya == yb {
			return
		}
		e2 := 2 * e
		if e2 >= dy {
			e += dy
			xa += sx
		}
		if e2 <= dx {
			e += dx
			ya += sy
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func sign(v int) int {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}

// text draws s with its baseline at y.
func text(img *image.RGBA, x, y int, s string, c color.RGBA) {
	d := font.Drawer{Dst: img, Src: image.NewUniform(c), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

func textWidth(s string) int { return font.MeasureString(basicfont.Face7x13, s).Round() }

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
