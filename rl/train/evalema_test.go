package train

import (
	"context"
	"math"
	"testing"

	"github.com/flowtune/flowtune/nn"
	"github.com/flowtune/flowtune/rl"
)

// The evaluation weights are an EMA of the policy adapter (docs/algorithms.md §7.3): after every
// optimizer step s, θ_eval ← d·θ_eval + (1−d)·θ with d = min(eval_ema, (1+s)/(10+s)), starting from
// the fresh policy. The test replays that recursion in float64 from the policy weights seen after
// each step and compares it with the adapter the trainer kept; evaluations then differ from
// those of the policy itself (eval_ema 0) except at step 0, where both are the base model.
func TestEvalEMAFollowsPolicy(t *testing.T) {
	cfg := tinyConfig("ram")
	cfg.EvalEMA, cfg.EvalEMAEvery = 0.9, 1
	tr := newTinyTrainer(t, cfg, t.TempDir())
	var want [][]float64 // the adapters' parameters pair by position
	snapshot := func(name string) [][]float64 {
		var out [][]float64
		for _, p := range nn.AdapterParams(tr.Model, name) {
			out = append(out, f64s(p.P.Data()))
		}
		return out
	}
	tr.afterStep = func(s int) {
		if want == nil { // the trainer copied the fresh policy before step 1
			t.Fatal("afterStep before the EMA was seeded")
		}
		d := min(0.9, float64(1+s)/float64(10+s))
		for k, v := range snapshot(rl.PolicyAdapter) {
			for i := range v {
				want[k][i] = d*want[k][i] + (1-d)*v[i]
			}
		}
		got := snapshot(rl.EvalAdapter)
		if len(got) != len(want) || len(got) == 0 {
			t.Fatalf("step %d: %d evaluation-EMA parameters, %d policy parameters", s, len(got), len(want))
		}
		for k, w := range want {
			for i := range w {
				if g := got[k][i]; math.Abs(g-w[i]) > 1e-6+1e-4*math.Abs(w[i]) {
					t.Fatalf("step %d: parameter %d[%d] = %g, want %g", s, k, i, g, w[i])
				}
			}
		}
	}
	tr.BeforeStep = func(s int) {
		if s == 1 { // the fresh policy, which the EMA starts from
			want = snapshot(rl.PolicyAdapter)
		}
	}
	if _, err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	withEMA := readMetrics(t, tr.OutDir)

	cfg.EvalEMA = 0
	plain := newTinyTrainer(t, cfg, t.TempDir())
	if _, err := plain.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	without := readMetrics(t, plain.OutDir)
	evals := func(recs []map[string]any) (out []float64) {
		for _, r := range recs {
			if r["kind"] == "eval" {
				out = append(out, r["reward"].(map[string]any)["brightness"].(float64))
			}
		}
		return out
	}
	a, b := evals(withEMA), evals(without)
	if len(a) != len(b) || len(a) < 2 {
		t.Fatalf("%d and %d evaluations", len(a), len(b))
	}
	if a[0] != b[0] {
		t.Errorf("step-0 evaluations differ: %v (EMA) vs %v (policy); both should be the base model", a[0], b[0])
	}
	if a[len(a)-1] == b[len(b)-1] {
		t.Errorf("the final evaluation with the EMA equals the policy's (%v): the EMA weights were not used", a[len(a)-1])
	}
}

func f64s(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}
