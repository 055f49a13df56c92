package diffusion

import (
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/flowtune/flowtune/diffusion/world"
	"github.com/flowtune/flowtune/internal/plot"
	"github.com/flowtune/flowtune/tensor"
)

// A CI-sized pretraining run: the loss must fall, and the run must leave a loadable checkpoint
// and a sample grid behind.
func TestPretrainSmokeLossFalls(t *testing.T) {
	w, tok, m := smallPretrainModel(t, 32, 2, 2, 32)
	cfg := DefaultPretrainConfig()
	cfg.Steps, cfg.Batch, cfg.WarmupSteps, cfg.LogEvery, cfg.SampleEvery, cfg.SaveEvery = 60, 16, 10, 10, 0, 0
	cfg.LR = 3e-3
	dir := t.TempDir()
	p := &Pretrainer{Cfg: cfg, Model: m, World: w, Tok: tok, OutDir: dir, Log: zerolog.Nop(),
		SamplePrompts: DefaultSamplePrompts[:2]}
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "pretrain_log.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var losses []float64
	for _, line := range splitLines(raw) {
		var rec struct{ Loss float64 }
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatalf("bad log line %q: %v", line, err)
		}
		losses = append(losses, rec.Loss)
	}
	if len(losses) != 6 {
		t.Fatalf("want 6 log records, got %d", len(losses))
	}
	// A fresh model predicts 0, so the first loss is E‖ε − x0‖²/D ≈ 1 + E x0² (about 1.6 here);
	// 60 steps must cut it clearly.
	t.Logf("losses every 10 steps: %.3f", losses)
	if !(losses[len(losses)-1] < 0.8*losses[0]) {
		t.Fatalf("loss did not fall: %v", losses)
	}
	if _, _, err := LoadModel(tensor.CPU(), filepath.Join(dir, "base.safetensors")); err != nil {
		t.Fatalf("checkpoint not loadable: %v", err)
	}
	f, err := os.Open(filepath.Join(dir, "samples_final.png"))
	if err != nil {
		t.Fatalf("no sample grid: %v", err)
	}
	defer f.Close()
	grid, err := png.DecodeConfig(f)
	// one captioned row of 2 images (4× upscaled) per sample prompt, under a title
	if w, h := plot.GridSize(2, len(p.SamplePrompts), 4*32, true); err != nil || grid.Width != w || grid.Height != h {
		t.Fatalf("sample grid %+v (%v), want %d×%d: a captioned row per prompt", grid, err, w, h)
	}
}

func splitLines(b []byte) [][]byte {
	var out [][]byte
	start := 0
	for i, c := range b {
		if c == '\n' {
			if i > start {
				out = append(out, b[start:i])
			}
			start = i + 1
		}
	}
	return out
}

// The progress line shows the pace of the steps since the previous line, and its ETA follows a
// change of pace within a few lines: here the machine halves its speed at step 20 of 40.
func TestPretrainProgressFollowsThePace(t *testing.T) {
	w, tok, m := smallPretrainModel(t, 16, 1, 2, 16)
	cfg := DefaultPretrainConfig()
	cfg.Steps, cfg.Batch, cfg.WarmupSteps, cfg.LogEvery, cfg.SampleEvery, cfg.SaveEvery = 40, 2, 1, 1, 0, 0
	t0, calls := time.Unix(0, 0), 0
	clock := func() time.Time { // read once at the start and once a line (LogEvery 1, no budget)
		calls++
		switch {
		case calls == 1:
			return t0
		case calls <= 21:
			return t0.Add(time.Duration(calls-1) * time.Second)
		default:
			return t0.Add(time.Duration(20+2*(calls-21)) * time.Second)
		}
	}
	var out strings.Builder
	p := &Pretrainer{Cfg: cfg, Model: m, World: w, Tok: tok, OutDir: t.TempDir(), Log: zerolog.New(&out), now: clock}
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	type progress struct {
		Msg     string  `json:"message"`
		Step    int     `json:"step"`
		ImgPerS float64 `json:"img_per_s"`
		ETA     string  `json:"eta"`
	}
	lines := map[int]progress{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var rec progress
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec.Msg == "pretrain" {
			lines[rec.Step] = rec
		}
	}
	// Steps 1–20 take 1 s each, 21–40 take 2 s: at 2 images a step, 2 and then 1 img/s.
	if lines[10].ImgPerS != 2 || lines[10].ETA != "30s" || lines[30].ImgPerS != 1 || lines[40].ETA != "0s" {
		t.Fatalf("progress at steps 10, 30, 40: %+v, %+v, %+v; want 2 img/s with 30 s left, then 1 img/s", lines[10], lines[30], lines[40])
	}
	// At step 30, ten slow windows in: the pace is 0.5 + 0.5·0.7¹⁰ ≈ 0.514 steps/s, so 10 steps
	// left read 19 s, where the mean over the whole run (30 steps in 40 s) would say 13 s.
	if lines[30].ETA != "19s" {
		t.Fatalf("ETA at step 30 %q, want 19s", lines[30].ETA)
	}
}

