package main

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/flowtune/flowtune/diffusion/world"
	"github.com/flowtune/flowtune/internal/plot"
)

func TestBadInputIsExplained(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "no -prompt given"},
		{[]string{"-prompt", "a red circle", "-heldout", "compose"}, "either -prompt or -heldout"},
		{[]string{"-prompt", "a red circle", "-n", "0"}, "-n 0 is out of range"},
		{[]string{"-heldout", "geneval", "-steps", "1"}, `unknown task "geneval"`},
		{[]string{"-prompt", "a purple circle", "-steps", "1"}, "purple"},
		{[]string{"-prompt", "x", "-model", "/nonexistent/m.safetensors"}, "/nonexistent/m.safetensors"},
		{[]string{"-prompt", "x", "-from-truth", "0.5"}, "-from-truth needs -heldout"},
		{[]string{"-heldout", "compose", "-side", "both"}, "-side must be heldout or train"},
		{[]string{"-prompt", "x", "-side", "train"}, "-side train needs -heldout TASK"},
		{[]string{"-heldout", "compose", "-from-truth", "0.5", "-sde"}, "drop -sde"},
		{[]string{"-heldout", "compose", "-from-truth", "0.5,1.5"}, `"1.5" is not a noise level in (0, 1]`},
		{[]string{"-heldout", "compose", "-from-truth", "0,0.5"}, `"0" is not a noise level`},
		{[]string{"-heldout", "compose", "-from-truth", "0.5,,1"}, `"" is not a noise level`},
		{[]string{"-heldout", "compose", "-from-truth", "NaN"}, `"NaN" is not a noise level`},
		// 128 prompts × 1024 images × 17 kept copies (truth + 16 levels) of 4096 + 64 B = 8.63 GiB
		{[]string{"-heldout", "compose", "-n", "1024", "-max-mem", "4", "-from-truth", "0.1,0.15,0.2,0.25,0.3,0.35,0.4,0.45,0.5,0.55,0.6,0.7,0.8,0.9,0.95,1"}, "images 8.63 GiB"},
	} {
		err := run(append(tc.args, "-out", filepath.Join(t.TempDir(), "x.png")), &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one containing %q", tc.args, err, tc.want)
		}
	}
}

// The grid has one row per prompt and -n columns of -scale× images; -heldout prints one line
// per reward, with the OCR reward marked as not applying to composition prompts.
func TestGridShapeAndHeldOutReport(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "g.png")
	var buf bytes.Buffer
	if err := run([]string{"-prompt", "two red circles", "-prompt", "a blue square", "-n", "3", "-steps", "2", "-scale", "2", "-out", out}, &buf); err != nil {
		t.Fatal(err)
	}
	checkPNG(t, out, 3, 2, 2)

	buf.Reset()
	out = filepath.Join(dir, "h.png")
	if err := run([]string{"-heldout", "compose", "-prompts", "3", "-n", "2", "-steps", "2", "-scale", "1", "-out", out}, &buf); err != nil {
		t.Fatal(err)
	}
	checkPNG(t, out, 2, 3, 1)
	text := buf.String()
	for _, name := range []string{"compose", "compose_strict", "jpeg", "pref"} {
		if !regexp.MustCompile(`(?m)^  ` + name + ` +-?[0-9.]+ ± [0-9.]+$`).MatchString(text) {
			t.Errorf("no score line for %s in:\n%s", name, text)
		}
	}
	// The family breakdown accounts for every image, under the world's family names.
	total := 0
	for _, m := range regexp.MustCompile(`(?m)^    ([a-z_]+) +([0-9]+) +[0-9.]+ ± [0-9.]+ +[0-9.]+ ± [0-9.]+$`).FindAllStringSubmatch(text, -1) {
		if !slices.Contains(world.ComposeFamilies, m[1]) {
			t.Errorf("unknown family %q in:\n%s", m[1], text)
		}
		n, _ := strconv.Atoi(m[2])
		total += n
	}
	if total != 6 {
		t.Errorf("family lines count %d images, want 6:\n%s", total, text)
	}
	if !strings.Contains(text, "ocr") || !strings.Contains(text, "n/a on this task") {
		t.Errorf("ocr should be reported as not applying:\n%s", text)
	}
}

