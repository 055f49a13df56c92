package world

import (
	"math"
	"math/rand"
	"testing"
)

// TestCaptionNoiseExtremes: with every probability 0 captions are exact; with every
// probability 1 each kind of omission happens.
func TestCaptionNoiseExtremes(t *testing.T) {
	w := testWorld(t, 32)
	rng := rand.New(rand.NewSource(1))
	spec := Spec{Family: Compose, Clauses: []Clause{{1, Red, Circle}, {1, Blue, Square}}, Relation: LeftOf}
	counted := composeSpec(Clause{3, Green, Triangle}, Clause{1, Yellow, Circle})
	text := Spec{Family: Text, Text: "K7Q"}

	w.cfg.Captions = CaptionNoise{}
	for _, s := range []Spec{spec, counted, text} {
		var c Spec
		if s.Family == Text {
			c = w.textCaption(s, rng)
		} else {
			c = w.composeCaption(s, rng)
		}
		if !c.Equal(s) {
			t.Fatalf("noise-free caption of %q is %q", s, c)
		}
	}

	w.cfg.Captions = CaptionNoise{DropRelation: 1, DropCount: 1, DropColor: 1}
	if got := w.composeCaption(spec, rng).String(); got != "a circle and a square" {
		t.Fatalf("relation and colours not dropped: %q", got)
	}
	if got := w.composeCaption(counted, rng).String(); got != "triangles and a circle" {
		t.Fatalf("count and colours not dropped: %q", got)
	}
	// A colour is kept where dropping it would make the clauses overlap.
	two := composeSpec(Clause{1, Red, Circle}, Clause{1, Blue, Circle})
	if got := w.composeCaption(two, rng); got.Validate() != nil || got.Clauses[1].Color != Blue {
		t.Fatalf("caption %q of %q", got, two)
	}
	w.cfg.Captions = CaptionNoise{DropClause: 1}
	if got := w.composeCaption(spec, rng); len(got.Clauses) != 1 || got.Relation != NoRelation {
		t.Fatalf("clause not dropped: %q", got)
	}
	w.cfg.Captions = CaptionNoise{TextTypo: 1}
	if got := w.textCaption(text, rng); len(got.Text) != 3 || hamming(got.Text, "K7Q") != 1 {
		t.Fatalf("typo caption %q", got)
	}
	w.cfg.Captions = CaptionNoise{TextDropped: 1}
	if got := w.textCaption(text, rng).String(); got != "a sign" {
		t.Fatalf("dropped text caption %q", got)
	}
}

// hamming counts the positions where two equally long strings differ.
func hamming(a, b string) int {
	d := 0
	for i := range a {
		if a[i] != b[i] {
			d++
		}
	}
	return d
}

// TestSample: pretraining pairs come from the training side of the split, in the configured
// mix, with parseable captions, and the default caption noise leaves a sizeable share of
// scene captions short of their scene.
func TestSample(t *testing.T) {
	w := testWorld(t, 32)
	rng := rand.New(rand.NewSource(2))
	const n = 2000
	texts, plural, noCount := 0, 0, 0
	for i := 0; i < n; i++ {
		img, caption := w.Sample(rng)
		if img.Bounds().Dx() != 32 || img.Bounds().Dy() != 32 {
			t.Fatalf("image %v", img.Bounds())
		}
		s, err := Parse(caption)
		if err != nil {
			t.Fatal(err)
		}
		if w.Split().HeldOut(s) {
			t.Fatalf("pretraining caption %q is held out", caption)
		}
		if s.Family == Text {
			texts++
			continue
		}
		for _, c := range s.Clauses {
			if c.Count != 1 {
				plural++
				if c.Count == 0 {
					noCount++
				}
			}
		}
	}
	frac := float64(texts) / n
	// Binomial standard deviation at n = 2000 is about 0.011; allow 4σ.
	if math.Abs(frac-w.cfg.TextFraction) > 0.045 {
		t.Errorf("sign fraction %.3f, want %.2f", frac, w.cfg.TextFraction)
	}
	if r := float64(noCount) / float64(plural); math.Abs(r-w.cfg.Captions.DropCount) > 0.06 {
		t.Errorf("unnumbered plurals: %.3f of plural clauses, want about %.2f", r, w.cfg.Captions.DropCount)
	}
}

// With PretrainHeldOut, pretraining samples use the held-out combinations about as often as
// the generators draw them; the training prompts still never do.
func TestSamplePretrainHeldOut(t *testing.T) {
	cfg := DefaultConfig()
	cfg.PretrainHeldOut = true
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(3))
	const n = 2000
	held := 0
	for i := 0; i < n; i++ {
		_, caption := w.Sample(rng)
		s, err := Parse(caption)
		if err != nil {
			t.Fatal(err)
		}
		if w.Split().HeldOut(s) {
			held++
		}
	}
	// About one scene in four and one sign string in eight touch the split; captions drop
	// some of it, so the share of held-out captions is lower but far from zero.
	if held < n/20 {
		t.Fatalf("%d of %d pretraining captions held out with PretrainHeldOut; want at least %d", held, n, n/20)
	}
	for _, task := range w.Tasks() {
		for _, p := range task.Train {
			s, err := Parse(p)
			if err != nil {
				t.Fatal(err)
			}
			if w.Split().HeldOut(s) {
				t.Fatalf("training prompt %q of task %s is held out", p, task.Name)
			}
		}
	}
}
