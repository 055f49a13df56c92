package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/flowtune/flowtune/diffusion"
	"github.com/flowtune/flowtune/internal/atomicfile"
	"github.com/flowtune/flowtune/internal/cli"
	"github.com/flowtune/flowtune/nn"
	"github.com/flowtune/flowtune/tensor"
)

// stage is one pretraining run of a curriculum: its folder under -out and its flags. Every
// stage after the first starts from the previous stage's checkpoint (-init).
type stage struct {
	name string
	args []string
	why  string
	// bf16: the next stage starts from this stage's model rounded to bfloat16
	// (<stage>/base.bf16.safetensors), because the stage's checkpoint travelled between
	// machines in that form (in the repository, at half the size) when the recipe was made.
	bf16 bool
}

// recipes are the curricula -recipe runs. "shipped" made diffusion/base/base.safetensors: it is
// "wide-cpu" (the name it was built under, one session per stage). "small" made the previous
// shipped base, the 2 M-parameter diffusion/base/previous/base-2m.safetensors. "wide" made the
// 9.3 M-parameter model of issue 12's first GPU sessions (docs/measurements.md §5), which did not
// survive the machine it was on.
var recipes = map[string][]stage{
	"shipped":  wideCPU,
	"wide-cpu": wideCPU,
	"small": {
		{"1-web", nil,
			"5000 steps from random weights on web-like captions (world.DefaultCaptionNoise), 35% signs: the grammar, shapes and colours", false},
		{"2-exact", []string{"-captions", "exact", "-text-fraction", "0.5", "-lr", "5e-4", "-steps", "8000", "-seed", "2"},
			"8000 steps on exact captions, half of them signs: legible text, cleaner counts and relations", false},
	},
	// Stages 1 and 2 ran on an H100 (-device cuda, FLOWTUNE_CUDA_MATMUL=bf16, about 11 min
	// together); 3 and 4 on the two-core dev machine (80 and 96 min). Each originally ran under
	// -time-budget, and the step counts here are the ones those budgets chose. Stage 3 was
	// stopped at step 5000 of its 8194-step schedule, hence -until. Stage 4's budget moved its
	// schedule's end between 4872 and 6773 steps while other jobs shared the machine before
	// settling on 5215, so its learning rate here follows the final plan only.
	"wide": {
		{"1-gpu", []string{"-dim", "192", "-depth", "8", "-heads", "6", "-batch", "256", "-lr", "1e-3",
			"-captions", "exact", "-text-fraction", "0.5", "-steps", "2310"},
			"2310 steps of 256 images from random weights, width 192, depth 8 (9.3 M parameters), exact captions, half signs (a GPU stage: about 6 min of an H100, many hours on a CPU)", false},
		{"2-gpu", []string{"-batch", "256", "-lr", "5e-4", "-captions", "exact", "-text-fraction", "0.5",
			"-seed", "2", "-steps", "4789"},
			"4789 more steps of 256 images at a lower peak rate (a GPU stage: about 5 min of an H100)", false},
		{"3-see-held-out", []string{"-see-held-out", "-captions", "exact", "-text-fraction", "0.15",
			"-batch", "32", "-lr", "2e-4", "-seed", "7", "-steps", "8194", "-until", "5000"},
			"5000 steps of 32 images that may show the held-out colour–kind pairs and layouts, 15% signs (80 min on two CPU cores)", false},
		{"4-anneal", []string{"-see-held-out", "-captions", "exact", "-text-fraction", "0.15",
			"-batch", "32", "-lr", "1e-4", "-seed", "8", "-steps", "5215"},
			"5215 steps of 32 images at peak rate 1e-4, annealed to the end of the cosine (96 min on two CPU cores)", false},
	},
}

