package train

import (
	"context"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowtune/flowtune/internal/plot"
)

func readPNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return img
}

// countColour counts the pixels of colour c inside r.
func countColour(img image.Image, r image.Rectangle, c color.RGBA) int {
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if color.RGBAModel.Convert(img.At(x, y)).(color.RGBA) == c {
				n++
			}
		}
	}
	return n
}

// Every held-out evaluation writes a captioned grid (one row per prompt, one column per seed,
// the prompt above its row); base and final are also kept under their own names; the reward
// curve carries the KL and diversity panels.
func TestEveryEvaluationWritesACaptionedGridAndTheCurveShowsKLAndDiversity(t *testing.T) {
	cfg := tinyConfig("ram")
	cfg.Steps, cfg.EvalEvery = 4, 2
	dir := t.TempDir()
	if _, err := newTinyTrainer(t, cfg, dir).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	cell := 32 * gridScale
	w, h := plot.GridSize(cfg.EvalSeeds, min(gridPrompts, cfg.EvalPrompts), cell, true)
	var step0 image.Image
	for _, name := range []string{StepGridFile(0), StepGridFile(2), StepGridFile(4), BaseGridFile, FinalGridFile} {
		img := readPNG(t, filepath.Join(dir, name))
		if img.Bounds().Dx() != w || img.Bounds().Dy() != h {
			t.Fatalf("%s is %v, want %d×%d (%d prompts × %d seeds, captioned)", name, img.Bounds(), w, h, cfg.EvalPrompts, cfg.EvalSeeds)
		}
		if name == StepGridFile(0) {
			step0 = img
		}
		if name == BaseGridFile || name == FinalGridFile {
			twin := readPNG(t, filepath.Join(dir, map[string]string{BaseGridFile: StepGridFile(0), FinalGridFile: StepGridFile(4)}[name]))
			if countColour(img, img.Bounds(), color.RGBA{235, 235, 235, 255}) != countColour(twin, twin.Bounds(), color.RGBA{235, 235, 235, 255}) {
				t.Fatalf("%s differs from its step grid", name)
			}
		}
	}
	// The caption strip above the first row holds text.
	if ink := countColour(step0, image.Rect(0, 34, w, 34+30), color.RGBA{235, 235, 235, 255}); ink < 30 {
		t.Fatalf("the first row's caption strip has %d ink pixels", ink)
	}
	if _, err := os.Stat(filepath.Join(dir, StepGridFile(1))); err == nil {
		t.Fatal("a grid at step 1, where no evaluation ran")
	}
	list, err := os.ReadFile(filepath.Join(dir, GridPromptsFile))
	if err != nil || !strings.Contains(string(list), "rows of samples_step<N>.png") {
		t.Fatalf("%s: %q, %v", GridPromptsFile, list, err)
	}

	curve := readPNG(t, filepath.Join(dir, CurveFile))
	if curve.Bounds().Dx() != CurveWidth || curve.Bounds().Dy() != CurveHeight {
		t.Fatalf("reward curve %v, want %d×%d", curve.Bounds(), CurveWidth, CurveHeight)
	}
	half := CurveWidth / 2
	klPanel := image.Rect(0, plot.Height+40, half, CurveHeight-50)
	divPanel := image.Rect(half, plot.Height+40, CurveWidth, CurveHeight-50)
	if n := countColour(curve, klPanel, plot.Palette[3]); n < 20 {
		t.Fatalf("KL panel has %d pixels of the KL series", n)
	}
	if n := countColour(curve, divPanel, plot.Palette[2]); n < 20 {
		t.Fatalf("diversity panel has %d pixels of the diversity series", n)
	}
}
