package world

import (
	"image"
	"image/color"
	"math"
	"math/rand"
	"testing"
)

func TestCHWRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewSource(4))
	img := image.NewRGBA(image.Rect(0, 0, 5, 3))
	for i := range img.Pix {
		img.Pix[i] = uint8(rng.Intn(256))
		if i%4 == 3 {
			img.Pix[i] = 255
		}
	}
	chw := ToCHW(img, nil)
	if len(chw) != 3*5*3 {
		t.Fatalf("len %d", len(chw))
	}
	// Channel-major layout and the [−1, 1] mapping, against a direct reading of the pixels.
	for y := 0; y < 3; y++ {
		for x := 0; x < 5; x++ {
			c := img.RGBAAt(x, y)
			for k, v := range []uint8{c.R, c.G, c.B} {
				got := chw[k*15+y*5+x]
				want := float32(v)/127.5 - 1
				if math.Abs(float64(got-want)) > 1e-6 {
					t.Fatalf("(%d,%d,%d): %g, want %g", k, y, x, got, want)
				}
			}
		}
	}
	back := FromCHW(chw, 3, 5)
	if string(back.Pix) != string(img.Pix) {
		t.Fatal("FromCHW(ToCHW(img)) != img")
	}
	// A non-RGBA image goes through the generic path with the same result.
	gray := image.NewGray(image.Rect(0, 0, 2, 1))
	gray.SetGray(1, 0, color.Gray{Y: 51})
	if g := ToCHW(gray, nil); g[0] != -1 || math.Abs(float64(g[1]-(51/127.5-1))) > 1e-6 || g[5] != g[1] {
		t.Fatalf("gray: %v", g)
	}
	// Batches stack images one after another.
	batch := BatchToCHW([]image.Image{img, back})
	imgs := BatchFromCHW(batch, 3, 5)
	if len(imgs) != 2 || string(imgs[1].Pix) != string(img.Pix) {
		t.Fatal("batch round trip")
	}
}

func TestFromCHWClamps(t *testing.T) {
	vals := []float32{-3, -1, -0.999, 0, 0.5, 1, 1.2, float32(math.NaN()), float32(math.Inf(1))}
	want := []uint8{0, 0, 0, 128, 191, 255, 255, 0, 255}
	chw := make([]float32, 3*len(vals))
	copy(chw, vals)
	img := FromCHW(chw, 1, len(vals))
	for i, w := range want {
		if got := img.Pix[4*i]; got != w {
			t.Errorf("value %g -> %d, want %d", vals[i], got, w)
		}
		if img.Pix[4*i+3] != 255 {
			t.Errorf("alpha %d", img.Pix[4*i+3])
		}
	}
}
