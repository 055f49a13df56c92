package train

// Checkpoints hold the whole training state in one safetensors file, written atomically: every
// adapter set (policy and the lagged/EMA copies), the AdamW moments, and in the metadata the
// step, the optimizer's step count, both RNG positions, the data cursor, the wall time so far
// and the metrics records. On the CPU a resumed run therefore repeats the uninterrupted run's
// numbers exactly.

import (
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"strings"

	"github.com/flowtune/flowtune/nn"
	"github.com/flowtune/flowtune/rl"
	"github.com/flowtune/flowtune/tensor"
)

const checkpointVersion = 1

// Metadata keys of the checkpoint and adapter files.
const (
	metaState  = "flowtune.rl_state"
	metaConfig = "flowtune.rl_config"
	metaBase   = "flowtune.base_model"
)

// checkpointState is everything but the tensors.
type checkpointState struct {
	Version     int               `json:"version"`
	Algo        string            `json:"algo"`
	Step        int               `json:"step"` // completed optimizer steps
	AdamSteps   int               `json:"adam_steps"`
	Cursor      cursorState       `json:"cursor"`
	RolloutRNG  tensor.RNG        `json:"rollout_rng"`
	TrainRNG    tensor.RNG        `json:"train_rng"`
	WallSeconds float64           `json:"wall_seconds"`
	Metrics     []json.RawMessage `json:"metrics"`
}

// stateTensors are the live tensors a checkpoint stores, under their checkpoint names.
func (r *run) stateTensors() map[string]*tensor.Tensor {
	out := map[string]*tensor.Tensor{}
	for _, name := range []string{rl.PolicyAdapter, rl.OldAdapter, rl.EMAAdapter, rl.EvalAdapter} {
		for _, p := range nn.AdapterParams(r.net, name) {
			out["adapter/"+p.Name] = p.P
		}
	}
	for k, v := range r.opt.State() {
		out["adamw/"+k] = v
	}
	return out
}

func (r *run) saveCheckpoint() error {
	ts := r.stateTensors()
	if err := checkFinite(ts); err != nil {
		kept := "no checkpoint has been written yet"
		if r.savedStep >= 0 {
			kept = fmt.Sprintf("the checkpoint of step %d is kept", r.savedStep)
		}
		return fmt.Errorf("checkpoint at step %d not saved: %w; %s (a lower lr may help)", r.st.Step, err, kept)
	}
	st := r.st
	st.AdamSteps = r.opt.Steps()
	st.WallSeconds = r.wallSeconds()
	meta, err := json.Marshal(st)
	if err != nil {
		return err
	}
	y, err := r.cfg.YAML()
	if err != nil {
		return err
	}
	path := filepath.Join(r.t.OutDir, CheckpointFile)
	if err := nn.SaveTensors(path, ts, map[string]string{metaState: string(meta), metaConfig: string(y), metaBase: r.t.BaseName}); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	r.savedStep = r.st.Step
	return nil
}

// loadCheckpoint restores the state saved in the run directory into r (whose adapters and
// optimizer were built from the same config) and rewrites metrics.jsonl to match it.
func (r *run) loadCheckpoint() error {
	path := filepath.Join(r.t.OutDir, CheckpointFile)
	f, err := nn.OpenSafetensors(path)
	if err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	defer f.Close()
	var st checkpointState
	if err := json.Unmarshal([]byte(f.Metadata()[metaState]), &st); err != nil {
		return fmt.Errorf("resume: %s has no readable training state: %v", path, err)
	}
	if st.Version != checkpointVersion {
		return fmt.Errorf("resume: %s is checkpoint version %d, this build reads %d", path, st.Version, checkpointVersion)
	}
	if st.Algo != r.cfg.Algo {
		return fmt.Errorf("resume: %s was trained with %s, the config asks for %s", path, st.Algo, r.cfg.Algo)
	}
	if err := r.checkState(st); err != nil {
		return fmt.Errorf("resume: %s: %w", path, err)
	}
	if !f.Checksummed() {
		r.t.Log.Warn().Str("checkpoint", path).Msg("the checkpoint has no checksums (written by an older build): damage to it cannot be detected")
	}
	ts := r.stateTensors()
	if err := f.LoadInto(ts); err != nil {
		if strings.Contains(err.Error(), "checksum") {
			return fmt.Errorf("resume: %w", err)
		}
		return fmt.Errorf("resume: %w (was the config changed? lora_rank and the algorithm must stay)", err)
	}
	if err := checkFinite(ts); err != nil {
		return fmt.Errorf("resume: %s: %w: the checkpoint is unusable", path, err)
	}
	r.opt.SetSteps(st.AdamSteps)
	r.st, r.savedStep = st, st.Step
	r.t.Log.Info().Int("step", st.Step).Str("checkpoint", path).Msg("resumed")
	return nil
}

