package train

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowtune/flowtune/diffusion/prompts"
	"github.com/flowtune/flowtune/diffusion/sd3"
	"github.com/flowtune/flowtune/diffusion/vae"
	"github.com/flowtune/flowtune/tensor"
)

// TestSD3PipelineChecks: a VAE of other latent channels, a cache without the empty prompt and a
// resolution off the patch grid are errors that say so.
func TestSD3PipelineChecks(t *testing.T) {
	b := tensor.CPU()
	m, err := sd3.Load(b, filepath.Join("..", "..", "diffusion", "sd3", "testdata", "diffusers"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "c.safetensors")
	if err := prompts.WriteRandom(good, []string{"a cat"}, prompts.WriteOptions{SeqLen: 5, Dim: 24, PooledDim: 16}, 1); err != nil {
		t.Fatal(err)
	}
	noEmpty := filepath.Join(dir, "e.safetensors")
	e := prompts.Entry{Embeds: make([]float32, 5*24), Pooled: make([]float32, 16)}
	if err := prompts.Write(noEmpty, map[string]prompts.Entry{"a cat": e}, prompts.WriteOptions{SeqLen: 5, Dim: 24, PooledDim: 16}); err != nil {
		t.Fatal(err)
	}
	four := vae.Tiny()
	four.LatentChannels = 4
	dec4, _ := vae.NewRandom(b, four, 1)
	dec16, _ := vae.NewRandom(b, vae.Tiny(), 1)
	open := func(p string) *prompts.Cache {
		c, err := prompts.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	for _, c := range []struct {
		dec   *vae.Decoder
		cache string
		res   int
		want  string
	}{
		{dec4, good, 0, "the model makes 16-channel latents but the VAE decodes 4-channel ones"},
		{dec16, noEmpty, 0, `classifier-free guidance needs the empty prompt: prompt "" is not in the embedding cache`},
		{dec16, good, 18, "resolution 18: must be a multiple of 4"},
	} {
		_, err := NewSD3Pipeline(m, c.dec, open(c.cache), c.res)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want %q", err, c.want)
		}
	}
	p, err := NewSD3Pipeline(m, dec16, open(good), 0)
	if err != nil {
		t.Fatal(err)
	}
	if lat := p.Latent(); lat != [3]int{16, 8, 8} {
		t.Fatalf("latent %v", lat)
	}
	imgs := p.Images(tensor.NewRNG(1).Normal(b, 5, 16, 8, 8)) // two decode batches
	if len(imgs) != 5 || imgs[4].Bounds().Dx() != 16 {
		t.Fatalf("%d images of %v", len(imgs), imgs[0].Bounds())
	}
}
