package train

// The captioned sample grids of the held-out evaluations: one row per prompt (its text above it),
// one column per evaluation seed, the same prompts and noise at every evaluation, so that grids of
// different steps compare image by image.

import (
	"fmt"
	"image"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/flowtune/flowtune/diffusion"
	"github.com/flowtune/flowtune/internal/atomicfile"
	"github.com/flowtune/flowtune/internal/plot"
)

// gridPrompts is how many evaluation prompts the sample grids show.
const gridPrompts = 8

// gridScale is the upscaling of each image in the sample grids.
const gridScale = 3

// Names of the sample grids in the run directory.
const (
	BaseGridFile    = "samples_base.png"    // the base model's evaluation (step 0)
	FinalGridFile   = "samples_final.png"   // the last step's evaluation
	GridPromptsFile = "samples_prompts.txt" // the grids' rows, one prompt a line
)

// StepGridFile is the grid of the evaluation after step (0: the base model).
func StepGridFile(step int) string { return fmt.Sprintf("samples_step%d.png", step) }

// saveGrids writes the captioned grid of an evaluation as StepGridFile(step) and as also (when
// not empty), and the prompts list on first use.
func (r *run) saveGrids(step int, imgs []*image.RGBA, also string, rec evalRecord) error {
	n := len(r.eval.prompts)
	k := min(gridPrompts, n)
	rows := make([][]*image.RGBA, k)
	for j := range rows {
		for seed := 0; seed < r.cfg.EvalSeeds; seed++ {
			rows[j] = append(rows[j], imgs[seed*n+j])
		}
	}
	img := plot.CaptionedGrid(r.gridTitle(step, rec), rows, r.eval.prompts[:k], gridScale)
	for _, name := range []string{StepGridFile(step), also} {
		if name == "" {
			continue
		}
		if err := diffusion.SavePNG(filepath.Join(r.t.OutDir, name), img); err != nil {
			return err
		}
	}
	list := filepath.Join(r.t.OutDir, GridPromptsFile)
	if _, err := os.Stat(list); err != nil {
		text := "rows of samples_step<N>.png, samples_base.png and samples_final.png (columns: evaluation seeds)\n" +
			strings.Join(r.eval.prompts[:k], "\n") + "\n"
		if err := atomicfile.WriteBytes(list, []byte(text)); err != nil {
			return err
		}
	}
	return nil
}

// gridTitle names the step and its held-out scores, e.g. "ram on pref, step 8/48: pref 0.7123, diversity 0.2140".
func (r *run) gridTitle(step int, rec evalRecord) string {
	names := make([]string, 0, len(rec.Reward))
	for name := range rec.Reward {
		names = append(names, name)
	}
	sort.Strings(names)
	parts := []string{}
	for _, name := range names {
		parts = append(parts, fmt.Sprintf("%s %.4f", name, rec.Reward[name]))
	}
	parts = append(parts, fmt.Sprintf("diversity %.4f", rec.Diversity))
	return fmt.Sprintf("%s on %s, step %d/%d: %s", r.cfg.Algo, r.cfg.Task, step, r.cfg.Steps, strings.Join(parts, ", "))
}