// saveAdapters writes the trained policy adapter as adapters.safetensors.
func (r *run) saveAdapters() error {
	ts := map[string]*tensor.Tensor{}
	for _, p := range nn.AdapterParams(r.net, rl.PolicyAdapter) {
		ts[p.Name] = p.P
	}
	y, err := r.cfg.YAML()
	if err != nil {
		return err
	}
	meta := map[string]string{metaConfig: string(y), metaBase: r.t.BaseName,
		"flowtune.lora_rank": fmt.Sprint(r.cfg.LoRARank), "flowtune.lora_alpha": fmt.Sprint(r.cfg.LoRAAlpha),
		"flowtune.step": fmt.Sprint(r.st.Step)}
	if err := nn.SaveTensors(filepath.Join(r.t.OutDir, AdaptersFile), ts, meta); err != nil {
		return err
	}
	return r.pipe.SaveAdapter(r.t.OutDir)
}

// checkFinite reports the first tensor (in name order) with a NaN or infinite value.
func checkFinite(ts map[string]*tensor.Tensor) error {
	names := make([]string, 0, len(ts))
	for n := range ts {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		for i, v := range ts[n].Data() {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("tensor %q holds %v at index %d", n, v, i)
			}
		}
	}
	return nil
}

// checkState checks the ranges of a checkpoint's training state against the run's config: a
// damaged or hand-edited state is refused before anything uses it (a negative cursor would index
// out of range, a negative step would train steps that do not exist, a noise stream of another
// seed would silently continue a different run).
func (r *run) checkState(st checkpointState) error {
	cfg := r.cfg
	n := len(r.set.Train)
	switch {
	case st.Step < 0:
		return fmt.Errorf("step %d is negative", st.Step)
	case st.AdamSteps < 0 || st.AdamSteps > st.Step:
		return fmt.Errorf("adam_steps %d is outside [0, step = %d]", st.AdamSteps, st.Step)
	case st.Cursor.Epoch < 0 || st.Cursor.Pos < 0 || st.Cursor.Pos > n:
		return fmt.Errorf("data cursor (epoch %d, position %d) is outside epoch ≥ 0, position in [0, %d]", st.Cursor.Epoch, st.Cursor.Pos, n)
	case math.IsNaN(st.WallSeconds) || st.WallSeconds < 0 || math.IsInf(st.WallSeconds, 0):
		return fmt.Errorf("wall_seconds %v is not a non-negative number", st.WallSeconds)
	}
	if want := cfg.Seed + 1<<32; st.RolloutRNG.Seed != want {
		return fmt.Errorf("its rollout noise stream has seed %d, but seed %d in the config gives %d (is config.yaml another run's?)", st.RolloutRNG.Seed, cfg.Seed, want)
	}
	if want := cfg.Seed + 2<<32; st.TrainRNG.Seed != want {
		return fmt.Errorf("its training noise stream has seed %d, but seed %d in the config gives %d (is config.yaml another run's?)", st.TrainRNG.Seed, cfg.Seed, want)
	}
	for i, line := range st.Metrics {
		var a anyRecord
		if err := json.Unmarshal(line, &a); err != nil {
			return fmt.Errorf("metrics record %d is not readable: %v", i, err)
		}
		if (a.Kind != "train" && a.Kind != "eval") || a.Step < 0 || a.Step > st.Step || a.Kind == "train" && a.Step == 0 {
			return fmt.Errorf("metrics record %d (kind %q, step %d) does not belong to a run at step %d", i, a.Kind, a.Step, st.Step)
		}
	}
	return nil
}
