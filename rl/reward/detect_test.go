package reward

import (
	"image"
	"math/rand"
	"testing"

	"github.com/flowtune/flowtune/diffusion/world"
)

func testWorld(t testing.TB, size int) *world.World {
	t.Helper()
	cfg := world.DefaultConfig()
	cfg.Size, cfg.TrainPrompts, cfg.HeldOutPrompts = size, 0, 0
	w, err := world.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// TestDetectorAccuracy renders random scenes and signs of the grammar at three sizes, spoils
// them with each degradation, and requires the detectors to get at least 99% of them exactly
// right (strict compose score 1, OCR reading equal to the text) per degradation, and per image
// size over all degradations (a base model may be pretrained at 32 or 64 px: cmd/pretrain -size).
func TestDetectorAccuracy(t *testing.T) {
	const perCell = 40
	sizes := []int{32, 48, 64}
	worlds := map[int]*world.World{}
	for _, s := range sizes {
		worlds[s] = testWorld(t, s)
	}
	rng := rand.New(rand.NewSource(2024))
	sizeScenes, sizeSigns := map[int]int{}, map[int]int{}
	defer func() {
		n := perCell * len(degradations)
		for _, size := range sizes {
			t.Logf("%d px over all degradations: scenes %d/%d, signs %d/%d", size, sizeScenes[size], n, sizeSigns[size], n)
			if float64(sizeScenes[size]) < 0.99*float64(n) || float64(sizeSigns[size]) < 0.99*float64(n) {
				t.Errorf("%d px: scenes %d/%d, signs %d/%d right; want ≥ 99%%", size, sizeScenes[size], n, sizeSigns[size], n)
			}
		}
	}()
	for _, d := range degradations {
		okScenes, okSigns, n := 0, 0, 0
		for _, size := range sizes {
			w := worlds[size]
			for i := 0; i < perCell; i++ {
				n++
				spec := world.RandomComposeSpec(rng)
				img, err := w.Render(spec, rng)
				if err != nil {
					t.Fatal(err)
				}
				objs := Detect(d.f(img, rng))
				if c := CheckCompose(spec, objs); c.Strict() == 1 {
					okScenes++
					sizeScenes[size]++
				} else {
					t.Logf("%s, %d px: %q detected as %s", d.name, size, spec, describeObjects(objs))
				}
				sign := world.RandomTextSpec(rng)
				img, err = w.Render(sign, rng)
				if err != nil {
					t.Fatal(err)
				}
				if got := ReadText(d.f(img, rng)); got == sign.Text {
					okSigns++
					sizeSigns[size]++
				} else {
					t.Logf("%s, %d px: %q read as %q", d.name, size, sign.Text, got)
				}
			}
		}
		t.Logf("%-10s scenes %d/%d, signs %d/%d", d.name, okScenes, n, okSigns, n)
		if float64(okScenes) < 0.99*float64(n) || float64(okSigns) < 0.99*float64(n) {
			t.Errorf("%s: scenes %d/%d, signs %d/%d right; want ≥ 99%%", d.name, okScenes, n, okSigns, n)
		}
	}
}

// TestScaledBlurAt64: a 64 px generator blurs in proportion to its size; the 0.7 px blur of
// 32 px images is a 1.4 px blur at 64 px, and the detectors still get ≥ 99% right.
func TestScaledBlurAt64(t *testing.T) {
	w := testWorld(t, 64)
	rng := rand.New(rand.NewSource(5))
	const n = 100
	okScenes, okSigns := 0, 0
	for i := 0; i < n; i++ {
		spec := world.RandomComposeSpec(rng)
		img, err := w.Render(spec, rng)
		if err != nil {
			t.Fatal(err)
		}
		if CheckCompose(spec, Detect(blur(img, 1.4))).Strict() == 1 {
			okScenes++
		}
		sign := world.RandomTextSpec(rng)
		if img, err = w.Render(sign, rng); err != nil {
			t.Fatal(err)
		}
		if ReadText(blur(img, 1.4)) == sign.Text {
			okSigns++
		}
	}
	if okScenes < n*99/100 || okSigns < n*99/100 {
		t.Errorf("64 px, blur 1.4: scenes %d/%d, signs %d/%d right; want ≥ 99%%", okScenes, n, okSigns, n)
	}
}

// TestOCRTranslated: a sign drawn up to two pixels away from its layout position (as a
// generator may) is still read.
func TestOCRTranslated(t *testing.T) {
	rng := rand.New(rand.NewSource(12))
	ok, n := 0, 0
	for _, size := range []int{32, 48, 64} {
		w := testWorld(t, size)
		for i := 0; i < 40; i++ {
			n++
			sign := world.RandomTextSpec(rng)
			img, err := w.Render(sign, rng)
			if err != nil {
				t.Fatal(err)
			}
			moved := noise(blur(translate(img, rng.Intn(5)-2, rng.Intn(5)-2), 0.6), 25, rng)
			if got := ReadText(moved); got == sign.Text {
				ok++
			} else {
				t.Logf("%d px: %q moved, read as %q", size, sign.Text, got)
			}
		}
	}
	if float64(ok) < 0.99*float64(n) {
		t.Errorf("moved signs: %d/%d read right; want ≥ 99%%", ok, n)
	}
}

func describeObjects(objs []Object) string {
	s := "["
	for i, o := range objs {
		if i > 0 {
			s += ", "
		}
		s += o.Color.String() + " " + o.Kind.String() + " " + o.Box.String()
	}
	return s + "]"
}

// TestMismatchedPairs: an image scored against another random prompt of its task scores low,
// at 32 and at 64 px.
func TestMismatchedPairs(t *testing.T) {
	for _, size := range []int{32, 64} {
		w := testWorld(t, size)
		rng := rand.New(rand.NewSource(77))
		const n = 300
		frac, strict, ocr := 0.0, 0.0, 0.0
		for i := 0; i < n; i++ {
			spec, other := world.RandomComposeSpec(rng), world.RandomComposeSpec(rng)
			if spec.Equal(other) {
				continue
			}
			img, err := w.Render(spec, rng)
			if err != nil {
				t.Fatal(err)
			}
			c := CheckCompose(other, Detect(img))
			frac += c.Fraction()
			strict += c.Strict()
			sign, otherSign := world.RandomTextSpec(rng), world.RandomTextSpec(rng)
			img, _ = w.Render(sign, rng)
			ocr += TextSimilarity(otherSign.Text, ReadText(img))
		}
		frac, strict, ocr = frac/n, strict/n, ocr/n
		t.Logf("%d px: mismatched means: compose %.3f, compose_strict %.3f, ocr %.3f", size, frac, strict, ocr)
		if frac >= 0.5 || strict >= 0.1 || ocr >= 0.5 {
			t.Errorf("%d px: mismatched pairs score too high: compose %.3f (want < 0.5), strict %.3f (want < 0.1), ocr %.3f (want < 0.5)",
				size, frac, strict, ocr)
		}
	}
}

// TestSampleScoresOne: with exact captions, pretraining samples get full marks from the
// registry's rewards, and no sample shows a held-out colour–kind pair, at 32 and at 64 px.
func TestSampleScoresOne(t *testing.T) {
	compose, _ := ByName("compose")
	strict, _ := ByName("compose_strict")
	ocr, _ := ByName("ocr")
	for _, size := range []int{32, 64} {
		cfg := world.DefaultConfig()
		cfg.Size, cfg.TrainPrompts, cfg.HeldOutPrompts, cfg.Captions = size, 0, 0, world.CaptionNoise{}
		w, err := world.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewSource(8))
		for i := 0; i < 200; i++ {
			img, caption := w.Sample(rng)
			spec, err := world.Parse(caption)
			if err != nil {
				t.Fatal(err)
			}
			rewards := []Reward{ocr}
			if spec.Family == world.Compose {
				rewards = []Reward{compose, strict}
				for _, o := range Detect(img) {
					if w.Split().HeldPair(o.Color, o.Kind) {
						t.Fatalf("%d px: pretraining image for %q shows a held-out %s %s", size, caption, o.Color, o.Kind)
					}
				}
			}
			for _, r := range rewards {
				if s, err := r.Score(caption, img); err != nil || s != 1 {
					t.Fatalf("%d px: %s(%q) = %g, %v; want 1", size, r.Name(), caption, s, err)
				}
			}
		}
	}
}

