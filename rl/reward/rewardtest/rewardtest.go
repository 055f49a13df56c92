// Package rewardtest holds rewards for tests: simple, cheap scores with a known value that a
// tiny model can learn in a few steps, shared by the tests of rl/reward and rl/train.
package rewardtest

import "image"

// Brightness scores any image by its mean channel value in [0, 1] (the prompt is ignored). It
// satisfies reward.Reward under the name "brightness".
type Brightness struct{}

func (Brightness) Name() string { return "brightness" }

func (Brightness) Score(_ string, img image.Image) (float64, error) {
	b := img.Bounds()
	s := 0.0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			s += float64(r+g+bl) / (3 * 65535)
		}
	}
	return s / float64(b.Dx()*b.Dy()), nil
}
