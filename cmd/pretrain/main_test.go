package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/flowtune/flowtune/cuda"
	"github.com/flowtune/flowtune/diffusion"
	"github.com/flowtune/flowtune/internal/cli"
	"github.com/flowtune/flowtune/nn"
	"github.com/flowtune/flowtune/tensor"
)

// -h prints the usage on stdout and is not an error; a stray argument is a usage error.
func TestHelpAndStrayArguments(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"-h"}, &stdout, &stderr)
	if cli.ExitCode(err) != 0 || !bytes.Contains(stdout.Bytes(), []byte("-sample-every")) || stderr.Len() != 0 {
		t.Fatalf("-h: error %v; stdout %q, stderr %q", err, stdout.String(), stderr.String())
	}
	err = run(context.Background(), []string{"-steps", "1", "runs/x"}, &stdout, &stderr)
	if cli.ExitCode(err) != cli.ExitUsage || !bytes.Contains([]byte(err.Error()), []byte(`"runs/x"`)) {
		t.Fatalf("stray argument: error %v, want a usage error naming it", err)
	}
}

// A later curriculum stage starts from an earlier stage's checkpoint: -init keeps the model's
// shape from the file, refuses -dim/-depth beside it, and -captions takes only web or exact.
func TestInitContinuesFromACheckpoint(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	tiny := []string{"-steps", "2", "-batch", "2", "-log-every", "1", "-sample-every", "0"}
	if err := run(context.Background(), append(tiny, "-dim", "16", "-depth", "1", "-out", dir+"/s1"), &out, &out); err != nil {
		t.Fatalf("stage 1: %v\n%s", err, out.String())
	}
	first, _, err := diffusion.LoadModel(tensor.CPU(), dir+"/s1/base.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	err = run(context.Background(), append(tiny, "-init", dir+"/s1/base.safetensors", "-captions", "exact",
		"-text-fraction", "0.5", "-see-held-out", "-out", dir+"/s2"), &out, &out)
	if err != nil {
		t.Fatalf("stage 2: %v\n%s", err, out.String())
	}
	second, _, err := diffusion.LoadModel(tensor.CPU(), dir+"/s2/base.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	_, meta, err := diffusion.LoadModel(tensor.CPU(), dir+"/s2/base.safetensors")
	if err != nil || !strings.Contains(meta["flowtune.pretrain_world"], `"TextFraction":0.5`) ||
		!strings.Contains(meta["flowtune.pretrain_world"], `"DropClause":0,`) ||
		!strings.Contains(meta["flowtune.pretrain_world"], `"PretrainHeldOut":true`) {
		t.Fatalf("stage 2's checkpoint does not record its world (exact captions, half signs, held-out combinations seen): %q (%v)", meta["flowtune.pretrain_world"], err)
	}
	if second.Cfg != first.Cfg {
		t.Fatalf("stage 2 changed the model config: %+v → %+v", first.Cfg, second.Cfg)
	}
	a, b := first.Final.Proj.Weight.Data(), second.Final.Proj.Weight.Data()
	same := true
	for i := range a {
		same = same && a[i] == b[i]
	}
	if same {
		t.Fatal("stage 2 did not train: its weights equal stage 1's")
	}
	for _, args := range [][]string{
		{"-init", dir + "/s1/base.safetensors", "-dim", "32"},
		{"-captions", "noisy"},
		{"-text-fraction", "1.5"},
	} {
		if err := run(context.Background(), append(tiny, args...), &out, &out); cli.ExitCode(err) != cli.ExitUsage {
			t.Errorf("%v: error %v, want a usage error", args, err)
		}
	}
}

