// Command finetune post-trains a text-to-image model with reinforcement learning and writes a
// run directory (see train.Trainer): flowtune's base model (or -model, a flowtune checkpoint) on
// one of the built-in world's tasks, or an SD3-family checkpoint (-model, a diffusers folder or a
// single file) on a prompt file with its prompt-embedding cache and a remote reward
// (docs/your-model.md).
//
//	go run ./cmd/finetune                                  # the built-in default: RAM on pref (a few minutes on 2 cores)
//	go run ./cmd/finetune -algo awm -task compose -steps 100
//	go run ./cmd/finetune -reward compose=1,pref=0.5 -lr 5e-4 -out runs/mix
//	go run ./cmd/finetune -config runs/mix/config.yaml -seed 2
//	go run ./cmd/finetune -resume runs/mix -steps 200     # continue (and extend) a run
//	go run ./cmd/finetune -model <SD3.5 folder> -embeddings cache.safetensors -prompts train.txt -reward pickscore@http://127.0.0.1:8700
//	go run ./cmd/finetune -compare awm,ram,flowgrpo -seeds 3 -out runs/compare   # head to head (≈40 min)
//	./finetune -device cuda -preset paper -algo awm -model base64.safetensors  # paper-sized, on a GPU (built with -tags cuda)
//
// Every config key is also a flag (yaml key with '-' for '_', e.g. -eval-every, -ram.multiplier).
// With -config the file is read first and only the flags given explicitly override it. -preset
// paper (train.PresetPaper) puts the papers' group shape and a run of hundreds of steps below
// both; it is sized for a GPU and refused on -device cpu unless -force-cpu. Ctrl-C saves a
// checkpoint and exits with status 130; -resume continues from it.
//
// -compare trains each listed algorithm (Flow-GRPO among them) with -seeds seeds on the same
// budget and writes compare.md, compare.json and compare_curves.png beside one run directory per
// algorithm and seed (see train.Comparison); config flags apply to every run, and running the same
// command again continues an interrupted comparison.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/flowtune/flowtune/internal/memlimit"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/flowtune/flowtune/cmd/internal/cpuprof"
	"github.com/flowtune/flowtune/cmd/internal/device"
	"github.com/flowtune/flowtune/cuda"
	"github.com/flowtune/flowtune/diffusion"
	"github.com/flowtune/flowtune/diffusion/base"
	"github.com/flowtune/flowtune/diffusion/world"
	"github.com/flowtune/flowtune/internal/cli"
	"github.com/flowtune/flowtune/internal/logx"
	"github.com/flowtune/flowtune/rl/train"
	"github.com/flowtune/flowtune/tensor"
)

// Exit statuses.
const (
	exitOK          = cli.ExitOK
	exitError       = cli.ExitError
	exitUsage       = cli.ExitUsage
	exitInterrupted = cli.ExitInterrupted
)

func main() {
	memlimit.Apply()                   // collect garbage before the heap doubles past the machine (internal/memlimit)
	ctx := interruptContext(os.Stderr) // a second Ctrl-C kills the process at once
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// options are the flags that are not config keys.
type options struct {
	config, out, resume, device, model string
	compare                            string
	seeds                              int
	profileSteps                       string
	cpuProfile                         string
	phaseTable                         bool
	forceCPU                           bool
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("finetune", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.config, "config", "", "YAML config file (flags given explicitly override it)")
	fs.StringVar(&o.out, "out", "", "run directory (default runs/<algo>-<timestamp>)")
	fs.StringVar(&o.resume, "resume", "", "continue the run in this directory from its last checkpoint")
	fs.StringVar(&o.device, "device", "cpu", "compute device: cpu or cuda")
	fs.StringVar(&o.model, "model", "", "base model checkpoint (.safetensors); empty: the shipped base model")
	fs.StringVar(&o.compare, "compare", "", "compare these algorithms head to head, e.g. awm,ram,flowgrpo (Flow-GRPO is the baseline)")
	fs.IntVar(&o.seeds, "seeds", 3, "with -compare: seeds per algorithm (seed, seed+1, …)")
	fs.BoolVar(&o.forceCPU, "force-cpu", false, "run a GPU-sized preset (-preset paper) on the CPU anyway")
	fs.StringVar(&o.profileSteps, "profile-steps", "", "with -device cuda: capture only steps FROM:TO under nsys --capture-range=cudaProfilerApi")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a pprof CPU profile of the whole run to this file when it ends (go tool pprof -top FILE)")
	fs.BoolVar(&o.phaseTable, "phase-table", false, "with -device cuda: print per training phase its wall and GPU time and its kernel launches, syncs, copies and allocations")
	own := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) { own[f.Name] = true })
	defaults := train.DefaultConfig("")
	defaults.RegisterFlags(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: finetune [flags]\n\nRL post-training of the base model on the built-in world; "+
			"with no flags it runs the default (%s on %s).\n\nflags:\n", train.DefaultAlgo, train.DefaultTask)
		fs.PrintDefaults()
	}
	if err := cli.Parse(fs, promptFileArgs(args), stdout); err != nil {
		return cli.Report(stderr, "finetune", err)
	}
	overrides := map[string]string{}
	fs.Visit(func(f *flag.Flag) {
		if !own[f.Name] {
			overrides[f.Name] = f.Value.String()
		}
	})

	stopProfile, err := cpuprof.Start(o.cpuProfile)
	if err != nil {
		fmt.Fprintln(stderr, "finetune:", err)
		return exitError
	}
	err = finetune(ctx, o, overrides, stderr)
	if perr := stopProfile(); err == nil {
		err = perr
	}
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, train.ErrInterrupted):
		fmt.Fprintln(stderr, "finetune:", err)
		return exitInterrupted
	default:
		fmt.Fprintln(stderr, "finetune:", err)
		return exitError
	}
}

