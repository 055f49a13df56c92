package reward

import (
	"fmt"
	"image"
	"math/rand"
	"testing"

	"github.com/flowtune/flowtune/diffusion/world"
)

func benchImages(b *testing.B, size int, text bool) []*image.RGBA {
	cfg := world.DefaultConfig()
	cfg.Size, cfg.TrainPrompts, cfg.HeldOutPrompts = size, 0, 0
	w, err := world.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewSource(1))
	imgs := make([]*image.RGBA, 64)
	for i := range imgs {
		spec := world.RandomComposeSpec(rng)
		if text {
			spec = world.RandomTextSpec(rng)
		}
		img, err := w.Render(spec, rng)
		if err != nil {
			b.Fatal(err)
		}
		imgs[i] = noise(blur(img, 0.6), 25, rng)
	}
	return imgs
}

// BenchmarkRewards times each reward on mildly degraded ground-truth images.
func BenchmarkRewards(b *testing.B) {
	for _, size := range []int{32, 64} {
		shapes, signs := benchImages(b, size, false), benchImages(b, size, true)
		b.Run(fmt.Sprintf("Detect/%d", size), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				Detect(shapes[i%len(shapes)])
			}
		})
		b.Run(fmt.Sprintf("ReadText/%d", size), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				ReadText(signs[i%len(signs)])
			}
		})
		b.Run(fmt.Sprintf("JPEG/%d", size), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				JPEGSize(shapes[i%len(shapes)])
			}
		})
		b.Run(fmt.Sprintf("Pref/%d", size), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				Pref(shapes[i%len(shapes)])
			}
		})
	}
}
