package train

import (
	"flag"
	"io"
	"math"
	"strings"
	"testing"
)

// NaN and ±Inf are refused where a key is read, from a flag, from the YAML file and from a
// config built in code, with the key named; the config.yaml of a valid config reads back.
func TestConfigRejectsNonFiniteNumbers(t *testing.T) {
	for _, c := range []struct{ key, value string }{
		{"weight-decay", "NaN"}, {"grad-clip", "nan"}, {"flowgrpo.adv-clip", "NaN"}, {"eval-cfg", "Inf"},
		{"lr", "-Inf"}, {"ram.multiplier", "+inf"}, {"nft.beta", "1e400"},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		cfg := DefaultConfig("")
		cfg.RegisterFlags(fs)
		err := fs.Parse([]string{"-" + c.key, c.value})
		wantErr(t, err, "-"+c.key, "not a finite number")

		_, err = ResolveConfig("", map[string]string{c.key: c.value})
		wantErr(t, err, strings.ReplaceAll(c.key, "-", "_"), "not a finite number")
	}
	for _, c := range []struct{ text, key string }{
		{"weight_decay: .nan\n", "weight_decay"}, {"steps: 3\ngrad_clip: .inf\n", "grad_clip"},
		{"flowgrpo:\n  adv_clip: -.Inf\n", "flowgrpo.adv_clip"}, {"eval_cfg: 1e999\n", "eval_cfg"},
	} {
		_, err := ResolveConfig(writeFile(t, c.text), nil)
		wantErr(t, err, c.key, "line", "not a finite number")
	}
	cfg := DefaultConfig("flowgrpo")
	cfg.GRPO.AdvClip = math.NaN()
	wantErr(t, cfg.Validate(), "flowgrpo.adv_clip must be a finite number")
	cfg = DefaultConfig("")
	cfg.EvalCFG = math.Inf(1)
	wantErr(t, cfg.Validate(), "eval_cfg must be a finite number")
}

// awm.ghuber_p ≤ 0 (or NaN) is a config error, not a panic in the first training step.
func TestGHuberExponentMustBePositive(t *testing.T) {
	for _, v := range []string{"0", "-1", "NaN"} {
		_, err := ResolveConfig("", map[string]string{"algo": "awm", "awm.ghuber_p": v})
		wantErr(t, err, "awm.ghuber_p")
	}
	if _, err := ResolveConfig("", map[string]string{"algo": "awm", "awm.ghuber_p": "0.5"}); err != nil {
		t.Fatal(err)
	}
}

// Counts beyond any workable size are refused before anything multiplies them.
func TestConfigRejectsHugeCounts(t *testing.T) {
	_, err := ResolveConfig("", map[string]string{"prompts": "1000000000000"})
	wantErr(t, err, "prompts", "beyond")
}

// A second YAML document in a config file is an error naming its line, not silently ignored.
func TestConfigRejectsSecondDocument(t *testing.T) {
	_, err := ResolveConfig(writeFile(t, "steps: 3\n---\nsteps: 5\nlr: 0.1\n"), nil)
	wantErr(t, err, "second YAML document", "line 2")
	// A leading document marker alone is one document.
	if _, err := ResolveConfig(writeFile(t, "---\nsteps: 3\n"), nil); err != nil {
		t.Fatal(err)
	}
}
