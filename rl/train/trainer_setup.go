package train

// The state of a run and its setup: the adapters, the optimizer, the rewards and the prompts,
// and either a fresh run directory or the restored checkpoint.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/flowtune/flowtune/diffusion"
	"github.com/flowtune/flowtune/internal/atomicfile"
	"github.com/flowtune/flowtune/internal/memlimit"
	"github.com/flowtune/flowtune/nn"
	"github.com/flowtune/flowtune/rl"
	"github.com/flowtune/flowtune/rl/reward"
	"github.com/flowtune/flowtune/tensor"
)

// run is the live state of one Run.
type run struct {
	t       *Trainer
	cfg     Config
	algo    algorithm
	pol     *rl.Policies
	opt     *nn.AdamW
	rewards []namedReward
	pipe    Pipeline
	net     rl.Model
	set     *PromptSet
	uncond  diffusion.Cond
	eval    *evalSet

	st         checkpointState
	rolloutRNG *tensor.RNG
	trainRNG   *tensor.RNG
	cursor     *cursor

	savedStep int      // step of the checkpoint on disk, −1 for none
	lock      *dirLock // the run directory's, held from setup to the end of Run

	started   time.Time // of this process's part of the run
	stepTimes []float64 // seconds per training step in this process
	evalTime  float64   // seconds of the last evaluation

	baseEvalKey string // of the step-0 images shared through Trainer.BaseEvalDir, "" when not shared
}

type namedReward struct {
	name   string
	weight float64
	url    string // server of a remote reward (credentials redacted, for logs), else ""
	r      reward.Reward
}

