package train

// Named presets: sets of config values applied over the algorithm's defaults and before the
// config file and the flags, so that anything the file or a flag sets wins. The preset's name is
// itself a config key (preset), so config.yaml records it beside the values it led to, and
// -resume and -compare resolve the same config again.

import (
	"fmt"
	"sort"
	"strings"
)

// PresetPaper is the paper-sized run: the group and batch shape of Flow-GRPO, AWM and RAM on
// SD3.5 (24 images per prompt; they take 48 prompts per step on 32 GPUs, this takes 16 on one)
// on the built-in composition task, hundreds of steps, and a held-out evaluation of every
// held-out prompt under 8 seeds (1024 images: a standard error of about 0.01 on compose). Like
// the comparison's defaults it rolls out and evaluates without guidance (CFG 1): on an H200 the
// guided paper preset (CFG 4.5) lowered held-out compose under AWM and RAM, the unguided one
// raised it under AWM (CompareDefaults, docs/measurements.md §5). It is sized for one GPU
// (-device cuda); on two CPU cores it would take days.
const PresetPaper = "paper"

// presets maps a preset's name to the values it sets.
var presets = map[string]func(c *Config){
	PresetPaper: func(c *Config) {
		c.Task = "compose"
		c.Steps = 300
		c.Prompts, c.Group = 16, 24
		// 384 rollouts per step in 4 micro-batches; at 2 levels per endpoint (awm/ram/nft
		// timesteps, ram targets) a micro-batch is 192 model evaluations with their tape.
		c.MicroBatch = 96
		c.EvalEvery, c.EvalPrompts, c.EvalSeeds = 25, 128, 8
		c.CFG, c.EvalCFG = 1, 1
		c.CheckpointEvery = 25
	},
}

// Presets are the valid preset names.
func Presets() []string {
	names := make([]string, 0, len(presets))
	for n := range presets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// applyPreset sets the values of the named preset ("" sets nothing) and records its name.
func applyPreset(c *Config, name string) error {
	if name == "" {
		return nil
	}
	set, ok := presets[name]
	if !ok {
		return presetError(name)
	}
	set(c)
	c.Preset = name
	return nil
}

func presetError(name string) error {
	return fmt.Errorf("config: unknown preset %q (valid: %s, or empty for none)", name, strings.Join(Presets(), ", "))
}

// defaultRolloutsOnCPU is the rollout count of the default run, which takes about ten minutes
// on two CPU cores (README.md).
var defaultRolloutsOnCPU = func() int {
	c := DefaultConfig("")
	return c.Steps * c.Prompts * c.Group
}()

// CheckDevice refuses to run a GPU-sized preset on the CPU unless forced: the paper preset's
// rollouts alone are many times the default run's, which already takes minutes there.
func CheckDevice(c Config, device string, force bool) error {
	if c.Preset != PresetPaper || device != "cpu" || force {
		return nil
	}
	n := c.Steps * c.Prompts * c.Group
	return fmt.Errorf("preset %s is sized for a GPU: %d steps × %d prompts × %d images = %d rollouts, %.0f× the default run's %d "+
		"(about ten minutes on two CPU cores), so hours to days here: run it with -device cuda (a binary built with -tags cuda), "+
		"shrink it with flags (e.g. -steps, -prompts), or add -force-cpu to run it on the CPU anyway",
		c.Preset, c.Steps, c.Prompts, c.Group, n, float64(n)/float64(defaultRolloutsOnCPU), defaultRolloutsOnCPU)
}
