package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/flowtune/flowtune/internal/atomicfile"
	"github.com/flowtune/flowtune/internal/cli"
)

// stage is one pretraining run of a curriculum: its folder under -out and its flags. Every
// stage after the first starts from the previous stage's checkpoint (-init).
type stage struct {
	name string
	args []string
	why  string
}

// recipes are the curricula -recipe runs. "shipped" made diffusion/base/base.safetensors.
var recipes = map[string][]stage{
	"shipped": {
		{"1-web", nil,
			"5000 steps from random weights on web-like captions (world.DefaultCaptionNoise), 35% signs: the grammar, shapes and colours"},
		{"2-exact", []string{"-captions", "exact", "-text-fraction", "0.5", "-lr", "5e-4", "-steps", "8000", "-seed", "2"},
			"8000 steps on exact captions, half of them signs: legible text, cleaner counts and relations"},
	},
}

// recipeFlags may accompany -recipe: they change where and how verbosely a stage runs, never
// what it computes.
var recipeFlags = map[string]bool{"recipe": true, "out": true, "device": true, "log-every": true,
	"sample-every": true, "save-every": true}

// runRecipe runs the named curriculum's stages in order into out/<stage>, skipping a stage whose
// folder holds a DONE marker from an earlier call (so an interrupted recipe continues where it
// stopped), and copies the last stage's model to out/base.safetensors.
func runRecipe(ctx context.Context, name, out string, fs *flag.FlagSet, stdout, stderr io.Writer) error {
	stages, ok := recipes[name]
	if !ok {
		return cli.Usagef("unknown -recipe %q (valid: shipped)", name)
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
			if err := run(ctx, args, stdout, stderr); err != nil {
				return fmt.Errorf("recipe %s stage %d/%d (%s): %w (run the same command again to continue from this stage)", name, i+1, len(stages), st.name, err)
			}
			if err := atomicfile.WriteBytes(done, []byte(strings.Join(args, " ")+"\n")); err != nil {
				return err
			}
		}
		prev = filepath.Join(dir, "base.safetensors")
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