// setup validates the config, prepares the adapters and the optimizer, and either starts a
// fresh run directory or restores the checkpoint of an existing one.
func (t *Trainer) setup() (_ *run, err error) {
	cfg := t.Cfg
	if err := cfg.validate(t.ExtraRewards); err != nil {
		return nil, err
	}
	pipe, err := t.pipeline()
	if err != nil {
		return nil, err
	}
	set, err := t.promptSet()
	if err != nil {
		return nil, err
	}
	if c, ok := pipe.(interface{ CheckPrompts([]string) error }); ok {
		if err := c.CheckPrompts(append(promptTexts(set.Train), promptTexts(set.HeldOut)...)); err != nil {
			return nil, err
		}
	}
	avail := t.memAvailable
	if avail == nil {
		avail = memlimit.Available
	}
	if wp, ok := pipe.(WorldPipeline); ok { // the estimate knows the built-in model only
		if err := checkMemory(cfg, wp.Model, len(set.Train), avail); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(t.OutDir, 0o755); err != nil {
		return nil, fmt.Errorf("run directory: %w", err)
	}
	lock, err := lockDir(t.OutDir)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			lock.unlock()
		}
	}()
	// A save killed before its rename leaves a temporary file; with the lock held, none is live.
	if removed, err := atomicfile.RemoveStale(t.OutDir, runFile); err != nil {
		return nil, fmt.Errorf("run directory %s: %w", t.OutDir, err)
	} else if len(removed) > 0 {
		t.Log.Info().Strs("files", removed).Msg("removed temporary files of an interrupted save")
	}
	r := &run{t: t, cfg: cfg, started: time.Now(), pipe: pipe, net: pipe.Net(), set: set, uncond: pipe.Uncond(), savedStep: -1, lock: lock}
	rws, _ := cfg.Rewards()
	token, err := cfg.remoteToken(rws)
	if err != nil {
		return nil, err
	}
	for _, rw := range rws {
		var rr reward.Reward
		if rw.URL != "" {
			o := t.remoteOptions
			o.Timeout = time.Duration(cfg.RewardTimeout * float64(time.Second))
			o.Attempts = cfg.RewardRetries
			o.Log = &t.Log
			o.Token = token
			if rr, err = reward.NewRemote(rw.Name, rw.URL, o); err != nil {
				return nil, rewardFailure(err)
			}
		} else if extra, ok := t.ExtraRewards[rw.Name]; ok {
			rr = extra
		} else {
			rr, _ = reward.ByName(rw.Name)
		}
		r.rewards = append(r.rewards, namedReward{rw.Name, rw.Weight, reward.RedactURL(rw.URL), rr})
	}
	if r.eval, err = newEvalSet(r); err != nil {
		return nil, err
	}

	m := r.net
	if nn.HasAdapter(m, rl.PolicyAdapter) {
		return nil, errors.New("train.Trainer: the model already has a policy adapter (pass the bare base model)")
	}
	if t.BaseEvalDir != "" {
		if _, ok := pipe.(WorldPipeline); !ok { // an SD3 pipeline's images also depend on its VAE
			return nil, errors.New("train.Trainer: BaseEvalDir is for the built-in model only")
		}
		if !t.Resume { // a resumed run rarely evaluates step 0 again; then it samples it itself
			r.baseEvalKey = baseEvalKey(r, nn.NamedParams(m))
		}
	}
	nn.SetRequiresGrad(nn.NamedParams(m), false)
	if err := pipe.AddPolicyAdapter(cfg.LoRARank, float32(cfg.LoRAAlpha), tensor.NewRNG(cfg.Seed+4<<32)); err != nil {
		return nil, err
	}
	r.algo = newAlgorithm(r)
	if cfg.EvalEMA > 0 {
		nn.CopyAdapter(m, rl.EvalAdapter, rl.PolicyAdapter)
	}
	r.pol = rl.NewPolicies(m)
	r.opt = nn.NewAdamW(nn.AdapterParams(m, rl.PolicyAdapter), nn.AdamWConfig{LR: float32(cfg.LR), Beta1: 0.9, Beta2: 0.999,
		Eps: 1e-8, WeightDecay: float32(cfg.WeightDecay), MaxGradNorm: cfg.GradClip})

	r.st = checkpointState{Version: checkpointVersion, Algo: cfg.Algo,
		RolloutRNG: *tensor.NewRNG(cfg.Seed + 1<<32), TrainRNG: *tensor.NewRNG(cfg.Seed + 2<<32)}
	if t.Resume {
		if err := r.loadCheckpoint(); err != nil {
			return nil, err
		}
		if r.st.Step > cfg.Steps {
			return nil, fmt.Errorf("resume: the checkpoint is at step %d, beyond the configured %d steps (raise steps)", r.st.Step, cfg.Steps)
		}
	} else if _, err := os.Stat(filepath.Join(t.OutDir, CheckpointFile)); err == nil {
		return nil, fmt.Errorf("run directory %s already holds a checkpoint: resume it or choose another directory", t.OutDir)
	}
	r.rolloutRNG, r.trainRNG = &r.st.RolloutRNG, &r.st.TrainRNG
	r.cursor = newCursor(cfg.Seed+3<<32, len(r.set.Train), &r.st.Cursor)

	y, err := cfg.YAML()
	if err != nil {
		return nil, err
	}
	if err := atomicfile.WriteBytes(filepath.Join(t.OutDir, ConfigFile), y); err != nil {
		return nil, err
	}
	if err := r.writeMetrics(); err != nil {
		return nil, err
	}
	t.Log.Info().Str("algo", cfg.Algo).Str("prompts_from", set.Name).Str("reward", rewardList(r.rewards)).
		Int("steps", cfg.Steps).Int("from_step", r.st.Step).Int("prompts", cfg.Prompts).Int("group", cfg.Group).
		Int("lora_params", nn.Count(nn.AdapterParams(m, rl.PolicyAdapter))).Str("dir", t.OutDir).Msg("fine-tuning")
	return r, nil
}

// isAttention selects the q/k/v/out projections of both streams for LoRA (docs/algorithms.md §2.6).
func isAttention(path string) bool { return strings.Contains(path, ".attn.") }

func rewardList(rs []namedReward) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = fmt.Sprintf("%s=%g", r.name, r.weight)
		if r.url != "" {
			parts[i] = fmt.Sprintf("%s@%s=%g", r.name, r.url, r.weight)
		}
	}
	return strings.Join(parts, ",")
}
