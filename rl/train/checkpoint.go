package train

// Checkpoints hold the whole training state in one safetensors file, written atomically: every
// adapter set (policy and the lagged/EMA copies), the AdamW moments, and in the metadata the
// step, the optimizer's step count, both RNG positions, the data cursor, the wall time so far
// and the metrics records. On the CPU a resumed run therefore repeats the uninterrupted run's
// numbers exactly.

import (
	"encoding/json"
	"fmt"
	"path/filepath"

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
		for _, p := range nn.AdapterParams(r.t.Model, name) {
			out["adapter/"+p.Name] = p.P
		}
	}
	for k, v := range r.opt.State() {
		out["adamw/"+k] = v
	}
	return out
}

func (r *run) saveCheckpoint() error {
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
	if err := nn.SaveTensors(path, r.stateTensors(), map[string]string{metaState: string(meta), metaConfig: string(y), metaBase: r.t.BaseName}); err != nil {
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
	if err := f.LoadInto(r.stateTensors()); err != nil {
		return fmt.Errorf("resume: %w (was the config changed? lora_rank and the algorithm must stay)", err)
	}
	r.opt.SetSteps(st.AdamSteps)
	r.st, r.savedStep = st, st.Step
	r.t.Log.Info().Int("step", st.Step).Str("checkpoint", path).Msg("resumed")
	return nil
}

// saveAdapters writes the trained policy adapter as adapters.safetensors.
func (r *run) saveAdapters() error {
	ts := map[string]*tensor.Tensor{}
	for _, p := range nn.AdapterParams(r.t.Model, rl.PolicyAdapter) {
		ts[p.Name] = p.P
	}
	y, err := r.cfg.YAML()
	if err != nil {
		return err
	}
	meta := map[string]string{metaConfig: string(y), metaBase: r.t.BaseName,
		"flowtune.lora_rank": fmt.Sprint(r.cfg.LoRARank), "flowtune.lora_alpha": fmt.Sprint(r.cfg.LoRAAlpha),
		"flowtune.step": fmt.Sprint(r.st.Step)}
	return nn.SaveTensors(filepath.Join(r.t.OutDir, AdaptersFile), ts, meta)
}
