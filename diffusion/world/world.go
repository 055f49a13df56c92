package world

import (
	"fmt"
	"image"
)

// Config sets up a World.
type Config struct {
	// Size is the image side in pixels, at least MinSize (32).
	Size int
	// Seed fixes the held-out split and the prompt lists.
	Seed uint64
	// TrainPrompts and HeldOutPrompts are the lengths of each task's prompt lists.
	TrainPrompts, HeldOutPrompts int
	// TextFraction is the probability that a pretraining sample is a sign rather than a scene
	// of shapes.
	TextFraction float64
	// Captions sets how pretraining captions fall short of the image.
	Captions CaptionNoise
	// PretrainHeldOut lets pretraining samples use the held-out combinations (colour–kind
	// pairs, layouts, sign strings), as a web-pretrained base has seen every concept and only
	// the RL prompts are split. Training prompts never use them either way. Off, held-out
	// prompts ask the base for pairings it has never seen drawn.
	PretrainHeldOut bool
}

// DefaultConfig is 32×32 images, seed 1, 512 training and 128 held-out prompts per task, 35%
// signs in pretraining and DefaultCaptionNoise.
func DefaultConfig() Config {
	return Config{Size: 32, Seed: 1, TrainPrompts: 512, HeldOutPrompts: 128,
		TextFraction: 0.35, Captions: DefaultCaptionNoise}
}

// World holds the split and the tasks for one Config.
type World struct {
	cfg   Config
	split *Split
	tasks []*Task
}

// Task is one benchmark task: its prompt lists (disjoint, held-out prompts each touching an
// unseen combination) and its renderer.
type Task struct {
	Name    string
	Train   []string
	HeldOut []string
	world   *World
}

// TaskNames are the names of the world's tasks.
var TaskNames = []string{"compose", "text", "pref"}

// New builds a world: the split from cfg.Seed, then each task's prompt lists from its own
// stream derived from the seed, so the lists do not depend on each other's lengths.
func New(cfg Config) (*World, error) {
	if cfg.Size < MinSize {
		return nil, fmt.Errorf("world: image size %d is below the minimum %d", cfg.Size, MinSize)
	}
	if cfg.TrainPrompts < 0 || cfg.HeldOutPrompts < 0 {
		return nil, fmt.Errorf("world: negative prompt counts (%d, %d)", cfg.TrainPrompts, cfg.HeldOutPrompts)
	}
	if cfg.TextFraction < 0 || cfg.TextFraction > 1 {
		return nil, fmt.Errorf("world: TextFraction %g is outside [0, 1]", cfg.TextFraction)
	}
	if err := cfg.Captions.validate(); err != nil {
		return nil, err
	}
	w := &World{cfg: cfg, split: NewSplit(cfg.Seed)}
	gens := map[string]func(RNG) Spec{
		"compose": RandomComposeSpec,
		"text":    RandomTextSpec,
		"pref": func(rng RNG) Spec {
			if chance(rng, 0.3) {
				return RandomTextSpec(rng)
			}
			return RandomComposeSpec(rng)
		},
	}
	for i, name := range TaskNames {
		rng := &splitMix{state: cfg.Seed*0x9E3779B97F4A7C15 + uint64(i+1)}
		t := &Task{Name: name, world: w}
		var err error
		if t.Train, err = w.promptList(rng, gens[name], false, cfg.TrainPrompts); err != nil {
			return nil, fmt.Errorf("world: task %s: %v", name, err)
		}
		if t.HeldOut, err = w.promptList(rng, gens[name], true, cfg.HeldOutPrompts); err != nil {
			return nil, fmt.Errorf("world: task %s: %v", name, err)
		}
		w.tasks = append(w.tasks, t)
	}
	return w, nil
}

// promptList draws n distinct prompts whose held-out status is heldOut.
func (w *World) promptList(rng RNG, gen func(RNG) Spec, heldOut bool, n int) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for tries := 0; len(out) < n; tries++ {
		if tries > 200*n+1000 {
			return nil, fmt.Errorf("only %d distinct prompts found, %d asked for", len(out), n)
		}
		p := drawSpec(rng, w.split, heldOut, gen).String()
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out, nil
}

// Config returns the world's configuration.
func (w *World) Config() Config { return w.cfg }

// Size is the image side.
func (w *World) Size() int { return w.cfg.Size }

// Split returns the held-out split.
func (w *World) Split() *Split { return w.split }

// Tasks returns the tasks in TaskNames order.
func (w *World) Tasks() []*Task { return w.tasks }

// Task looks a task up by name.
func (w *World) Task(name string) (*Task, error) {
	for _, t := range w.tasks {
		if t.Name == name {
			return t, nil
		}
	}
	return nil, fmt.Errorf("world: unknown task %q (tasks: %q)", name, TaskNames)
}

// Render draws a ground-truth image for spec: a random layout of its shapes (colourless
// clauses never take a held-out colour) or its sign in a random palette colour.
func (w *World) Render(spec Spec, rng RNG) (*image.RGBA, error) {
	if spec.Family == Text {
		if err := spec.Validate(); err != nil {
			return nil, fmt.Errorf("world: %q: %v", spec, err)
		}
		img := Blank(w.cfg.Size)
		DrawText(img, spec.Text, randomColor(rng))
		return img, nil
	}
	shapes, err := PlaceScene(spec, w.cfg.Size, rng, w.split.HeldPair)
	if err != nil {
		return nil, err
	}
	return RenderShapes(w.cfg.Size, shapes), nil
}

// Render draws a ground-truth image for spec (see World.Render).
func (t *Task) Render(spec Spec, rng RNG) (*image.RGBA, error) { return t.world.Render(spec, rng) }

// RenderPrompt parses prompt and renders it.
func (t *Task) RenderPrompt(prompt string, rng RNG) (*image.RGBA, error) {
	s, err := Parse(prompt)
	if err != nil {
		return nil, err
	}
	return t.world.Render(s, rng)
}
