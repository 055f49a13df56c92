package world

import (
	"fmt"
	"image"
	"math"
)

// ToCHW writes img as channel-major float32 (3, H, W) with values in [−1, 1] (0 → −1,
// 255 → +1) into dst, growing it if needed, and returns it. Alpha is ignored.
func ToCHW(img image.Image, dst []float32) []float32 {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	n := w * h
	if cap(dst) < 3*n {
		dst = make([]float32, 3*n)
	}
	dst = dst[:3*n]
	rgba, fast := img.(*image.RGBA)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var r, g, bl uint8
			if fast {
				o := rgba.PixOffset(b.Min.X+x, b.Min.Y+y)
				r, g, bl = rgba.Pix[o], rgba.Pix[o+1], rgba.Pix[o+2]
			} else {
				R, G, B, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
				r, g, bl = uint8(R>>8), uint8(G>>8), uint8(B>>8)
			}
			i := y*w + x
			dst[i] = float32(r)/127.5 - 1
			dst[n+i] = float32(g)/127.5 - 1
			dst[2*n+i] = float32(bl)/127.5 - 1
		}
	}
	return dst
}

// FromCHW turns channel-major (3, h, w) float32 in [−1, 1] back into an opaque image, clamping
// out-of-range values and rounding to the nearest 8-bit level (NaN becomes 0).
func FromCHW(chw []float32, h, w int) *image.RGBA {
	n := h * w
	if len(chw) != 3*n {
		panic(fmt.Sprintf("world.FromCHW: %d values for shape (3, %d, %d)", len(chw), h, w))
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < n; i++ {
		o := 4 * i
		for c := 0; c < 3; c++ {
			img.Pix[o+c] = toByte(chw[c*n+i])
		}
		img.Pix[o+3] = 255
	}
	return img
}

func toByte(v float32) uint8 {
	f := (float64(v) + 1) * 127.5
	if !(f > 0) { // also NaN
		return 0
	}
	if f >= 255 {
		return 255
	}
	return uint8(math.Round(f))
}

// BatchToCHW stacks images (all the same size) into one (B, 3, H, W) float32 array.
func BatchToCHW(imgs []image.Image) []float32 {
	if len(imgs) == 0 {
		return nil
	}
	b := imgs[0].Bounds()
	per := 3 * b.Dx() * b.Dy()
	out := make([]float32, len(imgs)*per)
	for i, img := range imgs {
		if img.Bounds().Size() != b.Size() {
			panic(fmt.Sprintf("world.BatchToCHW: image %d is %v, image 0 is %v", i, img.Bounds().Size(), b.Size()))
		}
		ToCHW(img, out[i*per:(i+1)*per])
	}
	return out
}

// BatchFromCHW splits a (B, 3, h, w) array into B images.
func BatchFromCHW(chw []float32, h, w int) []*image.RGBA {
	per := 3 * h * w
	if per == 0 || len(chw)%per != 0 {
		panic(fmt.Sprintf("world.BatchFromCHW: %d values is not a multiple of 3·%d·%d", len(chw), h, w))
	}
	out := make([]*image.RGBA, len(chw)/per)
	for i := range out {
		out[i] = FromCHW(chw[i*per:(i+1)*per], h, w)
	}
	return out
}