// -size, -patch and -heads shape the model, and the world renders at its size; bad shapes are
// usage errors naming the flags, and -device cuda in a binary without the cuda tag says how to
// build one.
func TestModelShapeFlags(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	tiny := []string{"-steps", "1", "-batch", "2", "-log-every", "1", "-sample-every", "-1", "-dim", "16", "-depth", "1"}
	if err := run(context.Background(), append(tiny, "-size", "64", "-patch", "8", "-heads", "2", "-out", dir), &out, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	m, _, err := diffusion.LoadModel(tensor.CPU(), dir+"/base.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"logit_mean":0,`) {
		t.Errorf("the default training noise levels are not logged as logit_mean 0:\n%s", out.String())
	}
	// -logit-mean and -logit-std reach the training config.
	out.Reset()
	if err := run(context.Background(), append(tiny, "-logit-mean", "1.0986", "-logit-std", "0.8", "-out", dir+"/shifted"), &out, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), `"logit_mean":1.0986,"logit_std":0.8`) {
		t.Errorf("-logit-mean 1.0986 -logit-std 0.8 are not in the logged training config:\n%s", out.String())
	}
	if c := m.Cfg; c.Size != 64 || c.Patch != 8 || c.Heads != 2 || c.Dim != 16 {
		t.Fatalf("saved model config %+v, want size 64, patch 8, heads 2, dim 16", c)
	}
	if _, err := os.Stat(dir + "/samples_final.png"); !os.IsNotExist(err) {
		t.Errorf("-sample-every -1 still wrote a sample grid (stat: %v)", err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-size", "34"}, "multiple of -patch"},
		{[]string{"-size", "16"}, "minimum"},
		{[]string{"-heads", "3"}, "multiple of -heads"},
		{[]string{"-patch", "-1"}, "-patch must be ≥ 0"},
		{[]string{"-init", dir + "/base.safetensors", "-size", "32"}, "-init"},
		{[]string{"-logit-std", "0"}, "-logit-std must be a finite number > 0"},
		{[]string{"-logit-std", "NaN"}, "-logit-std must be"},
		{[]string{"-logit-mean", "Inf"}, "-logit-mean must be a finite number"},
		{[]string{"-time-budget", "-5"}, "-time-budget must be a finite number of seconds"},
		{[]string{"-time-budget", "60", "-until", "10"}, "drop -until 10"},
	} {
		err := run(context.Background(), append(append(tiny, "-out", dir+"/bad"), c.args...), &out, &out)
		if cli.ExitCode(err) != cli.ExitUsage || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want a usage error mentioning %q", c.args, err, c.want)
		}
	}
	if !cuda.Enabled {
		err := run(context.Background(), append(tiny, "-device", "cuda"), &out, &out)
		if err == nil || !strings.Contains(err.Error(), "-tags cuda") {
			t.Errorf("-device cuda without the cuda tag: error %v, want one naming -tags cuda", err)
		}
	}
}

// -recipe runs its stages in order, each from the previous one's checkpoint (rounded to bf16
// after a stage marked so, the last one's final copy too), continues an interrupted recipe
// without redoing finished stages, and refuses training flags beside it.
func TestRecipeRunsItsStagesAndContinues(t *testing.T) {
	tiny := []string{"-steps", "2", "-batch", "2", "-sample-every", "-1"}
	recipes["tiny"] = []stage{
		{"a", append([]string{"-dim", "16", "-depth", "1"}, tiny...), "first", true},
		{"b", append([]string{"-captions", "exact"}, tiny...), "second", true},
	}
	defer delete(recipes, "tiny")
	dir := t.TempDir()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-recipe", "tiny", "-out", dir, "-log-every", "1"}, &out, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	final, err := os.ReadFile(dir + "/base.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	last, err := os.ReadFile(dir + "/b/base.bf16.safetensors")
	if err != nil || !bytes.Equal(final, last) {
		t.Fatalf("base.safetensors is not the last stage's model rounded to bf16 (%v)", err)
	}
	requireBF16(t, dir+"/base.safetensors")
	marker, err := os.ReadFile(dir + "/b/DONE")
	if err != nil || !bytes.Contains(marker, []byte("-init "+dir+"/a/base.bf16.safetensors")) {
		t.Fatalf("stage b did not start from stage a's model rounded to bf16: %q, %v", marker, err)
	}
	requireBF16(t, dir+"/a/base.bf16.safetensors")
	// Interrupted after stage a: the next call skips it and redoes only b.
	if err := os.Remove(dir + "/b/DONE"); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(context.Background(), []string{"-recipe", "tiny", "-out", dir}, &out, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "stage 1/2 (a) is already done") || !strings.Contains(out.String(), "stage 2/2 (b): second") {
		t.Fatalf("the second call did not skip stage a and rerun b:\n%s", out.String())
	}
	for _, args := range [][]string{
		{"-recipe", "tiny", "-lr", "1e-3"},
		{"-recipe", "nonesuch"},
	} {
		if err := run(context.Background(), append(args, "-out", dir), &out, &out); cli.ExitCode(err) != cli.ExitUsage {
			t.Errorf("%v: error %v, want a usage error", args, err)
		}
	}
}

