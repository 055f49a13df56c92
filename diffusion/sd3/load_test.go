package sd3

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowtune/flowtune/internal/atomicfile"
	"github.com/flowtune/flowtune/nn"
	"github.com/flowtune/flowtune/tensor"
)

// randomFolder writes a tiny random diffusers folder and returns its root.
func randomFolder(t *testing.T, dtype string, shardBytes int64) string {
	t.Helper()
	root := t.TempDir()
	cfg, _ := Named("tiny")
	if err := WriteRandom(root, cfg, dtype, shardBytes, 7); err != nil {
		t.Fatal(err)
	}
	return root
}

// rewrite replaces the single weights file of a diffusers folder with edited tensors.
func rewrite(t *testing.T, root string, edit func(ts map[string]nn.HostTensor)) {
	t.Helper()
	file := filepath.Join(root, "transformer", "diffusion_pytorch_model.safetensors")
	ts, meta, err := nn.ReadSafetensors(file)
	if err != nil {
		t.Fatal(err)
	}
	edit(ts)
	if err := nn.WriteSafetensors(file, ts, meta); err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one mentioning %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error %q does not mention %q", err, p)
		}
	}
}

// TestLoadPathsAndShards: a root folder, its transformer/ folder and a sharded folder all load
// to the same weights.
func TestLoadPathsAndShards(t *testing.T) {
	b := tensor.CPU()
	single := randomFolder(t, nn.SafetensorsF32, 0)
	sharded := randomFolder(t, nn.SafetensorsF32, 40_000)
	if m, _ := filepath.Glob(filepath.Join(sharded, "transformer", "*-of-*.safetensors")); len(m) < 3 {
		t.Fatalf("expected several shards, got %v", m)
	}
	var ref []nn.Named
	for _, p := range []string{single, filepath.Join(single, "transformer"), sharded} {
		m, info, err := LoadWith(b, p, LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if info.Layout != LayoutDiffusers {
			t.Fatalf("%s: layout %s", p, info.Layout)
		}
		ps := nn.NamedParams(m)
		if ref == nil {
			ref = ps
			continue
		}
		for i := range ps {
			a, c := ref[i].P.Data(), ps[i].P.Data()
			for j := range a {
				if a[j] != c[j] {
					t.Fatalf("%s: %s differs from the single-file load", p, ps[i].Name)
				}
			}
		}
	}
}

// TestLoadDTypes: bf16 and fp16 files load to exactly the rounded values of the fp32 file.
func TestLoadDTypes(t *testing.T) {
	b := tensor.CPU()
	ref, err := Load(b, randomFolder(t, nn.SafetensorsF32, 0))
	if err != nil {
		t.Fatal(err)
	}
	for _, dt := range []string{nn.SafetensorsBF16, nn.SafetensorsF16} {
		m, info, err := LoadWith(b, randomFolder(t, dt, 0), LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(info.DTypes) != 1 || info.DTypes[0] != dt {
			t.Fatalf("dtypes %v, want %s", info.DTypes, dt)
		}
		round := func(v float32) float32 { return nn.BF16ToFloat32(nn.Float32ToBF16(v)) }
		if dt == nn.SafetensorsF16 {
			round = func(v float32) float32 { return nn.F16ToFloat32(nn.Float32ToF16(v)) }
		}
		rp, mp := nn.NamedParams(ref), nn.NamedParams(m)
		for i := range rp {
			a, c := rp[i].P.Data(), mp[i].P.Data()
			for j := range a {
				if round(a[j]) != c[j] {
					t.Fatalf("%s: %s[%d] = %g, want %g rounded (%g)", dt, rp[i].Name, j, c[j], a[j], round(a[j]))
				}
			}
		}
		for j, v := range ref.PosEmbed.Table {
			if round(v) != m.PosEmbed.Table[j] {
				t.Fatalf("%s: position table [%d] = %g, want %g", dt, j, m.PosEmbed.Table[j], round(v))
			}
		}
	}
}

// TestLoadErrors: each kind of bad checkpoint is refused with the file, the key and the
// shapes or values involved.
func TestLoadErrors(t *testing.T) {
	b := tensor.CPU()
	const key = "transformer_blocks.1.attn.to_k.weight"

	root := randomFolder(t, nn.SafetensorsF32, 0)
	rewrite(t, root, func(ts map[string]nn.HostTensor) { delete(ts, key) })
	_, err := Load(b, root)
	wantErr(t, err, "missing 1 tensor", key, "[32, 32]", "diffusion_pytorch_model.safetensors")

	root = randomFolder(t, nn.SafetensorsF32, 0)
	rewrite(t, root, func(ts map[string]nn.HostTensor) {
		ts["transformer_blocks.1.attn.extra.weight"] = nn.HostTensor{Shape: []int{2}, Data: []float32{1, 2}}
	})
	_, err = Load(b, root)
	wantErr(t, err, "unexpected 1 tensor", "transformer_blocks.1.attn.extra.weight")

	root = randomFolder(t, nn.SafetensorsF32, 0)
	rewrite(t, root, func(ts map[string]nn.HostTensor) {
		ts["transformer_blocks.1.ff.net.2.weight"] = nn.HostTensor{Shape: []int{32, 100}, Data: make([]float32, 3200)}
	})
	_, err = Load(b, root)
	wantErr(t, err, "transformer_blocks.1.ff.net.2.weight", "[32, 100]", "[32, 128]", "F32")

	root = randomFolder(t, nn.SafetensorsF32, 40_000)
	shards, _ := filepath.Glob(filepath.Join(root, "transformer", "*-of-*.safetensors"))
	st, _ := os.Stat(shards[1])
	if err := os.Truncate(shards[1], st.Size()-10); err != nil {
		t.Fatal(err)
	}
	_, err = Load(b, root)
	wantErr(t, err, filepath.Base(shards[1]), "truncated")

	root = randomFolder(t, nn.SafetensorsF32, 0)
	cfgPath := filepath.Join(root, "transformer", "config.json")
	raw, _ := os.ReadFile(cfgPath)
	bad := strings.Replace(string(raw), `"num_layers": 3`, `"num_layers": 4`, 1)
	bad = strings.Replace(bad, `"pooled_projection_dim": 16`, `"pooled_projection_dim": 2048`, 1)
	if bad == string(raw) {
		t.Fatal("config edit did not apply")
	}
	if err := atomicfile.WriteBytes(cfgPath, []byte(bad)); err != nil {
		t.Fatal(err)
	}
	_, err = Load(b, root)
	wantErr(t, err, "config.json does not match the weights", "num_layers is 4 in config.json, 3 in the weights",
		"pooled_projection_dim is 2048 in config.json, 16 in the weights")

	_, err = Load(b, t.TempDir())
	wantErr(t, err, "not an SD3 checkpoint")
}

// TestLoadErrorsStability: the single-file layout reports missing, unexpected and misshapen
// tensors under their Stability names, and skips the VAE and text encoders beside the
// transformer.
func TestLoadErrorsStability(t *testing.T) {
	b := tensor.CPU()
	src := filepath.Join("testdata", "stability.safetensors")
	ts, _, err := nn.ReadSafetensors(src)
	if err != nil {
		t.Fatal(err)
	}
	write := func(edit func(map[string]nn.HostTensor)) string {
		c := map[string]nn.HostTensor{}
		for k, v := range ts {
			c[k] = v
		}
		edit(c)
		p := filepath.Join(t.TempDir(), "sd3.5_tiny.safetensors")
		if err := nn.WriteSafetensors(p, c, nil); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const p = "model.diffusion_model."
	_, info, err := LoadWith(b, write(func(c map[string]nn.HostTensor) {
		c["first_stage_model.decoder.conv_in.weight"] = nn.HostTensor{Shape: []int{1}, Data: []float32{0}}
		c["text_encoders.clip_l.transformer.x"] = nn.HostTensor{Shape: []int{1}, Data: []float32{0}}
	}), LoadOptions{})
	if err != nil || info.Ignored != 2 || info.Layout != LayoutStability {
		t.Fatalf("single file with a VAE beside it: %v, %+v", err, info)
	}

	_, err = Load(b, write(func(c map[string]nn.HostTensor) { delete(c, p+"joint_blocks.0.x_block.attn2.proj.bias") }))
	wantErr(t, err, "missing 1 tensor", p+"joint_blocks.0.x_block.attn2.proj.bias", "stability layout")

	_, err = Load(b, write(func(c map[string]nn.HostTensor) {
		c[p+"joint_blocks.1.x_block.attn.qkv.weight"] = nn.HostTensor{Shape: []int{95, 32}, Data: make([]float32, 95*32)}
	}))
	wantErr(t, err, p+"joint_blocks.1.x_block.attn.qkv.weight", "[95, 32]", "[96, 32]")

	_, err = Load(b, write(func(c map[string]nn.HostTensor) {
		c[p+"joint_blocks.1.context_block.attn.extra"] = nn.HostTensor{Shape: []int{1}, Data: []float32{0}}
	}))
	wantErr(t, err, "unexpected 1 tensor", p+"joint_blocks.1.context_block.attn.extra")
}
