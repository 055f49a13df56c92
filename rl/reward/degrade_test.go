package reward

import (
	"image"
	"math"
	"math/rand"
)

// The degradations the rewards must survive: what a small generator's samples look like next
// to the ground truth.

// blur convolves every channel with a Gaussian of standard deviation sigma (edges clamped).
func blur(img *image.RGBA, sigma float64) *image.RGBA {
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
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	pass := func(src *image.RGBA, dx, dy int) *image.RGBA {
		dst := image.NewRGBA(b)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				var acc [3]float64
				for i, kv := range k {
					xx := min(max(x+(i-r)*dx, 0), w-1)
					yy := min(max(y+(i-r)*dy, 0), h-1)
					o := src.PixOffset(xx, yy)
					for c := 0; c < 3; c++ {
						acc[c] += kv * float64(src.Pix[o+c])
					}
				}
				o := dst.PixOffset(x, y)
				for c := 0; c < 3; c++ {
					dst.Pix[o+c] = uint8(math.Round(acc[c]))
				}
				dst.Pix[o+3] = 255
			}
		}
		return dst
	}
	return pass(pass(img, 1, 0), 0, 1)
}

func clampByte(v float64) uint8 { return uint8(math.Round(math.Min(255, math.Max(0, v)))) }

// noise adds independent uniform noise in [−amp, amp] to every channel of every pixel.
func noise(img *image.RGBA, amp float64, rng *rand.Rand) *image.RGBA {
	out := image.NewRGBA(img.Bounds())
	copy(out.Pix, img.Pix)
	for i := range out.Pix {
		if i%4 != 3 {
			out.Pix[i] = clampByte(float64(out.Pix[i]) + amp*(2*rng.Float64()-1))
		}
	}
	return out
}

// shift adds one offset in [−amp, amp] per channel to every non-black pixel: ink colours off by
// up to amp per channel.
func shift(img *image.RGBA, amp float64, rng *rand.Rand) *image.RGBA {
	out := image.NewRGBA(img.Bounds())
	copy(out.Pix, img.Pix)
	var off [3]float64
	for c := range off {
		off[c] = amp * (2*rng.Float64() - 1)
	}
	for i := 0; i < len(out.Pix); i += 4 {
		p := out.Pix[i : i+3]
		if p[0] == 0 && p[1] == 0 && p[2] == 0 {
			continue
		}
		f := float64(max(p[0], p[1], p[2])) / 255 // shift edges in proportion to their ink
		for c := 0; c < 3; c++ {
			p[c] = clampByte(float64(p[c]) + f*off[c])
		}
	}
	return out
}

// speckle sets a fraction of the pixels to random colours.
func speckle(img *image.RGBA, frac float64, rng *rand.Rand) *image.RGBA {
	out := image.NewRGBA(img.Bounds())
	copy(out.Pix, img.Pix)
	n := int(math.Round(frac * float64(len(out.Pix)/4)))
	for range n {
		o := 4 * rng.Intn(len(out.Pix)/4)
		for c := 0; c < 3; c++ {
			out.Pix[o+c] = uint8(rng.Intn(256))
		}
	}
	return out
}

// translate moves the image content by (dx, dy) pixels, filling with black.
func translate(img *image.RGBA, dx, dy int) *image.RGBA {
	b := img.Bounds()
	out := image.NewRGBA(b)
	for i := 3; i < len(out.Pix); i += 4 {
		out.Pix[i] = 255
	}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if p := image.Pt(x-dx, y-dy); p.In(b) {
				out.SetRGBA(x, y, img.RGBAAt(p.X, p.Y))
			}
		}
	}
	return out
}

// degradation is a named image corruption.
type degradation struct {
	name string
	f    func(img *image.RGBA, rng *rand.Rand) *image.RGBA
}

var degradations = []degradation{
	{"clean", func(img *image.RGBA, _ *rand.Rand) *image.RGBA { return img }},
	{"blur0.7", func(img *image.RGBA, _ *rand.Rand) *image.RGBA { return blur(img, 0.7) }},
	{"noise40", func(img *image.RGBA, rng *rand.Rand) *image.RGBA { return noise(img, 40, rng) }},
	{"shift40", func(img *image.RGBA, rng *rand.Rand) *image.RGBA { return shift(img, 40, rng) }},
	{"speckle1%", func(img *image.RGBA, rng *rand.Rand) *image.RGBA { return speckle(img, 0.01, rng) }},
	{"mixed", func(img *image.RGBA, rng *rand.Rand) *image.RGBA {
		return speckle(noise(shift(blur(img, 0.6), 30, rng), 25, rng), 0.005, rng)
	}},
}
