package train

import (
	"context"
	"encoding/json"
	"errors"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowtune/flowtune/diffusion"
	"github.com/flowtune/flowtune/nn"
	"github.com/flowtune/flowtune/rl"
	"github.com/flowtune/flowtune/rl/reward/rewardtest"
	"github.com/flowtune/flowtune/tensor"
)

// A run interrupted after step 2 (as Ctrl-C does) and resumed from its checkpoint must write the
// same metrics, bit for bit, and end with the same adapter weights as the run that was never
// interrupted.
func TestResumeReproducesUninterruptedRun(t *testing.T) {
	for _, algo := range Algorithms {
		t.Run(algo, func(t *testing.T) {
			cfg := tinyConfig(algo)
			cfg.CheckpointEvery = 0 // only the interruption and the end save

			straight := t.TempDir()
			if _, err := newTinyTrainer(t, cfg, straight).Run(context.Background()); err != nil {
				t.Fatal(err)
			}

			split := t.TempDir()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			first := newTinyTrainer(t, cfg, split)
			first.afterStep = func(step int) {
				if step == 2 {
					cancel()
				}
			}
			_, err := first.Run(ctx)
			if !errors.Is(err, ErrInterrupted) {
				t.Fatalf("interrupted run returned %v, want ErrInterrupted", err)
			}
			if st := readState(t, split); st.Step != 2 {
				t.Fatalf("checkpoint after the interruption holds step %d, want 2", st.Step)
			}
			if n := len(readMetrics(t, split)); n != 4 { // eval 0, train 1, train 2, eval 2
				t.Fatalf("interrupted run wrote %d records, want 4", n)
			}
			resumeMatches(t, cfg, straight, split)
			a, b := readTensors(t, filepath.Join(straight, AdaptersFile)), readTensors(t, filepath.Join(split, AdaptersFile))
			if len(a) == 0 || len(a) != len(b) {
				t.Fatalf("adapter files hold %d and %d tensors", len(a), len(b))
			}
			for name, ta := range a {
				tb := b[name]
				for i := range ta.Data {
					if math.Float32bits(ta.Data[i]) != math.Float32bits(tb.Data[i]) {
						t.Fatalf("%s[%d]: straight %v, resumed %v", name, i, ta.Data[i], tb.Data[i])
					}
				}
			}
		})
	}
}

// On the brightness reward, which a small model can move quickly, a short run must raise the
// held-out reward by far more than the evaluation noise.
func TestTinyRunRaisesHeldOutReward(t *testing.T) {
	cfg := tinyConfig("ram")
	cfg.Steps, cfg.Group, cfg.LR, cfg.EvalEvery = 8, 8, 2e-2, 4
	s, err := newTinyTrainer(t, cfg, t.TempDir()).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	r := s.Rewards["brightness"]
	t.Logf("brightness %.4f → %.4f (paired stderr %.4f, z %.1f), rollouts %.4f → %.4f", r.BaseEval, r.FinalEval, r.DeltaStderr, r.DeltaZ, r.TrainFirst, r.TrainLast)
	if !(r.Delta > 0.05) || !(r.Delta > 5*r.DeltaStderr) {
		t.Fatalf("held-out brightness %.4f → %.4f: change %.4f is not clearly beyond the noise (paired stderr %.4f)",
			r.BaseEval, r.FinalEval, r.Delta, r.DeltaStderr)
	}
	if seedGap := math.Abs(r.BaseSeedMeans[0] - r.BaseSeedMeans[1]); !(r.Delta > 5*seedGap) {
		t.Fatalf("change %.4f is not beyond the gap between the base evaluation's seed sets (%.4f)", r.Delta, seedGap)
	}
}

