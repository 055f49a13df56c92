package main

// -from-truth: restore held-out ground truth from rising noise levels, to see where a model loses
// an image it is handed (diffusion.Restore).

import (
	"fmt"
	"image"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/flowtune/flowtune/diffusion"
	"github.com/flowtune/flowtune/diffusion/world"
	"github.com/flowtune/flowtune/internal/cli"
	"github.com/flowtune/flowtune/internal/plot"
	"github.com/flowtune/flowtune/rl/reward"
	"github.com/flowtune/flowtune/tensor"
)

// maxLevels bounds the -from-truth list (each level costs one held-out sampling pass).
const maxLevels = 16

// parseLevels reads -from-truth: noise levels in (0, 1], comma-separated, returned sorted and
// without repeats.
func parseLevels(s string) ([]float64, error) {
	var out []float64
	seen := map[float64]bool{}
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		v, err := strconv.ParseFloat(f, 64)
		if err != nil || !(v > 0 && v <= 1) {
			return nil, cli.Usagef("-from-truth %q: %q is not a noise level in (0, 1] (example: -from-truth 0.5,0.7,0.9,1)", s, f)
		}
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	if len(out) > maxLevels {
		return nil, cli.Usagef("-from-truth %q: %d levels, at most %d", s, len(out), maxLevels)
	}
	sort.Float64s(out)
	return out, nil
}

// restoreHeldOut renders o.n ground-truth images of every held-out prompt of the task, noises
// each to every level σ0 of -from-truth with one fixed noise draw (so the levels are paired),
// restores it with the ODE on the part of the -steps grid below σ0, and prints every reward that
// applies to the task, for the ground truth and for each level. The grid shows the first prompts:
// the ground truth, then its restoration from each level.
func restoreHeldOut(stdout io.Writer, m *diffusion.Model, src source, tok *world.Tokenizer, o options, levels []float64) error {
	t, prompts, err := heldOutPrompts(m, o)
	if err != nil {
		return err
	}
	// Kept to the end: the ground truth and one restoration per level of every image; the grid has
	// one column per level plus the ground truth where a held-out grid has -n.
	rows := min(heldOutGridRows, len(prompts))
	gridCells := (rows*(len(levels)+1) + o.n - 1) / o.n
	if err := o.checkMemory(m, len(prompts)*(len(levels)+1), min(heldOutBatch, len(prompts)), gridCells); err != nil {
		return err
	}
	out, err := newOutput(o.out, "restore_"+o.heldout+".png", o.force)
	if err != nil {
		return err
	}
	b := m.Patch.Proj.Weight.Backend()
	g := diffusion.Guided{Model: m, Uncond: diffusion.UncondCond(tok), Scale: float32(o.cfg)}
	grid := diffusion.SigmaGrid(o.steps, 3)
	size := m.Cfg.Size
	render := tensor.NewRNG(o.seed)

	truth := []image.Image{}
	restored := make([][]image.Image, len(levels))
	noised := make([][]image.Image, len(levels)) // the model's input: the floor a restoration must beat
	var all []string
	var gridRows [][]*image.RGBA
	for lo := 0; lo < len(prompts); lo += heldOutBatch {
		part := prompts[lo:min(lo+heldOutBatch, len(prompts))]
		var batch []image.Image
		var rows []string
		for _, p := range part {
			for j := 0; j < o.n; j++ {
				img, err := t.RenderPrompt(p, render)
				if err != nil {
					return err
				}
				batch = append(batch, img)
				rows = append(rows, p)
			}
		}
		c, err := diffusion.EncodePrompts(tok, rows)
		if err != nil {
			return err
		}
		x0 := tensor.New(b, world.BatchToCHW(batch), len(batch), m.Cfg.Channels, size, size)
		eps := tensor.NewRNG(o.seed+uint64(lo)).Normal(b, len(batch), m.Cfg.Channels, size, size)
		got := make([][]*image.RGBA, len(levels))
		for k, s0 := range levels {
			got[k] = diffusion.Images(diffusion.Restore(g, x0, eps, s0, grid, c))
			for _, im := range got[k] {
				restored[k] = append(restored[k], im)
			}
			for _, im := range diffusion.Images(diffusion.Interpolate(x0, eps, fillLevel(len(batch), s0))) {
				noised[k] = append(noised[k], im)
			}
		}
		truth = append(truth, batch...)
		all = append(all, rows...)
		for i := 0; i < len(part) && len(gridRows) < heldOutGridRows; i++ {
			row := []*image.RGBA{batch[i*o.n].(*image.RGBA)}
			for k := range levels {
				row = append(row, got[k][i*o.n])
			}
			gridRows = append(gridRows, row)
		}
	}

	fmt.Fprintf(stdout, "%s held-out ground truth restored: %d prompts × %d images, noised to σ0 and brought back by the ODE on the %d-step grid below σ0, cfg %g\n",
		o.heldout, len(prompts), o.n, o.steps, o.cfg)
	var names []string // the rewards that apply to the task's prompts
	for _, name := range reward.Names() {
		r, _ := reward.ByName(name)
		if _, err := reward.ScoreAll(r, all[:1], truth[:1]); err == nil {
			names = append(names, name)
		}
	}
	row := func(label, steps string, imgs []image.Image) error {
		fmt.Fprintf(stdout, "  %-6s %-6s", label, steps)
		for _, name := range names {
			r, _ := reward.ByName(name)
			s, err := reward.ScoreAll(r, all, imgs)
			if err != nil {
				return fmt.Errorf("reward %s on the %s row: %w", name, label, err)
			}
			mu, se := meanStderr(s)
			fmt.Fprintf(stdout, " %-17s", fmt.Sprintf("%.4f ± %.4f", mu, se))
		}
		fmt.Fprintln(stdout)
		return nil
	}
	fmt.Fprintf(stdout, "  %-6s %-6s", "σ0", "steps")
	for _, n := range names {
		fmt.Fprintf(stdout, " %-17s", n)
	}
	fmt.Fprintln(stdout)
	if err := row("truth", "0", truth); err != nil {
		return err
	}
	label := func(s0 float64) string { return strconv.FormatFloat(s0, 'g', 4, 64) }
	for k, s0 := range levels {
		if err := row(label(s0), strconv.Itoa(len(diffusion.TailGrid(grid, s0))-1), restored[k]); err != nil {
			return err
		}
	}
	fmt.Fprintln(stdout, "  the noised input itself, scored without the model (the floor a restoration must beat):")
	for k, s0 := range levels {
		if err := row(label(s0), "–", noised[k]); err != nil {
			return err
		}
	}

	var cols []string
	for _, s0 := range levels {
		cols = append(cols, strconv.FormatFloat(s0, 'g', 3, 64))
	}
	rowPrompts := prompts[:len(gridRows)]
	title := fmt.Sprintf("%s held-out ground truth, then restored from noise level %s; %d-step ODE grid, cfg %g, seed %d; %s",
		o.heldout, strings.Join(cols, ", "), o.steps, o.cfg, o.seed, src.short())
	if err := out.write(plot.CaptionedGrid(title, gridRows, rowPrompts, o.scale), rowPrompts); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (first prompts: ground truth, then one column per σ0)\n", out.grid)
	return nil
}

// fillLevel is n copies of the level σ0, one per image.
func fillLevel(n int, s0 float64) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(s0)
	}
	return out
}