func TestBlankImages(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, size := range []int{32, 64} {
		for _, img := range []*image.RGBA{world.Blank(size), noise(world.Blank(size), 40, rng)} {
			if objs := Detect(img); len(objs) != 0 {
				t.Errorf("%d px: shapes on an empty image: %s", size, describeObjects(objs))
			}
			if s := ReadText(img); s != "" {
				t.Errorf("%d px: read %q on an empty image", size, s)
			}
		}
	}
}

// TestNoiseScoresNothing: Gaussian noise (the pixels of a latent at σ = 1, the start of every
// sample) must not score on compose. Without the confidence threshold the detector counted
// debris blobs in noise and this test read compose 0.11 at 32 px and 0.05 at 64 px, a floor a
// policy could climb by breaking its shapes into fragments.
func TestNoiseScoresNothing(t *testing.T) {
	rng := rand.New(rand.NewSource(11))
	for _, size := range []int{32, 64} {
		const n = 128
		total, blobs := 0.0, 0
		chw := make([]float32, 3*size*size)
		for i := 0; i < n; i++ {
			for j := range chw {
				chw[j] = float32(rng.NormFloat64())
			}
			objs := Detect(world.FromCHW(chw, size, size))
			blobs += len(objs)
			total += CheckCompose(world.RandomComposeSpec(rng), objs).Fraction() // the compose reward
		}
		t.Logf("%d px: mean compose on noise %.4f, %.2f shapes per image", size, total/n, float64(blobs)/n)
		if mean := total / n; mean > 0.01 {
			t.Errorf("%d px: Gaussian noise scores compose %.4f on average; want ≤ 0.01 (debris counted as shapes)", size, mean)
		}
	}
}