// A NaN loss stops the run with a clear error before the optimizer step, and leaves the last
// checkpoint (step 2) intact and resumable.
func TestNaNLossStopsAndKeepsCheckpoint(t *testing.T) {
	cfg := tinyConfig("awm")
	dir := t.TempDir()
	tr := newTinyTrainer(t, cfg, dir)
	tr.lossFault = func(step int) bool { return step == 3 }
	_, err := tr.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "NaN") || !strings.Contains(err.Error(), "checkpoint (step 2) is kept") || !strings.Contains(err.Error(), "step 3") {
		t.Fatalf("error %v does not report the NaN loss at step 3 and the kept checkpoint", err)
	}
	if st := readState(t, dir); st.Step != 2 {
		t.Fatalf("checkpoint holds step %d, want the last good step 2", st.Step)
	}
	// The weights were not updated by the failed step: the live policy equals the checkpoint.
	saved := readTensors(t, filepath.Join(dir, CheckpointFile))
	for _, p := range nn.AdapterParams(tr.Model, rl.PolicyAdapter) {
		h, ok := saved["adapter/"+p.Name]
		if !ok {
			t.Fatalf("checkpoint lacks %s", p.Name)
		}
		live := p.P.Data()
		for i := range live {
			if live[i] != h.Data[i] {
				t.Fatalf("%s[%d] moved after the NaN step: %v, checkpoint %v", p.Name, i, live[i], h.Data[i])
			}
		}
	}
	for _, rec := range readMetrics(t, dir) {
		if rec["step"].(float64) > 2 {
			t.Fatalf("a record of step %v was written after the failure", rec["step"])
		}
	}
	again := newTinyTrainer(t, cfg, dir)
	again.Resume = true
	if s, err := again.Run(context.Background()); err != nil || s.Steps != cfg.Steps {
		t.Fatalf("resuming after the NaN: %v", err)
	}
}