func finetune(ctx context.Context, o options, overrides map[string]string, stderr io.Writer) error {
	if o.compare != "" {
		return compare(ctx, o, overrides, stderr)
	}
	if o.resume != "" {
		if o.config != "" {
			return errors.New("-resume reads the run's own config.yaml; give flags to change it instead of -config")
		}
		if o.out != "" && filepath.Clean(o.out) != filepath.Clean(o.resume) {
			return errors.New("-resume continues in its own directory; drop -out")
		}
		o.config, o.out = filepath.Join(o.resume, train.ConfigFile), o.resume
		if _, err := os.Stat(filepath.Join(o.resume, train.CheckpointFile)); err != nil {
			return fmt.Errorf("-resume %s: no checkpoint to continue from (%v)", o.resume, err)
		}
	}
	isSD3, err := sd3Model(o.model)
	if err != nil {
		return err
	}
	defaults := train.DefaultConfig
	if isSD3 {
		defaults = train.SD3Defaults
	}
	cfg, err := train.ResolveConfigFrom(defaults, o.config, overrides)
	if err != nil {
		return err
	}
	if isSD3 && cfg.Preset != "" {
		return fmt.Errorf("-preset %s sizes runs of the built-in model; an SD3-family model starts from its own defaults (docs/sd3.md)", cfg.Preset)
	}
	if err := train.CheckDevice(cfg, o.device, o.forceCPU); err != nil {
		return err
	}
	if o.out == "" {
		o.out = filepath.Join("runs", cfg.Algo+"-"+time.Now().Format("20060102-150405"))
	}

	backend, err := device.Open(o.device)
	if err != nil {
		return err
	}
	log := logx.New(stderr)
	var t *train.Trainer
	if isSD3 {
		pipe, set, closeAll, err := setupSD3(backend, o.model, cfg, log)
		if err != nil {
			return err
		}
		defer closeAll()
		t = &train.Trainer{Cfg: cfg, Pipeline: pipe, Prompts: set, OutDir: o.out, Log: log, BaseName: o.model, Resume: o.resume != ""}
	} else {
		w, tok, m, name, err := setupWorld(backend, o.model)
		if err != nil {
			return err
		}
		set, err := train.LoadPromptSet(cfg)
		if err != nil {
			return err
		}
		log.Info().Str("device", o.device).Str("base", name).Int("base_params", diffusion.CountParamsOf(m)).Msg("setup")
		t = &train.Trainer{Cfg: cfg, Model: m, World: w, Tok: tok, Prompts: set, OutDir: o.out, Log: log, BaseName: name, Resume: o.resume != ""}
	}
	if o.device == "cuda" {
		log.Info().Str("gpu", cuda.Describe(backend)).Msg("cuda")
		t.Phase = cuda.Range // NVTX ranges per phase (no-op without a profiler)
		if o.phaseTable {
			pt := cuda.NewPhaseTable(backend)
			t.Phase = func(name string) func() {
				endNVTX, endRow := cuda.Range(name), pt.Range(name)
				return func() { endRow(); endNVTX() }
			}
			defer pt.Write(stderr)
		}
	}
	if o.profileSteps != "" {
		from, to, err := parseSteps(o.profileSteps)
		if err != nil {
			return err
		}
		p := cuda.ProfileSteps(backend, from, to)
		t.BeforeStep = p.Step
		defer p.Stop()
	}
	s, err := t.Run(ctx)
	if err != nil {
		return err
	}
	printSummary(stderr, s, o.out)
	return nil
}

