package train

// reward_curve.png: held-out evaluation rewards as thick lines with ±stderr bars, the training
// (rollout) rewards as thin lines in a lighter shade of the same colour.

import (
	"fmt"
	"path/filepath"

	"github.com/flowtune/flowtune/diffusion"
	"github.com/flowtune/flowtune/internal/plot"
)

// plotCurve redraws reward_curve.png from the records so far.
func (r *run) plotCurve() error {
	var ss []plot.Series
	recs := r.records()
	for i, rw := range r.rewards {
		col := plot.Palette[i%len(plot.Palette)]
		ev := plot.Series{Name: rw.name + " (held-out eval)", Col: col, Thick: true}
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
	title := fmt.Sprintf("%s on %s: reward vs step", r.cfg.Algo, r.cfg.Task)
	img := plot.Chart(title, "step", "reward", ss, float64(r.cfg.Steps))
	return diffusion.SavePNG(filepath.Join(r.t.OutDir, CurveFile), img)
}
