package sd3

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/flowtune/flowtune/nn"
	"github.com/flowtune/flowtune/tensor"
)

// Golden fixtures from Stability's reference (tools/sd3_fixtures.py; float64 reference run,
// stored as float32): a tiny SD3.5-structured model in both checkpoint layouts, its inputs,
// its output, and the output with a LoRA adapter.

type fixture struct {
	x, context, pooled *tensor.Tensor
	timesteps          []float32
	out, outLoRA       []float32
}

func loadFixture(t *testing.T, b tensor.Backend) fixture {
	t.Helper()
	ts, _, err := nn.ReadSafetensors(filepath.Join("testdata", "io.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	dev := func(k string) *tensor.Tensor { return tensor.New(b, ts[k].Data, ts[k].Shape...) }
	return fixture{x: dev("x"), context: dev("context"), pooled: dev("pooled"), timesteps: ts["timesteps"].Data,
		out: ts["out"].Data, outLoRA: ts["out_lora"].Data}
}

// checkClose fails unless got matches want to a relative error of tol: the error's L2 norm
// over the reference's, and every element within tol·max|want|.
func checkClose(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	var num, den, maxRef, worst float64
	wi := 0
	for i := range want {
		d := float64(got[i]) - float64(want[i])
		num += d * d
		den += float64(want[i]) * float64(want[i])
		maxRef = math.Max(maxRef, math.Abs(float64(want[i])))
		if math.Abs(d) > worst {
			worst, wi = math.Abs(d), i
		}
	}
	rel := math.Sqrt(num / den)
	t.Logf("%s: relative L2 error %.2e, worst |Δ| %.2e at %d", what, rel, worst, wi)
	if rel > tol || worst > tol*maxRef {
		t.Fatalf("%s: relative error %.3g (worst element %d: got %g, want %g); tolerance %g", what, rel, wi, got[wi], want[wi], tol)
	}
}

// TestParityWithReference: the forward of both layouts (single file; diffusers root, its
// transformer/ folder, sharded with an index) matches the reference to 1e-4, and with the
// fixture's PEFT adapter loaded so does the LoRA-adapted forward.
func TestParityWithReference(t *testing.T) {
	b := tensor.CPU()
	fx := loadFixture(t, b)
	for _, c := range []struct{ path, layout string }{
		{filepath.Join("testdata", "stability.safetensors"), LayoutStability},
		{filepath.Join("testdata", "diffusers"), LayoutDiffusers},
		{filepath.Join("testdata", "diffusers", "transformer"), LayoutDiffusers},
	} {
		m, info, err := LoadWith(b, c.path, LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if info.Layout != c.layout {
			t.Fatalf("%s: detected layout %s, want %s", c.path, info.Layout, c.layout)
		}
		checkClose(t, c.path, m.Forward(fx.x, fx.timesteps, fx.context, fx.pooled).Data(), fx.out, 1e-4)

		n, err := LoadPEFT(filepath.Join("testdata", "lora"), m, "policy")
		if err != nil {
			t.Fatal(err)
		}
		if want := len(LoRATargets(m, DefaultTargets)); n != want {
			t.Fatalf("adapter file covers %d layers, the default targets are %d", n, want)
		}
		nn.UseAdapter(m, "policy")
		checkClose(t, c.path+" + LoRA", m.Forward(fx.x, fx.timesteps, fx.context, fx.pooled).Data(), fx.outLoRA, 1e-4)
	}
}

// TestConfigOfFixture: the weights imply the tiny named configuration.
func TestConfigOfFixture(t *testing.T) {
	m, err := Load(tensor.CPU(), filepath.Join("testdata", "stability.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := Named("tiny")
	want.SampleSize = m.Cfg.SampleSize
	if string(m.Cfg.JSON()) != string(want.JSON()) {
		t.Fatalf("inferred config\n%s\nwant\n%s", m.Cfg.JSON(), want.JSON())
	}
}