// The run directory's files hold what they promise, and the step-0 evaluation equals an
// independent sampling of the base model with the evaluation's prompts and seeds.
func TestRunDirectoryContents(t *testing.T) {
	cfg := tinyConfig("nft")
	dir := t.TempDir()
	tr := newTinyTrainer(t, cfg, dir)
	s, err := tr.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	recs := readMetrics(t, dir)
	var kinds []string
	for _, r := range recs {
		kinds = append(kinds, r["kind"].(string)+":"+jsonNum(r["step"]))
	}
	if got, want := strings.Join(kinds, " "), "eval:0 train:1 train:2 eval:2 train:3 train:4 eval:4"; got != want {
		t.Fatalf("records %s, want %s", got, want)
	}
	task, _ := sharedWorld(t).Task(cfg.Task)
	train := map[string]bool{}
	for _, p := range task.Train {
		train[p] = true
	}
	for _, r := range recs {
		switch r["kind"] {
		case "train":
			ps := r["prompts"].([]any)
			if len(ps) != cfg.Prompts {
				t.Fatalf("step %v drew %d prompts, want %d", r["step"], len(ps), cfg.Prompts)
			}
			for _, p := range ps {
				if !train[p.(string)] {
					t.Fatalf("step %v trained on %q, which is not a training prompt", r["step"], p)
				}
			}
			terms := r["terms"].(map[string]any)
			for _, k := range []string{"loss", "kl", "policy"} {
				if _, ok := terms[k]; !ok {
					t.Fatalf("step %v lacks loss term %q: %v", r["step"], k, terms)
				}
			}
			if z := r["zero_spread_frac"].(float64); z < 0 || z > 1 {
				t.Fatalf("zero_spread_frac %v", z)
			}
			for _, k := range []string{"rollout", "reward", "advantage", "train"} {
				if _, ok := r["time"].(map[string]any)[k]; !ok {
					t.Fatalf("step %v lacks phase time %q", r["step"], k)
				}
			}
		case "eval":
			per := toFloats(r["per_image"].(map[string]any)["brightness"])
			if len(per) != cfg.EvalPrompts*cfg.EvalSeeds {
				t.Fatalf("eval has %d images, want %d", len(per), cfg.EvalPrompts*cfg.EvalSeeds)
			}
			if m := r["reward"].(map[string]any)["brightness"].(float64); m != mean(per) {
				t.Fatalf("eval reward %v is not the mean %v of its images", m, mean(per))
			}
		}
	}

	// summary.json as written, against the records.
	var sum map[string]any
	data, err := os.ReadFile(filepath.Join(dir, SummaryFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &sum); err != nil {
		t.Fatal(err)
	}
	if sum["algo"] != "nft" || sum["steps"].(float64) != 4 || !(sum["wall_seconds"].(float64) > 0) {
		t.Fatalf("summary header: %v", sum)
	}
	br := sum["rewards"].(map[string]any)["brightness"].(map[string]any)
	base, final := recs[0]["reward"].(map[string]any)["brightness"], recs[6]["reward"].(map[string]any)["brightness"]
	if br["base_eval"] != base || br["final_eval"] != final {
		t.Fatalf("summary base/final %v/%v, records %v/%v", br["base_eval"], br["final_eval"], base, final)
	}
	if s.Rewards["brightness"].Delta != final.(float64)-base.(float64) {
		t.Fatalf("delta %v", s.Rewards["brightness"].Delta)
	}

	// Independent reference for the base evaluation: sample the untouched model ourselves.
	ref := tinyModel(t, tr.Tok)
	held := task.HeldOut
	var prompts []string
	for j := 0; j < cfg.EvalPrompts; j++ {
		prompts = append(prompts, held[j*len(held)/cfg.EvalPrompts])
	}
	c, err := diffusion.EncodePrompts(tr.Tok, prompts)
	if err != nil {
		t.Fatal(err)
	}
	var want []float64
	for seed := 0; seed < cfg.EvalSeeds; seed++ {
		x := tensor.NewRNG(cfg.EvalSeed+uint64(seed)).Normal(tensor.CPU(), len(prompts), 3, 32, 32)
		for _, img := range diffusion.Images(diffusion.SampleODE(ref, x, diffusion.SigmaGrid(cfg.EvalSteps, 3), c)) {
			v, _ := rewardtest.Brightness{}.Score("", img)
			want = append(want, v)
		}
	}
	got := toFloats(recs[0]["per_image"].(map[string]any)["brightness"])
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("base eval image %d: brightness %v, independent sampling %v", i, got[i], want[i])
		}
	}

	for _, name := range []string{ConfigFile, CurveFile, "samples_base.png", "samples_final.png", AdaptersFile, CheckpointFile} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Fatalf("run directory lacks %s: %v", name, err)
		}
	}
	f, err := os.Open(filepath.Join(dir, CurveFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil || img.Bounds().Dx() != CurveWidth || img.Bounds().Dy() != CurveHeight {
		t.Fatalf("reward curve: %v %v", err, img)
	}
	resolved, err := resolveConfig(filepath.Join(dir, ConfigFile), nil, tr.ExtraRewards)
	if err != nil {
		t.Fatal(err)
	}
	if resolved != cfg {
		t.Fatalf("config.yaml reads back as\n%+v\nwant\n%+v", resolved, cfg)
	}
	adapters := readTensors(t, filepath.Join(dir, AdaptersFile))
	if want := len(nn.AdapterParams(tr.Model, rl.PolicyAdapter)); len(adapters) != want {
		t.Fatalf("adapters file holds %d tensors, the policy adapter has %d", len(adapters), want)
	}
}

// The data cursor visits every training prompt once per epoch and continues identically from
// a saved state.
func TestCursorEpochsAndResume(t *testing.T) {
	list := []string{"a", "b", "c", "d", "e", "f", "g"}
	var st cursorState
	c := newCursor(11, len(list), &st)
	var seq []string
	for i := 0; i < 7; i++ {
		seq = append(seq, c.next(3, list)...) // 21 draws = 3 epochs
	}
	for e := 0; e < 3; e++ {
		seen := map[string]bool{}
		for _, p := range seq[e*7 : (e+1)*7] {
			seen[p] = true
		}
		if len(seen) != 7 {
			t.Fatalf("epoch %d drew %v, not a permutation", e, seq[e*7:(e+1)*7])
		}
	}
	if strings.Join(seq[:7], "") == strings.Join(seq[7:14], "") {
		t.Fatalf("epochs 0 and 1 have the same order %v", seq[:7])
	}
	var st2 cursorState
	c2 := newCursor(11, len(list), &st2)
	c2.next(5, list)
	saved := st2
	resumed := newCursor(11, len(list), &saved)
	if got := strings.Join(resumed.next(16, list), ""); got != strings.Join(seq[5:21], "") {
		t.Fatalf("resumed cursor drew %s, want %s", got, strings.Join(seq[5:21], ""))
	}
}

func readState(t *testing.T, dir string) checkpointState {
	t.Helper()
	f, err := nn.OpenSafetensors(filepath.Join(dir, CheckpointFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var st checkpointState
	if err := json.Unmarshal([]byte(f.Metadata()[metaState]), &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func readTensors(t *testing.T, path string) map[string]nn.HostTensor {
	t.Helper()
	ts, _, err := nn.ReadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

func toFloats(v any) []float64 {
	var out []float64
	for _, x := range v.([]any) {
		out = append(out, x.(float64))
	}
	return out
}

func jsonNum(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// resumeMatches resumes the interrupted run in split and checks that its metrics records are
// those of the uninterrupted run in straight, byte for byte.
func resumeMatches(t *testing.T, cfg Config, straight, split string) {
	t.Helper()
	second := newTinyTrainer(t, cfg, split)
	second.Resume = true
	if _, err := second.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	want, got := readMetricLines(t, straight), readMetricLines(t, split)
	if len(got) != len(want) {
		t.Fatalf("resumed run has %d records, uninterrupted %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("record %d differs:\nstraight %s\nresumed  %s", i, want[i], got[i])
		}
	}
}