// Every recipe's stages are valid flags for pretrain and chain through -init: each stage runs
// one step of two images (appended flags win over the recipe's). For "wide", the last stage's
// checkpoint must carry what the candidate model's own metadata says (width 192, depth 8; the
// final stage at peak lr 1e-4 over 5215 steps with the held-out pairings and 15% signs).
func TestEveryRecipeStageRuns(t *testing.T) {
	for _, name := range slices.Sorted(maps.Keys(recipes)) {
		if name == "wide-cpu" { // an alias of "shipped": the same stages
			continue
		}
		dir := t.TempDir()
		prev := ""
		for _, st := range recipes[name] {
			args := append([]string{"-out", filepath.Join(dir, st.name)}, st.args...)
			args = append(args, "-until", "1", "-batch", "2", "-sample-every", "-1", "-log-every", "1")
			if prev != "" {
				args = append(args, "-init", prev)
			}
			var out bytes.Buffer
			if err := run(context.Background(), args, &out, &out); err != nil {
				t.Fatalf("recipe %s stage %s: %v\n%s", name, st.name, err, out.String())
			}
			prev = filepath.Join(dir, st.name, "base.safetensors")
			if st.bf16 {
				var err error
				if prev, err = roundedBF16(prev); err != nil {
					t.Fatalf("recipe %s stage %s: %v", name, st.name, err)
				}
			}
		}
		if name != "wide" {
			continue
		}
		m, cfg, meta := trainingRecord(t, prev)
		w := meta["flowtune.pretrain_world"]
		if m.Cfg.Dim != 192 || m.Cfg.Depth != 8 || m.Cfg.Heads != 6 || cfg.LR != 1e-4 || cfg.Steps != 5215 || cfg.Seed != 8 ||
			!strings.Contains(w, `"TextFraction":0.15`) || !strings.Contains(w, `"PretrainHeldOut":true`) {
			t.Errorf("wide's last stage: model %+v, config %+v, world %s", m.Cfg, cfg, w)
		}
	}
}

// Each committed stage of "shipped" (alias "wide-cpu") is what the recipe's stage makes: its
// checkpoint's own record (shape, schedule, seed, world) matches the recipe's flags, and it is
// stored as bf16, the form the next stage starts from and the recipe's final copy takes. The
// last stage is the embedded base itself.
func TestWideCPUStagesAreTheCommittedCheckpoints(t *testing.T) {
	if n := len(recipes["shipped"]); n != 2 || &recipes["shipped"][0] != &recipes["wide-cpu"][0] {
		t.Fatalf("recipe shipped has %d stages and is not wide-cpu's; the table below checks two", n)
	}
	for i, want := range []struct {
		steps int
		lr    float64
		seed  uint64
	}{{12000, 1e-3, 11}, {10000, 3e-4, 12}} {
		path := "../../diffusion/base/candidates/wide-cpu-1.bf16.safetensors"
		if i == 1 {
			path = "../../diffusion/base/base.safetensors"
		}
		requireBF16(t, path)
		m, cfg, meta := trainingRecord(t, path)
		w := meta["flowtune.pretrain_world"]
		st := recipes["shipped"][i]
		lr, _ := strconv.ParseFloat(flagValue(st.args, "-lr"), 64)
		if m.Cfg.Dim != 192 || m.Cfg.Depth != 8 || m.Cfg.Heads != 6 || cfg.Steps != want.steps || cfg.Batch != 32 ||
			cfg.LR != want.lr || cfg.Seed != want.seed || meta["flowtune.pretrain_step"] != fmt.Sprint(want.steps) ||
			!strings.Contains(w, `"TextFraction":0.2,`) || !strings.Contains(w, `"PretrainHeldOut":true`) ||
			flagValue(st.args, "-steps") != fmt.Sprint(want.steps) || flagValue(st.args, "-seed") != fmt.Sprint(want.seed) ||
			lr != want.lr || flagValue(st.args, "-text-fraction") != "0.2" || !slices.Contains(st.args, "-see-held-out") || !st.bf16 {
			t.Errorf("%s: model %+v, config %+v, step %s, world %s; recipe stage %s flags %q (bf16 %v)",
				path, m.Cfg, cfg, meta["flowtune.pretrain_step"], w, st.name, st.args, st.bf16)
		}
	}
}

// flagValue is the word after name in args ("" if name is not there).
func flagValue(args []string, name string) string {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == name {
			return args[i+1]
		}
	}
	return ""
}

// trainingRecord loads the pretrained model at path with the pretraining config and metadata it
// records.
func trainingRecord(t *testing.T, path string) (*diffusion.Model, diffusion.PretrainConfig, map[string]string) {
	t.Helper()
	m, meta, err := diffusion.LoadModel(tensor.CPU(), path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg diffusion.PretrainConfig
	if err := json.Unmarshal([]byte(meta["flowtune.pretrain_config"]), &cfg); err != nil {
		t.Fatal(err)
	}
	return m, cfg, meta
}

// requireBF16 fails unless every tensor of the checkpoint at path is stored as bfloat16.
func requireBF16(t *testing.T, path string) {
	t.Helper()
	f, err := nn.OpenSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, name := range f.Names() {
		if in, _ := f.Info(name); in.DType != nn.SafetensorsBF16 {
			t.Fatalf("%s stores %s as %s, want BF16", path, name, in.DType)
		}
	}
}
