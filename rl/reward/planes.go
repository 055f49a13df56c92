package reward

import (
	"image"
	"math"
)

// planes is an image as three float64 channel planes with values in [0, 1], row-major.
type planes struct {
	w, h int
	c    [3][]float64
}

func toPlanes(img image.Image) planes {
	b := img.Bounds()
	p := planes{w: b.Dx(), h: b.Dy()}
	for k := range p.c {
		p.c[k] = make([]float64, p.w*p.h)
	}
	rgba, fast := img.(*image.RGBA)
	for y := 0; y < p.h; y++ {
		for x := 0; x < p.w; x++ {
			i := y*p.w + x
			if fast {
				o := rgba.PixOffset(b.Min.X+x, b.Min.Y+y)
				for k := 0; k < 3; k++ {
					p.c[k][i] = float64(rgba.Pix[o+k]) / 255
				}
				continue
			}
			r, g, bl, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
			p.c[0][i], p.c[1][i], p.c[2][i] = float64(r)/65535, float64(g)/65535, float64(bl)/65535
		}
	}
	return p
}

// brightness is the per-pixel maximum over the channels: every palette colour has a channel at
// full scale, so this is the ink coverage of a pixel whatever the ink's colour.
func (p planes) brightness() []float64 {
	v := make([]float64, p.w*p.h)
	for i := range v {
		v[i] = math.Max(p.c[0][i], math.Max(p.c[1][i], p.c[2][i]))
	}
	return v
}

// median3 returns the 3×3 median of one plane, counting pixels outside the image as black
// (the world's background). It removes isolated speckle and most per-pixel noise while keeping
// edges in place.
func median3(src []float64, w, h int) []float64 {
	out := make([]float64, len(src))
	var win [9]float64
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			n := 0
			for yy := y - 1; yy <= y+1; yy++ {
				for xx := x - 1; xx <= x+1; xx++ {
					win[n] = 0
					if yy >= 0 && yy < h && xx >= 0 && xx < w {
						win[n] = src[yy*w+xx]
					}
					n++
				}
			}
			// Insertion sort of the nine values.
			for i := 1; i < 9; i++ {
				for j := i; j > 0 && win[j] < win[j-1]; j-- {
					win[j], win[j-1] = win[j-1], win[j]
				}
			}
			out[y*w+x] = win[4]
		}
	}
	return out
}
