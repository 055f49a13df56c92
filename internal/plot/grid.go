package plot

// Captioned sample grids: rows of equally sized images, each row under a caption strip (its
// prompt, wrapped to at most CaptionLines lines and cut with "..." beyond), on a dark
// background, with an optional title line at the top.

import (
	"image"
	"image/color"
	"strings"
)

// CaptionLines and TitleLines are how many lines of a row's caption and of the title are shown;
// longer ones end in "...".
const CaptionLines, TitleLines = 2, 2

const (
	gridGap      = 2  // pixels between images and around the grid
	glyphW       = 7  // advance of the 7×13 bitmap font
	lineH        = 14 // caption line height
	captionH     = CaptionLines*lineH + 4
	titleH       = TitleLines*lineH + 6
	minGridWidth = 44*glyphW + 2*gridGap // room for 44 characters a line however few images
)

// GridSize is the size of CaptionedGrid's image for rows of cols images of cell × cell pixels.
func GridSize(cols, rows, cell int, title bool) (w, h int) {
	w = max(cols*(cell+gridGap)+gridGap, minGridWidth)
	h = rows*(captionH+cell+gridGap) + gridGap
	if title {
		h += titleH
	}
	return w, h
}

// CaptionedGrid lays out rows[i] (images of one size, upscaled by scale, nearest neighbour) under
// captions[i]. A non-empty title goes on top, in lines of its own.
func CaptionedGrid(title string, rows [][]*image.RGBA, captions []string, scale int) *image.RGBA {
	cols, cell := 0, 0
	for _, r := range rows {
		cols = max(cols, len(r))
		if len(r) > 0 {
			cell = r[0].Bounds().Dx() * scale
		}
	}
	w, h := GridSize(cols, len(rows), cell, title != "")
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	fill(img, img.Bounds(), color.RGBA{40, 40, 40, 255})
	ink, dim := color.RGBA{235, 235, 235, 255}, color.RGBA{200, 200, 120, 255}
	perLine := (w - 2*gridGap) / glyphW
	y := gridGap
	if title != "" {
		for j, l := range Wrap(title, perLine, TitleLines) {
			text(img, gridGap+1, y+(j+1)*lineH-2, l, dim)
		}
		y += titleH
	}
	for i, r := range rows {
		caption := ""
		if i < len(captions) {
			caption = captions[i]
		}
		for j, l := range Wrap(caption, perLine, CaptionLines) {
			text(img, gridGap+1, y+(j+1)*lineH-2, l, ink)
		}
		y += captionH
		for j, im := range r {
			b := im.Bounds()
			ox := gridGap + j*(cell+gridGap)
			for py := 0; py < cell; py++ {
				for px := 0; px < cell; px++ {
					img.SetRGBA(ox+px, y+py, im.RGBAAt(b.Min.X+px/scale, b.Min.Y+py/scale))
				}
			}
		}
		y += cell + gridGap
	}
	return img
}

// Wrap breaks s into at most maxLines lines of at most width characters, at spaces where it can
// (a word longer than a line is cut). When s does not fit, the last line ends in "...".
func Wrap(s string, width, maxLines int) []string {
	if width < 4 || maxLines < 1 {
		return nil
	}
	var lines []string
	cur := ""
	for _, word := range strings.Fields(s) {
		for w := []rune(word); len(w) > 0; {
			switch {
			case cur == "" && len(w) > width:
				lines, w = append(lines, string(w[:width])), w[width:]
			case cur == "":
				cur, w = string(w), nil
			case len([]rune(cur))+1+len(w) <= width:
				cur, w = cur+" "+string(w), nil
			default:
				lines, cur = append(lines, cur), ""
			}
		}
	}
	if cur != "" {
		lines = append(lines, cur)
	}
	if len(lines) > maxLines {
		lines = lines[:maxLines]
		last := lines[maxLines-1]
		for len([]rune(last))+3 > width { // make room for "...", at a word boundary if there is one
			if i := strings.LastIndexByte(last, ' '); i > 0 {
				last = last[:i]
			} else {
				last = string([]rune(last)[:width-3])
			}
		}
		lines[maxLines-1] = last + "..."
	}
	return lines
}

// Truncate shortens s to at most width characters, ending in "..." when it was cut.
func Truncate(s string, width int) string {
	r := []rune(s)
	if len(r) <= width {
		return s
	}
	if width <= 3 {
		return string(r[:max(width, 0)])
	}
	return strings.TrimRight(string(r[:width-3]), " ") + "..."
}

// Stack places images one under another on white, each at the left edge.
func Stack(imgs ...*image.RGBA) *image.RGBA {
	w, h := 0, 0
	for _, im := range imgs {
		w, h = max(w, im.Bounds().Dx()), h+im.Bounds().Dy()
	}
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	fill(out, out.Bounds(), color.RGBA{255, 255, 255, 255})
	y := 0
	for _, im := range imgs {
		paste(out, im, 0, y)
		y += im.Bounds().Dy()
	}
	return out
}

// Beside places images side by side on white, each at the top edge.
func Beside(imgs ...*image.RGBA) *image.RGBA {
	w, h := 0, 0
	for _, im := range imgs {
		w, h = w+im.Bounds().Dx(), max(h, im.Bounds().Dy())
	}
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	fill(out, out.Bounds(), color.RGBA{255, 255, 255, 255})
	x := 0
	for _, im := range imgs {
		paste(out, im, x, 0)
		x += im.Bounds().Dx()
	}
	return out
}

func paste(dst, src *image.RGBA, x0, y0 int) {
	b := src.Bounds()
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			dst.SetRGBA(x0+x, y0+y, src.RGBAAt(b.Min.X+x, b.Min.Y+y))
		}
	}
}
