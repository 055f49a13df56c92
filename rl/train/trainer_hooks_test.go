package train

import (
	"context"
	"slices"
	"strings"
	"testing"
)

// The profiling hooks see every step's number before it runs (and Steps+1 at the end), and
// phases that open and close in order: rollout, advantage, train, and eval where one is due.
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
	step := "+rollout -rollout +advantage -advantage +train -train"
	want := step + " " + step + " +eval -eval"
	if got := strings.Join(events, " "); got != want {
		t.Fatalf("phases:\n got %s\nwant %s", got, want)
	}
}
