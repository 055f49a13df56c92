package train

// reward_curve.png: on top, held-out evaluation rewards as thick lines with ±stderr bars and the
// training (rollout) rewards as thin lines in a lighter shade of the same colour; below, two
// panels that tell a real gain from reward hacking: the training batch's KL from the base model,
// and the held-out samples' diversity across seeds beside the base model's.

import (
	"fmt"
	"image/color"
	"path/filepath"

	"github.com/flowtune/flowtune/diffusion"
	"github.com/flowtune/flowtune/internal/plot"
)

// CurveWidth and CurveHeight are reward_curve.png's size: the reward chart and, under it, the KL
// and diversity panels side by side.
const (
	CurveWidth  = plot.Width
	CurveHeight = plot.Height + curvePanelH
	curvePanelH = 300
)

// evalLabel names the evaluation's prompts (EvalLabel) for the charts.
func (r *run) evalLabel() string {
	if r.eval == nil {
		return "held-out"
	}
	return EvalLabel(r.eval.seen, len(r.eval.prompts))
}

// plotCurve redraws reward_curve.png from the records so far.
func (r *run) plotCurve() error {
	var ss []plot.Series
	recs := r.records()
	for i, rw := range r.rewards {
		col := plot.Palette[i%len(plot.Palette)]
		ev := plot.Series{Name: rw.name + " (" + r.evalLabel() + " eval)", Col: col, Thick: true}
		tr := plot.Series{Name: rw.name + " (train rollouts)", Col: plot.Lighter(col)}
		for _, a := range recs {
			switch a.Kind {
			case "eval":
				ev.X, ev.Y = append(ev.X, float64(a.Step)), append(ev.Y, a.Reward[rw.name])
				ev.Err = append(ev.Err, a.Stderr[rw.name])
			case "train":
				tr.X, tr.Y = append(tr.X, float64(a.Step)), append(tr.Y, a.Reward[rw.name])
			}
		}
		ss = append(ss, tr, ev)
	}
	steps := float64(r.cfg.Steps)
	title := fmt.Sprintf("%s on %s: reward vs step", r.cfg.Algo, r.cfg.Task)
	rewards := plot.Chart(title, "step", "reward", ss, steps)

	kl := plot.Series{Name: "KL from the base (train batch)", Col: plot.Palette[3]}
	div := plot.Series{Name: r.evalLabel() + " diversity", Col: plot.Palette[2], Thick: true}
	base := plot.Series{Name: "base model's", Col: color.RGBA{150, 150, 150, 255}}
	for _, a := range recs {
		switch a.Kind {
		case "train":
			kl.X, kl.Y = append(kl.X, float64(a.Step)), append(kl.Y, a.KL)
		case "eval":
			div.X, div.Y = append(div.X, float64(a.Step)), append(div.Y, a.Diversity)
		}
	}
	if len(div.Y) > 0 && div.X[0] == 0 {
		base.X, base.Y = []float64{0, steps}, []float64{div.Y[0], div.Y[0]}
	}
	w := plot.Width / 2
	panels := plot.Beside(
		plot.ChartSized(w, curvePanelH, "KL from the base model", "step", "KL", []plot.Series{kl}, steps),
		plot.ChartSized(plot.Width-w, curvePanelH, "diversity (RMS distance across seeds)", "step", "diversity", []plot.Series{base, div}, steps))
	return diffusion.SavePNG(filepath.Join(r.t.OutDir, CurveFile), plot.Stack(rewards, panels))
}