// A loss log that cannot be written stops the run with an error naming the file, instead of a
// run that reports success with its log missing; a record JSON cannot hold is an error too.
func TestPretrainReportsLogWriteErrors(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full to make writes fail")
	}
	w, tok, m := smallPretrainModel(t, 16, 1, 2, 16)
	cfg := DefaultPretrainConfig()
	cfg.Steps, cfg.Batch, cfg.WarmupSteps, cfg.LogEvery, cfg.SampleEvery, cfg.SaveEvery = 2, 2, 1, 1, 0, 0
	dir := t.TempDir()
	// Every write to the log fails with "no space left on device".
	if err := os.Symlink("/dev/full", filepath.Join(dir, "pretrain_log.jsonl")); err != nil {
		t.Fatal(err)
	}
	p := &Pretrainer{Cfg: cfg, Model: m, World: w, Tok: tok, OutDir: dir, Log: zerolog.Nop(),
		SamplePrompts: DefaultSamplePrompts[:1]}
	err := p.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "pretrain_log.jsonl") || !strings.Contains(err.Error(), "step 1") {
		t.Fatalf("Run with an unwritable log: %v, want an error naming pretrain_log.jsonl and step 1", err)
	}

	var buf strings.Builder
	if err := writeLogRecord(&buf, map[string]any{"grad_norm": math.Inf(1)}); err == nil || buf.Len() != 0 {
		t.Fatalf("infinite grad norm: error %v, wrote %q", err, buf.String())
	}
}

// StopAfter runs a prefix of a longer schedule: the steps it takes see the learning rates of
// the Steps-long schedule, not of a schedule that ends at StopAfter, and it saves at its end.
func TestPretrainStopAfterRunsAPrefixOfTheSchedule(t *testing.T) {
	w, tok, m := smallPretrainModel(t, 16, 1, 2, 16)
	cfg := DefaultPretrainConfig()
	cfg.Steps, cfg.StopAfter, cfg.Batch, cfg.WarmupSteps, cfg.LogEvery, cfg.SampleEvery, cfg.SaveEvery = 8, 4, 2, 1, 1, 0, 0
	dir := t.TempDir()
	p := &Pretrainer{Cfg: cfg, Model: m, World: w, Tok: tok, OutDir: dir, Log: zerolog.Nop()}
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "pretrain_log.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := splitLines(raw)
	if len(lines) != 4 {
		t.Fatalf("want 4 steps logged, got %d", len(lines))
	}
	short := cfg
	short.Steps, short.StopAfter = 4, 0
	for i, line := range lines {
		var rec struct{ LR float64 }
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatal(err)
		}
		if want := cfg.lrAt(i); math.Abs(rec.LR-want) > 1e-6*want {
			t.Errorf("step %d: lr %g, want the 8-step schedule's %g", i+1, rec.LR, want)
		}
		if i == 3 && math.Abs(rec.LR-short.lrAt(i)) < 1e-6*rec.LR {
			t.Errorf("step 4: lr %g is the 4-step schedule's", rec.LR)
		}
	}
	_, meta, err := LoadModel(tensor.CPU(), filepath.Join(dir, "base.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if meta["flowtune.pretrain_step"] != "4" {
		t.Fatalf("checkpoint step %q, want 4", meta["flowtune.pretrain_step"])
	}
	bad := cfg
	bad.StopAfter = 9
	if bad.Validate() == nil {
		t.Fatal("stop_after beyond steps was accepted")
	}
}

