package train

import (
	"context"
	"errors"
	"testing"
)

// Ctrl-C during the last step of a run (cfg.Steps 2) is honoured at once: the final held-out
// evaluation is abandoned, the checkpoint holds step 2 without that evaluation's record, and the
// resumed run evaluates first and ends with the same records, bit for bit, as a run that was
// never interrupted.
func TestInterruptAbandonsFinalEvaluation(t *testing.T) {
	cfg := tinyConfig("ram")
	cfg.Steps, cfg.EvalEvery, cfg.CheckpointEvery = 2, 0, 0

	straight := t.TempDir()
	if _, err := newTinyTrainer(t, cfg, straight).Run(context.Background()); err != nil {
		t.Fatal(err)
	}

	split := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first := newTinyTrainer(t, cfg, split)
	first.BeforeStep = func(step int) {
		if step == cfg.Steps {
			cancel() // during the last step: its evaluation follows
		}
	}
	s, err := first.Run(ctx)
	if !errors.Is(err, ErrInterrupted) {
		t.Fatalf("run interrupted in its last step returned %v, want ErrInterrupted", err)
	}
	if s == nil || s.Completed {
		t.Fatalf("interrupted run's summary: %+v", s)
	}
	if st := readState(t, split); st.Step != cfg.Steps {
		t.Fatalf("checkpoint holds step %d, want %d", st.Step, cfg.Steps)
	}
	if n := len(readMetrics(t, split)); n != 3 { // eval 0, train 1, train 2; not eval 2
		t.Fatalf("interrupted run wrote %d records, want 3", n)
	}

	resumeMatches(t, cfg, straight, split)
}