// compare runs the head-to-head comparison of -compare.
func compare(ctx context.Context, o options, overrides map[string]string, stderr io.Writer) error {
	if o.resume != "" {
		return errors.New("-compare continues an interrupted comparison by itself: run the same command (same -out) again instead of -resume")
	}
	if o.out == "" {
		o.out = filepath.Join("runs", "compare-"+time.Now().Format("20060102-150405"))
	}
	if isSD3, err := sd3Model(o.model); err != nil || isSD3 {
		if err != nil {
			return err
		}
		return errors.New("-compare runs on the built-in model only; train an SD3-family model with one -algo at a time")
	}
	// A preset (from the flags or the file) sized for a GPU is refused on the CPU here too;
	// any other config error is the comparison's to report.
	if cfg, err := train.ResolveConfig(o.config, overrides); err == nil {
		if err := train.CheckDevice(cfg, o.device, o.forceCPU); err != nil {
			return err
		}
	}
	backend, err := device.Open(o.device)
	if err != nil {
		return err
	}
	w, tok, _, _, err := setupWorld(backend, o.model)
	if err != nil {
		return err
	}
	c := &train.Comparison{Algos: strings.Split(o.compare, ","), Seeds: o.seeds, ConfigPath: o.config, Overrides: overrides,
		OutDir: o.out, World: w, Tok: tok, Log: logx.New(stderr), Device: o.device,
		NewModel: func() (*diffusion.Model, string, error) { return loadBase(backend, o.model) }}
	for i := range c.Algos {
		c.Algos[i] = strings.TrimSpace(c.Algos[i])
	}
	rep, err := c.Run(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "\n%s\nwritten to %s (%s, %s, %s)\n", rep.Markdown(), o.out, train.CompareTableFile, train.CompareJSONFile, train.CompareCurveFile)
	return nil
}

// parseSteps reads -profile-steps FROM:TO (or a single step).
func parseSteps(v string) (int, int, error) {
	a, b, ok := strings.Cut(v, ":")
	if !ok {
		b = a
	}
	from, err1 := strconv.Atoi(strings.TrimSpace(a))
	to, err2 := strconv.Atoi(strings.TrimSpace(b))
	if err1 != nil || err2 != nil || from < 1 || to < from {
		return 0, 0, fmt.Errorf("-profile-steps %q: want FROM:TO with 1 ≤ FROM ≤ TO (e.g. 3:5)", v)
	}
	return from, to, nil
}

// setupWorld loads the base model and builds the built-in world at the model's image size (a
// larger base from cmd/pretrain -size renders and is scored at its own size), with the
// tokenizer, and checks they fit.
func setupWorld(b tensor.Backend, model string) (*world.World, *world.Tokenizer, *diffusion.Model, string, error) {
	m, name, err := loadBase(b, model)
	if err != nil {
		return nil, nil, nil, "", err
	}
	wcfg := world.DefaultConfig()
	wcfg.Size = m.Cfg.Size
	w, err := world.New(wcfg)
	if err != nil {
		return nil, nil, nil, "", fmt.Errorf("base model %s: %w", name, err)
	}
	tok := world.NewTokenizer(0)
	if m.Cfg.Vocab != tok.VocabSize() || m.Cfg.TextLen != tok.MaxLen {
		return nil, nil, nil, "", fmt.Errorf("base model %s (vocab %d, text length %d) does not fit the world's tokenizer (vocab %d, text length %d)",
			name, m.Cfg.Vocab, m.Cfg.TextLen, tok.VocabSize(), tok.MaxLen)
	}
	return w, tok, m, name, nil
}

// loadBase loads the checkpoint at path, or the shipped model when path is empty.
func loadBase(b tensor.Backend, path string) (*diffusion.Model, string, error) {
	if path == "" {
		m, err := base.Load(b)
		return m, base.Name, err
	}
	m, _, err := diffusion.LoadModel(b, path)
	return m, path, err
}

func printSummary(w io.Writer, s *train.Summary, dir string) {
	fmt.Fprintf(w, "\n%s on %s: %d steps in %.0f s; %s reward over %d images (base → final, ±1 stderr of the paired change):\n",
		s.Algo, s.Task, s.Steps, s.WallSeconds, train.EvalLabel(s.EvalSeen, s.EvalPrompts), s.EvalImages)
	names := make([]string, 0, len(s.Rewards))
	for n := range s.Rewards {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		r := s.Rewards[n]
		fmt.Fprintf(w, "  %-15s %.4f → %.4f  (%+.4f ± %.4f, %s)\n", n, r.BaseEval, r.FinalEval, r.Delta, r.DeltaStderr, zText(r))
	}
	fmt.Fprintf(w, "run directory: %s (%s)\n", dir, strings.Join([]string{train.SummaryFile, train.MetricsFile, train.CurveFile, train.AdaptersFile}, ", "))
}

// zText says how far the paired change is from zero in standard errors. A change and a stderr
// that both print as 0.0000 are rounding noise (one image off in the last bit already gives a z
// of about 1), and a zero stderr (identical changes, or one image) leaves the ratio undefined:
// neither prints a z.
func zText(r train.RewardSummary) string {
	const printed = 0.00005 // below this, %.4f prints 0.0000
	switch {
	case math.Abs(r.Delta) < printed && r.DeltaStderr < printed:
		return "no change at this precision"
	case r.DeltaStderr == 0:
		return "zero stderr: z undefined"
	}
	return fmt.Sprintf("z = %.1f", r.DeltaZ)
}
