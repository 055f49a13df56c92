package reward

import (
	"bytes"
	"image"
	"image/jpeg"
	"math"
	"math/rand"
	"strings"
	"testing"

	"github.com/flowtune/flowtune/diffusion/world"
)

func TestRegistry(t *testing.T) {
	want := []string{"compose", "compose_strict", "ocr", "jpeg", "pref"}
	if got := Names(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("Names() = %q, want %q", got, want)
	}
	for _, n := range want {
		r, err := ByName(n)
		if err != nil || r.Name() != n {
			t.Fatalf("ByName(%q) = %v, %v", n, r, err)
		}
	}
	_, err := ByName("pickscore")
	if err == nil {
		t.Fatal("unknown reward accepted")
	}
	for _, n := range append(want, "pickscore") {
		if !strings.Contains(err.Error(), n) {
			t.Errorf("error %q does not mention %q", err, n)
		}
	}
}

func TestScoreErrors(t *testing.T) {
	img := world.Blank(32)
	cases := []struct{ reward, prompt string }{
		{"compose", `a sign that says "AB"`},
		{"compose_strict", "a red hexagon"},
		{"ocr", "a red circle"},
		{"ocr", "a sign"},
	}
	for _, c := range cases {
		r, _ := ByName(c.reward)
		if _, err := r.Score(c.prompt, img); err == nil || !strings.Contains(err.Error(), c.reward) {
			t.Errorf("%s on %q: err = %v", c.reward, c.prompt, err)
		}
	}
	for _, n := range []string{"compose", "ocr", "pref"} {
		r, _ := ByName(n)
		prompt := "a red circle"
		if n == "ocr" {
			prompt = `a sign that says "AB"`
		}
		if _, err := r.Score(prompt, image.NewRGBA(image.Rect(0, 0, 16, 16))); err == nil {
			t.Errorf("%s accepted a 16×16 image", n)
		}
		if _, err := r.Score(prompt, image.NewRGBA(image.Rect(0, 0, 32, 40))); err == nil {
			t.Errorf("%s accepted a 32×40 image", n)
		}
	}
}

// TestJPEG: the reward is minus the encoded size in kB, and a flat image is more compressible
// than the same image with noise, at 32 and at 64 px.
func TestJPEG(t *testing.T) {
	r, _ := ByName("jpeg")
	rng := rand.New(rand.NewSource(3))
	for _, size := range []int{32, 64} {
		w := testWorld(t, size)
		for i := 0; i < 20; i++ {
			img, _ := w.Sample(rng)
			flat, _ := r.Score("", img)
			noisy, _ := r.Score("", noise(img, 40, rng))
			if !(flat > noisy) {
				t.Fatalf("%d px: flat %g ≤ noisy %g", size, flat, noisy)
			}
			var buf bytes.Buffer
			if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95}); err != nil {
				t.Fatal(err)
			}
			if want := -float64(buf.Len()) / 1000; flat != want {
				t.Fatalf("%d px: jpeg reward %g, want %g", size, flat, want)
			}
		}
		black, _ := r.Score("", world.Blank(size))
		busy, _ := r.Score("", noise(world.Blank(size), 127, rng))
		if !(busy < black && black < 0) {
			t.Fatalf("%d px: JPEG rewards: black %g, noise %g; want noise < black < 0", size, black, busy)
		}
	}
}

// TestPref: the preference score ranks ground truth above its blurred, noisy and washed-out
// versions, gives 0 to a black image, stays in [0, 1], and changes little under a one-level
// change of the pixels.
func TestPref(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	for _, size := range []int{32, 64} {
		w := testWorld(t, size)
		const n = 60
		sums := map[string]float64{}
		wins := map[string]int{}
		for i := 0; i < n; i++ {
			img, _ := w.Sample(rng)
			clean := Pref(img)
			if clean < 0 || clean > 1 {
				t.Fatalf("Pref = %g outside [0, 1]", clean)
			}
			sums["clean"] += clean
			for name, bad := range map[string]*image.RGBA{
				"blur0.7": blur(img, 0.7), "blur1.2": blur(img, 1.2),
				"noise20": noise(img, 20, rng), "noise40": noise(img, 40, rng),
				"washed": wash(img),
			} {
				p := Pref(bad)
				sums[name] += p
				if clean > p {
					wins[name]++
				}
			}
			// Smoothness: moving every pixel by at most one level moves the score a little.
			if d := math.Abs(Pref(jitter(img, rng)) - clean); d > 0.06 {
				t.Fatalf("a one-level change moved Pref by %g", d)
			}
		}
		for name, s := range sums {
			t.Logf("%d px: mean Pref %-8s %.3f", size, name, s/n)
		}
		for name, won := range wins {
			if won < n*95/100 {
				t.Errorf("%d px: ground truth beat %s in only %d/%d images", size, name, won, n)
			}
		}
		if sums["blur1.2"] >= sums["blur0.7"] || sums["noise40"] >= sums["noise20"] {
			t.Errorf("%d px: stronger degradations do not score lower on average", size)
		}
		if p := Pref(world.Blank(size)); p != 0 {
			t.Errorf("black image Pref %g", p)
		}
	}
}

// wash lifts the black background to dark grey and dims the ink: a low-contrast image.
func wash(img *image.RGBA) *image.RGBA {
	out := image.NewRGBA(img.Bounds())
	for i, v := range img.Pix {
		out.Pix[i] = v
		if i%4 != 3 {
			out.Pix[i] = uint8(40 + float64(v)*0.6)
		}
	}
	return out
}

// jitter moves each channel of each pixel by −1, 0 or +1 level.
func jitter(img *image.RGBA, rng *rand.Rand) *image.RGBA {
	out := image.NewRGBA(img.Bounds())
	copy(out.Pix, img.Pix)
	for i := range out.Pix {
		if i%4 != 3 {
			out.Pix[i] = clampByte(float64(out.Pix[i]) + float64(rng.Intn(3)-1))
		}
	}
	return out
}

func TestScoreAll(t *testing.T) {
	w := testWorld(t, 32)
	rng := rand.New(rand.NewSource(6))
	var prompts []string
	var imgs []image.Image
	for i := 0; i < 40; i++ {
		spec := world.RandomComposeSpec(rng)
		img, err := w.Render(spec, rng)
		if err != nil {
			t.Fatal(err)
		}
		prompts = append(prompts, world.RandomComposeSpec(rng).String()) // mostly mismatched
		imgs = append(imgs, img)
	}
	r, _ := ByName("compose")
	got, err := ScoreAll(r, prompts, imgs)
	if err != nil {
		t.Fatal(err)
	}
	for i := range imgs {
		if want, _ := r.Score(prompts[i], imgs[i]); got[i] != want {
			t.Fatalf("image %d: ScoreAll %g, Score %g", i, got[i], want)
		}
	}
	prompts[7] = "a purple circle"
	if _, err := ScoreAll(r, prompts, imgs); err == nil || !strings.Contains(err.Error(), "image 7") {
		t.Fatalf("error %v does not name image 7", err)
	}
}
