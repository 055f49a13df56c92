package train

import (
	"context"
	"slices"
	"strings"
	"testing"
)

// The profiling hooks see every step's number before it runs (and Steps+1 at the end), and
// phases that open and close in order: step (rollout with sample and decode per group,
// advantage, train with loss and backward per micro-batch and optimizer), and eval where one is
// due.
func TestTrainerPhaseAndStepHooks(t *testing.T) {
	cfg := tinyConfig("ram")
	cfg.Steps, cfg.EvalEvery = 2, 2
	tr := newTinyTrainer(t, cfg, t.TempDir())
	var steps []int
	var events []string
	tr.BeforeStep = func(s int) { steps = append(steps, s) }
	tr.Phase = func(name string) func() {
		events = append(events, "+"+name)
		return func() { events = append(events, "-"+name) }
	}
	if _, err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(steps, []int{1, 2, 3}) {
		t.Fatalf("BeforeStep saw %v, want [1 2 3]", steps)
	}
	// tinyConfig: 2 prompts (a sample and a decode each) and 2 micro-batches per step.
	group := "+sample -sample +decode -decode"
	micro := "+loss -loss +backward -backward"
	step := "+step +rollout " + group + " " + group + " -rollout +advantage -advantage +train " + micro + " " + micro +
		" +optimizer -optimizer -train -step"
	want := step + " " + step + " +eval -eval"
	if got := strings.Join(events, " "); got != want {
		t.Fatalf("phases:\n got %s\nwant %s", got, want)
	}
}