// The same shape built on the two-core CPU alone, a session (about two hours) per stage,
// for when no GPU is lent. Pretraining sees the held-out pairings from the start (the RL
// prompts stay split). Each stage's model is committed as bfloat16 and the next session's stage
// started from that file: stage 1 is diffusion/base/candidates/wide-cpu-1.bf16.safetensors, and
// stage 2, rounded the same way, is the shipped diffusion/base/base.safetensors.
var wideCPU = []stage{
	{"1-cpu", []string{"-dim", "192", "-depth", "8", "-heads", "6", "-captions", "exact", "-see-held-out",
		"-text-fraction", "0.2", "-batch", "32", "-lr", "1e-3", "-seed", "11", "-steps", "12000"},
		"12000 steps of 32 images from random weights, width 192, depth 8 (9.3 M parameters), exact captions, 20% signs, held-out pairings seen (2 h 12 min on two CPU cores, session 14)", true},
	{"2-cpu", []string{"-captions", "exact", "-see-held-out", "-text-fraction", "0.2", "-batch", "32", "-lr", "3e-4",
		"-seed", "12", "-steps", "10000"},
		"10000 more steps of 32 images at peak rate 3e-4, annealed to a tenth of it (1 h 51 min on two CPU cores, session 15)", true},
}

// recipeFlags may accompany -recipe: they change where and how verbosely a stage runs, never
// what it computes.
var recipeFlags = map[string]bool{"recipe": true, "out": true, "device": true, "log-every": true,
	"sample-every": true, "save-every": true}

// runRecipe runs the named curriculum's stages in order into out/<stage>, skipping a stage whose
// folder holds a DONE marker from an earlier call (so an interrupted recipe continues where it
// stopped), and copies the last stage's model (rounded to bf16 when the stage is marked so) to
// out/base.safetensors.
func runRecipe(ctx context.Context, name, out string, fs *flag.FlagSet, stdout, stderr io.Writer) error {
	stages, ok := recipes[name]
	if !ok {
		return cli.Usagef("unknown -recipe %q (valid: %s)", name, strings.Join(slices.Sorted(maps.Keys(recipes)), ", "))
	}
	var pass []string
	var bad []string
	fs.Visit(func(f *flag.Flag) {
		switch {
		case !recipeFlags[f.Name]:
			bad = append(bad, "-"+f.Name)
		case f.Name != "recipe" && f.Name != "out":
			pass = append(pass, "-"+f.Name, f.Value.String())
		}
	})
	if len(bad) > 0 {
		return cli.Usagef("-recipe sets every training flag itself; drop %s (allowed beside it: -out, -device, -log-every, -sample-every, -save-every)", strings.Join(bad, ", "))
	}
	prev := ""
	var err error
	for i, st := range stages {
		dir := filepath.Join(out, st.name)
		done := filepath.Join(dir, "DONE")
		if _, err := os.Stat(done); err == nil {
			fmt.Fprintf(stderr, "pretrain: recipe %s stage %d/%d (%s) is already done in %s; skipping it\n", name, i+1, len(stages), st.name, dir)
		} else {
			fmt.Fprintf(stderr, "pretrain: recipe %s stage %d/%d (%s): %s\n", name, i+1, len(stages), st.name, st.why)
			args := append(append([]string{"-out", dir}, pass...), st.args...)
			if prev != "" {
				args = append(args, "-init", prev)
			}
			if err = run(ctx, args, stdout, stderr); err != nil {
				return fmt.Errorf("recipe %s stage %d/%d (%s): %w (run the same command again to continue from this stage)", name, i+1, len(stages), st.name, err)
			}
			if err = atomicfile.WriteBytes(done, []byte(strings.Join(args, " ")+"\n")); err != nil {
				return err
			}
		}
		prev = filepath.Join(dir, "base.safetensors")
		if st.bf16 {
			if prev, err = roundedBF16(prev); err != nil {
				return fmt.Errorf("recipe %s stage %d/%d (%s): %w", name, i+1, len(stages), st.name, err)
			}
		}
	}
	data, err := os.ReadFile(prev)
	if err != nil {
		return err
	}
	final := filepath.Join(out, "base.safetensors")
	if err := atomicfile.WriteBytes(final, data); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "pretrain: recipe %s done: %s\n", name, final)
	return nil
}

// roundedBF16 writes the model at path with its weights rounded to bfloat16 beside it
// (base.bf16.safetensors), unless that file is already there, and returns its path.
func roundedBF16(path string) (string, error) {
	out := strings.TrimSuffix(path, ".safetensors") + ".bf16.safetensors"
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	m, meta, err := diffusion.LoadModel(tensor.CPU(), path)
	if err != nil {
		return "", err
	}
	meta["flowtune.converted_from"] = path
	return out, m.SaveAs(out, meta, nn.SafetensorsBF16)
}
