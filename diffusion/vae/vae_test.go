package vae

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowtune/flowtune/nn"
	"github.com/flowtune/flowtune/tensor"
)

// The parity fixtures come from tools/vae_fixtures.py (Stability's sd3_impls.VAEDecoder in
// float64 on a small random configuration with 8 GroupNorm groups).
const fixtureGroups = 8

func readIO(t *testing.T) (latent, image nn.HostTensor) {
	t.Helper()
	ts, _, err := nn.ReadSafetensors(filepath.Join("testdata", "vae_io.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	return ts["latent"], ts["image"]
}

// relErr is max|got − want| / max|want|.
func relErr(got, want []float32) float64 {
	var num, den float64
	for i := range want {
		num = math.Max(num, math.Abs(float64(got[i])-float64(want[i])))
		den = math.Max(den, math.Abs(float64(want[i])))
	}
	return num / den
}

func checkParity(t *testing.T, d *Decoder) {
	t.Helper()
	latent, want := readIO(t)
	be := tensor.CPU()
	got := d.Decode(tensor.New(be, latent.Data, latent.Shape...))
	if s := got.Shape(); len(s) != 4 || s[0] != want.Shape[0] || s[1] != want.Shape[1] || s[2] != want.Shape[2] || s[3] != want.Shape[3] {
		t.Fatalf("decoded shape %v, want %v", s, want.Shape)
	}
	if e := relErr(got.Data(), want.Data); e > 1e-4 {
		t.Fatalf("decoded image differs from the reference: relative error %.3g > 1e-4", e)
	} else {
		t.Logf("relative error %.3g", e)
	}
}

func TestParitySingleFile(t *testing.T) {
	d, err := Load(tensor.CPU(), filepath.Join("testdata", "vae_single.safetensors"), Options{NormGroups: fixtureGroups})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Config; got.LatentChannels != 16 || len(got.BlockChannels) != 2 || got.BlockChannels[1] != 32 || got.LayersPerBlock != 1 || got.Scale != 1.5305 {
		t.Fatalf("inferred config %+v", got)
	}
	checkParity(t, d)
}

func TestParityDiffusers(t *testing.T) {
	for _, path := range []string{filepath.Join("testdata", "vae_diffusers"), "testdata"} {
		if path == "testdata" { // a model folder holding vae/: link the fixture under that name
			dir := t.TempDir()
			abs, _ := filepath.Abs(filepath.Join("testdata", "vae_diffusers"))
			if err := os.Symlink(abs, filepath.Join(dir, "vae")); err != nil {
				t.Fatal(err)
			}
			path = dir
		}
		d, err := Load(tensor.CPU(), path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		checkParity(t, d)
	}
}

// TestImages checks the [0, 1] and 8-bit forms agree with Decode.
func TestImages(t *testing.T) {
	d, err := Load(tensor.CPU(), filepath.Join("testdata", "vae_diffusers"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	latent, want := readIO(t)
	lt := tensor.New(tensor.CPU(), latent.Data, latent.Shape...)
	unit := d.DecodeUnit(lt).Data()
	imgs := d.Images(lt)
	H, W := want.Shape[2], want.Shape[3]
	if len(imgs) != 2 || imgs[0].Bounds().Dx() != W || imgs[0].Bounds().Dy() != H {
		t.Fatalf("got %d images of %v", len(imgs), imgs[0].Bounds())
	}
	for i, v := range unit {
		ref := math.Min(1, math.Max(0, (float64(want.Data[i])+1)/2))
		if math.Abs(float64(v)-ref) > 1e-4 {
			t.Fatalf("DecodeUnit[%d] = %g, want %g", i, v, ref)
		}
	}
	// Red channel of pixel (y=1, x=2) of image 1 against the [0,1] value.
	r := imgs[1].RGBAAt(2, 1).R
	ref := unit[(1*3+0)*H*W+1*W+2] * 255
	if math.Abs(float64(r)-float64(ref)) > 1 {
		t.Fatalf("8-bit red %d, want about %.1f", r, ref)
	}
}

func TestLoadErrors(t *testing.T) {
	be := tensor.CPU()
	dir := t.TempDir()
	write := func(name string, ts map[string]nn.HostTensor) string {
		p := filepath.Join(dir, name)
		if err := nn.WriteSafetensors(p, ts, nil); err != nil {
			t.Fatal(err)
		}
		return p
	}
	src, _, err := nn.ReadSafetensors(filepath.Join("testdata", "vae_single.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	// A missing parameter, a wrong shape, no VAE at all.
	missing := map[string]nn.HostTensor{}
	for k, v := range src {
		if k != "first_stage_model.decoder.mid.attn_1.q.bias" {
			missing[k] = v
		}
	}
	bad := map[string]nn.HostTensor{}
	for k, v := range src {
		bad[k] = v
	}
	bad["first_stage_model.decoder.norm_out.weight"] = nn.HostTensor{Shape: []int{3}, Data: make([]float32, 3)}
	for _, c := range []struct {
		file string
		ts   map[string]nn.HostTensor
		want []string
	}{
		{"missing.safetensors", missing, []string{"missing first_stage_model.decoder.mid.attn_1.q.bias"}},
		{"shape.safetensors", bad, []string{"first_stage_model.decoder.norm_out.weight has shape [3], want [16]"}},
		{"novae.safetensors", map[string]nn.HostTensor{"model.x": {Shape: []int{1}, Data: []float32{0}}}, []string{"no VAE decoder keys"}},
	} {
		_, err := Load(be, write(c.file, c.ts), Options{NormGroups: fixtureGroups})
		if err == nil {
			t.Fatalf("%s: no error", c.file)
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %q", c.file, err, w)
			}
		}
	}
	d, err := Load(be, filepath.Join("testdata", "vae_diffusers"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.CheckLatent(4); err == nil || !strings.Contains(err.Error(), "4-channel latents but the VAE decodes 16-channel") {
		t.Fatalf("CheckLatent(4): %v", err)
	}
}

// TestRandomDecoder builds the SD3-sized structure at small width and decodes a latent.
func TestRandomDecoder(t *testing.T) {
	c := Config{LatentChannels: 16, OutChannels: 3, BlockChannels: []int{8, 16, 16}, LayersPerBlock: 1, NormGroups: 4, Scale: 1.5305, Shift: 0.0609}
	d, err := NewRandom(tensor.CPU(), c, 1)
	if err != nil {
		t.Fatal(err)
	}
	out := d.Decode(tensor.Zeros(tensor.CPU(), 1, 16, 3, 5))
	if s := out.Shape(); s[2] != 12 || s[3] != 20 || s[1] != 3 {
		t.Fatalf("shape %v", s)
	}
	if n := nn.CountParams(d); n == 0 {
		t.Fatal("no parameters")
	}
}

// TestWriteDiffusersRoundTrip writes a random decoder as a diffusers folder, loads it back and
// decodes the same image (the writer inverts the loader's key mapping).
func TestWriteDiffusersRoundTrip(t *testing.T) {
	be := tensor.CPU()
	d, err := NewRandom(be, Tiny(), 3)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "vae")
	if err := WriteDiffusers(dir, d, nn.SafetensorsF32); err != nil {
		t.Fatal(err)
	}
	back, err := Load(be, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	z := tensor.NewRNG(1).Normal(be, 1, 16, 4, 4)
	a, b := d.Decode(z).Data(), back.Decode(z).Data()
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("element %d: %g written, %g read back", i, a[i], b[i])
		}
	}
	if back.Config.Factor() != 2 || len(a) != 3*8*8 {
		t.Fatalf("factor %d, %d values", back.Config.Factor(), len(a))
	}
}