// -side train scores the task's training prompts, each outside the held-out split, under its
// own header.
func TestTrainingSide(t *testing.T) {
	dir := t.TempDir()
	var buf bytes.Buffer
	if err := run([]string{"-heldout", "compose", "-side", "train", "-prompts", "3", "-n", "1", "-steps", "2", "-scale", "1", "-out", dir}, &buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "compose training-side: 3 prompts") {
		t.Fatalf("no training-side header in:\n%s", buf.String())
	}
	raw, err := os.ReadFile(filepath.Join(dir, "prompts.txt"))
	if err != nil {
		t.Fatal(err)
	}
	w, err := world.New(world.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	task, _ := w.Task("compose")
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if len(lines) != 3 {
		t.Fatalf("prompts.txt has %d rows, want 3", len(lines))
	}
	for i, p := range lines {
		if p != task.Train[i] {
			t.Fatalf("row %d is %q, want training prompt %q", i, p, task.Train[i])
		}
		spec, err := world.Parse(p)
		if err != nil || w.Split().HeldOut(spec) {
			t.Fatalf("row %d %q is held out (%v)", i, p, err)
		}
	}
}

func checkPNG(t *testing.T, path string, cols, rows, scale int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, err := png.DecodeConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	// Captioned rows of 32·scale pixel cells, with the title on top.
	if w, h := plot.GridSize(cols, rows, 32*scale, true); cfg.Width != w || cfg.Height != h {
		t.Fatalf("%s is %d×%d, want %d×%d: %d columns × %d rows of %d px cells, captioned", path, cfg.Width, cfg.Height, w, h, cols, rows, 32*scale)
	}
}

// -from-truth restores held-out ground truth: the detector scores the ground truth perfectly,
// restoring from a little noise keeps it (a run that started from pure noise would score about
// 0.2 here), every level gets one line with its number of ODE steps, and the grid has the ground
// truth and one column per level.
func TestFromTruthProfile(t *testing.T) {
	out := filepath.Join(t.TempDir(), "r.png")
	var buf bytes.Buffer
	args := []string{"-heldout", "compose", "-prompts", "4", "-n", "1", "-steps", "4", "-scale", "1",
		"-from-truth", "1, 0.05", "-out", out}
	if err := run(args, &buf); err != nil {
		t.Fatal(err)
	}
	text := buf.String()
	checkPNG(t, out, 3, 4, 1)
	line := func(label string) []float64 {
		m := regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(label) + ` +([0-9]+) +([0-9.]+) ± [0-9.]+ +([0-9.]+) ± [0-9.]+ `).FindStringSubmatch(text)
		if m == nil {
			t.Fatalf("no line for %s in:\n%s", label, text)
		}
		var v []float64
		for _, s := range m[1:] {
			f, _ := strconv.ParseFloat(s, 64)
			v = append(v, f)
		}
		return v
	}
	if v := line("truth"); v[1] != 1 || v[2] != 1 {
		t.Errorf("ground truth scores compose %g, strict %g; want 1 and 1:\n%s", v[1], v[2], text)
	}
	// The 4-step shift-3 grid is 1, 0.858, 0.602, 0.0089, 0: two steps from 0.05, four from 1.
	if v := line("0.05"); v[0] != 2 || v[1] < 0.75 {
		t.Errorf("from σ0 0.05: %g steps and compose %g; want 2 steps and compose ≥ 0.75:\n%s", v[0], v[1], text)
	}
	if v := line("1"); v[0] != 4 {
		t.Errorf("from σ0 1: %g steps, want 4:\n%s", v[0], text)
	}
	if strings.Index(text, "\n  0.05 ") > strings.Index(text, "\n  1 ") {
		t.Errorf("levels are not listed in increasing order:\n%s", text)
	}
	// The noised inputs are scored too, without a step count, after the restorations.
	at := strings.Index(text, "the noised input itself")
	if at < 0 {
		t.Fatalf("no noised-input block in:\n%s", text)
	}
	floor := text[at:]
	for _, label := range []string{"0.05", "1"} {
		if !regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(label) + ` +– +[0-9.]+ ± [0-9.]+ `).MatchString(floor) {
			t.Errorf("no noised-input line for %s in:\n%s", label, text)
		}
	}
}
