package reward

import (
	"image"
	"math"
	"slices"
)

// Pref is a dense, prompt-free image-quality score in [0, 1], standing in for PickScore. It
// rewards what the world's ground-truth images have and generated images tend to lack:
//
//	Pref = Sharpness × Cleanliness
//
//	Sharpness    Σg² / Σg with g = max(0, |∇v| − 0.03), ∇v the forward differences of the
//	             brightness v (brightest channel, in [0,1]): the gradient-weighted mean edge
//	             steepness. A full-contrast edge one pixel wide gives about 1; blurring it over
//	             k pixels gives about 1/k; dim ink scales it down; the many moderate gradients
//	             of noise pull it down, while gradients of a few grey levels are ignored. It does
//	             not depend on how many edges there are, so it does not ask for more shapes.
//	Cleanliness  exp(−D / 0.05), where D is the mean over the darker half of the pixels of
//	             their channel mean: 1 for a black background, lower for noisy or washed-out
//	             ones (about 0.45 under ±40 noise).
//
// Both factors are continuous in the pixel values, so the score moves smoothly with the image.
// It is a proxy with the usual loophole of learned aesthetic scores: a full-contrast,
// single-pixel checkerboard also scores 1, which the KL term of the fine-tuning is there to
// prevent.
func Pref(img image.Image) float64 {
	p := toPlanes(img)
	mean := make([]float64, p.w*p.h)
	for i := range mean {
		mean[i] = (p.c[0][i] + p.c[1][i] + p.c[2][i]) / 3
	}
	return sharpness(p.brightness(), p.w, p.h) * cleanliness(mean)
}

// gradFloor is subtracted from every gradient magnitude before sharpness weighs it, so that
// the faint gradients of a few grey levels (quantisation, slight noise) do not count as edges.
const gradFloor = 0.03

// sharpness is the gradient-weighted mean gradient magnitude of v, gradients first lowered by
// gradFloor (0 for a flat image).
func sharpness(v []float64, w, h int) float64 {
	s1, s2 := 0.0, 0.0
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := y*w + x
			gx, gy := 0.0, 0.0
			if x+1 < w {
				gx = v[i+1] - v[i]
			}
			if y+1 < h {
				gy = v[i+w] - v[i]
			}
			g := math.Max(0, math.Hypot(gx, gy)-gradFloor)
			s1 += g
			s2 += g * g
		}
	}
	if s1 < 1e-9 {
		return 0
	}
	return math.Min(1, s2/s1)
}

// cleanliness is exp(−D/0.05) with D the mean of the darker half of v.
func cleanliness(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	half := s[:max(1, len(s)/2)]
	d := 0.0
	for _, x := range half {
		d += x
	}
	d /= float64(len(half))
	return math.Exp(-d / 0.05)
}

type prefReward struct{}

func (prefReward) Name() string { return "pref" }

func (prefReward) Score(_ string, img image.Image) (float64, error) {
	if err := checkSize("pref", img); err != nil {
		return 0, err
	}
	return Pref(img), nil
}