// smallPretrainModel is the default world and tokenizer with a fresh model of the given width,
// depth, heads and timestep-feature size, for pretraining tests.
func smallPretrainModel(t *testing.T, dim, depth, heads, freq int) (*world.World, *world.Tokenizer, *Model) {
	t.Helper()
	w, err := world.New(world.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	tok := world.NewTokenizer(0)
	mcfg := DefaultModelConfig(tok.VocabSize(), tok.MaxLen)
	mcfg.Dim, mcfg.Depth, mcfg.Heads, mcfg.FreqDim = dim, depth, heads, freq
	m, err := NewModel(tensor.CPU(), mcfg)
	if err != nil {
		t.Fatal(err)
	}
	return w, tok, m
}

// A time budget fixes the schedule after the probe steps: with a budget far too short for more,
// the run stops one step after the probe and its last step has the shortened schedule's lr.
func TestPretrainTimeBudgetShortensTheSchedule(t *testing.T) {
	w, tok, m := smallPretrainModel(t, 16, 1, 2, 16)
	cfg := DefaultPretrainConfig()
	cfg.Steps, cfg.Batch, cfg.WarmupSteps, cfg.LogEvery, cfg.SampleEvery, cfg.SaveEvery = 1000, 1, 1, 1, 0, 0
	cfg.TimeBudgetS = 1e-6
	dir := t.TempDir()
	p := &Pretrainer{Cfg: cfg, Model: m, World: w, Tok: tok, OutDir: dir, Log: zerolog.Nop()}
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, meta, err := LoadModel(tensor.CPU(), filepath.Join(dir, "base.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	want := budgetProbeSteps + 1
	if meta["flowtune.pretrain_step"] != fmt.Sprint(want) {
		t.Fatalf("checkpoint step %q, want %d (the probe and one step)", meta["flowtune.pretrain_step"], want)
	}
	var saved PretrainConfig
	if err := json.Unmarshal([]byte(meta["flowtune.pretrain_config"]), &saved); err != nil || saved.Steps != want {
		t.Fatalf("checkpoint config steps %d (%v), want the budget's %d, not the upper bound %d", saved.Steps, err, want, cfg.Steps)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "pretrain_log.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var planned, last struct {
		BudgetSteps int `json:"budget_steps"`
		LR          float64
	}
	lines := splitLines(raw)
	for _, line := range lines {
		if strings.Contains(string(line), "budget_steps") {
			if err := json.Unmarshal(line, &planned); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := json.Unmarshal(lines[len(lines)-1], &last); err != nil {
		t.Fatal(err)
	}
	if planned.BudgetSteps != want {
		t.Fatalf("logged schedule %d steps, want %d", planned.BudgetSteps, want)
	}
	short := cfg
	short.Steps = want
	if got := short.lrAt(want - 1); math.Abs(last.LR-got) > 1e-6*got {
		t.Fatalf("last lr %g, want the %d-step schedule's %g", last.LR, want, got)
	}

	// The arithmetic: the budget's 97% less the time spent, at the measured rate, capped by -steps.
	for _, c := range []struct {
		max, done            int
		elapsed, per, budget float64
		want                 int
	}{
		{100000, 30, 3, 0.1, 100, 30 + 940}, // (97 − 3) / 0.1
		{500, 30, 3, 0.1, 100, 500},
		{100000, 30, 200, 0.1, 100, 31},
		{100000, 30, 3, 0, 100, 31},
	} {
		if got := budgetedSteps(c.max, c.done, c.elapsed, c.per, c.budget); got != c.want {
			t.Errorf("budgetedSteps(%d, %d, %g, %g, %g) = %d, want %d", c.max, c.done, c.elapsed, c.per, c.budget, got, c.want)
		}
	}
	bad := cfg
	bad.StopAfter = 10
	if bad.Validate() == nil {
		t.Fatal("a time budget beside stop_after was accepted")
	}
}

// A time-budgeted run re-plans when the machine slows down: a fake clock runs 10 ms a step for
// the first 60 steps, then 30 ms. The first plan (at 10 ms) would take about 16 s of a 6 s budget;
// the re-plans must move the end so the run finishes within the budget.
func TestPretrainTimeBudgetReplansWhenTheMachineSlows(t *testing.T) {
	w, tok, m := smallPretrainModel(t, 16, 1, 2, 16)
	cfg := DefaultPretrainConfig()
	cfg.Steps, cfg.Batch, cfg.WarmupSteps, cfg.LogEvery, cfg.SampleEvery, cfg.SaveEvery = 100000, 1, 1, 1, 0, 0
	cfg.TimeBudgetS = 6
	dir := t.TempDir()
	t0, calls := time.Unix(0, 0), 0
	var at time.Duration
	clock := func() time.Time { // one read a step (LogEvery 1), a few more at the plans
		calls++
		if calls <= 60 {
			at += 10 * time.Millisecond
		} else {
			at += 30 * time.Millisecond
		}
		return t0.Add(at)
	}
	p := &Pretrainer{Cfg: cfg, Model: m, World: w, Tok: tok, OutDir: dir, Log: zerolog.Nop(), now: clock}
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "pretrain_log.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var plans []int
	var last struct {
		Step     int     `json:"step"`
		ElapsedS float64 `json:"elapsed_s"`
	}
	for _, line := range splitLines(raw) {
		var rec struct {
			BudgetSteps int `json:"budget_steps"`
		}
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatal(err)
		}
		if rec.BudgetSteps > 0 {
			plans = append(plans, rec.BudgetSteps)
		} else if err := json.Unmarshal(line, &last); err != nil {
			t.Fatal(err)
		}
	}
	if len(plans) < 2 {
		t.Fatalf("plans %v: the run never re-planned after slowing down", plans)
	}
	if plans[0] < 500 || last.Step != plans[len(plans)-1] || last.Step >= plans[0]/2 {
		t.Fatalf("plans %v, last step %d: want a first plan of about 580 steps at 10 ms, and a run ending at its last plan, well short of the first", plans, last.Step)
	}
	if last.ElapsedS > cfg.TimeBudgetS {
		t.Fatalf("the run took %.2f s of its %.0f s budget", last.ElapsedS, cfg.TimeBudgetS)
	}
	if replanMoves(1000, 1010) || !replanMoves(1000, 1011) || !replanMoves(1000, 989) {
		t.Fatal("replanMoves: want a move only beyond 1%")
	}
}
