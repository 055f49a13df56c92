package train

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowtune/flowtune/diffusion"
	"github.com/flowtune/flowtune/diffusion/world"
	"github.com/flowtune/flowtune/nn"
	"github.com/flowtune/flowtune/rl"
	"github.com/flowtune/flowtune/tensor"
)

// A run's adapter, read back from its directory and put on a fresh copy of the base, gives the
// trained policy's velocities exactly; of adapters.safetensors and a checkpoint that is further
// on (a run extended with -resume and interrupted), the checkpoint's is taken.
func TestRunAdapterReproducesThePolicy(t *testing.T) {
	cfg := tinyConfig("ram")
	cfg.Steps, cfg.EvalEvery = 2, 0
	dir := t.TempDir()
	tr := newTinyTrainer(t, cfg, dir)
	if _, err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	tok := world.NewTokenizer(0)
	rng := tensor.NewRNG(9)
	x := rng.Normal(tensor.CPU(), 2, 3, 32, 32)
	c, err := diffusion.EncodePrompts(tok, []string{"two red circles", "a blue square"})
	if err != nil {
		t.Fatal(err)
	}
	sigma := []float32{0.7, 0.3}
	velocity := func(m *diffusion.Model) []float32 {
		var v *tensor.Tensor
		tensor.NoGrad(func() { v = m.Velocity(x, sigma, c) })
		return v.Data()
	}
	check := func(what string, want *diffusion.Model, a *TrainedAdapter) {
		t.Helper()
		nn.UseAdapter(want, rl.PolicyAdapter)
		ref := velocity(want)
		m := tinyModel(t, tok)
		base := velocity(m)
		if err := a.Apply(m); err != nil {
			t.Fatal(err)
		}
		got := velocity(m)
		same := true
		for i := range ref {
			if got[i] != ref[i] {
				t.Fatalf("%s: velocity[%d] = %v, the trained policy gives %v", what, i, got[i], ref[i])
			}
			same = same && base[i] == ref[i]
		}
		if same {
			t.Fatalf("%s: the policy equals the base; the test would prove nothing", what)
		}
	}

	a, err := ReadRunAdapter(dir)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(a.Path) != AdaptersFile || a.Step != 2 || a.Alpha != cfg.LoRAAlpha || a.Base != "tiny test model" {
		t.Fatalf("read %s at step %d, alpha %g, base %q", a.Path, a.Step, a.Alpha, a.Base)
	}
	check("adapters.safetensors", tr.Model, a)

	cfg.Steps = 4
	ctx, cancel := context.WithCancel(context.Background())
	more := newTinyTrainer(t, cfg, dir)
	more.Resume = true
	more.afterStep = func(step int) {
		if step == 3 {
			cancel()
		}
	}
	if _, err := more.Run(ctx); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("extended run: %v, want an interruption", err)
	}
	a, err = ReadRunAdapter(dir)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(a.Path) != CheckpointFile || a.Step != 3 || a.Base != "tiny test model" {
		t.Fatalf("read %s at step %d (base %q), want the step-3 checkpoint", a.Path, a.Step, a.Base)
	}
	check("checkpoint.safetensors", more.Model, a)
}

func TestReadAdapterExplainsWrongFiles(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "model.safetensors")
	if err := tinyModel(t, world.NewTokenizer(0)).Save(model, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadAdapter(model); err == nil || !strings.Contains(err.Error(), "-model") {
		t.Fatalf("a model file as adapter: %v, want a pointer to -model", err)
	}
	if _, err := ReadRunAdapter(dir); err == nil || !strings.Contains(err.Error(), "not a run directory") {
		t.Fatalf("a directory without a run: %v", err)
	}
}
