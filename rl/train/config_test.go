package train

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one mentioning %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error %q does not mention %q", err, p)
		}
	}
}

func TestConfigRejectsUnknownKeysListingValidOnes(t *testing.T) {
	_, err := ResolveConfig(writeFile(t, "steps: 3\nlrr: 0.1\n"), nil)
	wantErr(t, err, `unknown key "lrr"`, "line 2", "valid keys:", "lr,", "steps", "eval_every", "ram")

	_, err = ResolveConfig(writeFile(t, "ram:\n  targets: 2\n  multipler: 5\n"), nil)
	wantErr(t, err, `unknown key "ram.multipler"`, "line 3", "ram.multiplier", "ram.targets")

	_, err = ResolveConfig(writeFile(t, "ram: 5\n"), nil)
	wantErr(t, err, "ram must be a mapping")

	_, err = ResolveConfig("", map[string]string{"bogus": "1"})
	wantErr(t, err, `unknown key "bogus"`, "eval_seeds", "flowgrpo.kl_beta")

	_, err = ResolveConfig(writeFile(t, "steps: many\n"), nil)
	wantErr(t, err, "line 1", "steps", `"many" is not an integer`)

	_, err = ResolveConfig(writeFile(t, "nft:\n  beta: [1, 2]\n"), nil)
	wantErr(t, err, "line 2", "nft.beta must be a single value")
}

// Defaults of the algorithm, then the file, then the explicit overrides; keys absent from the
// file (nested ones included) keep their defaults.
func TestResolveConfigLayers(t *testing.T) {
	path := writeFile(t, "algo: awm\nsteps: 7\nlr: 0.5\nawm:\n  kl_beta: 0.01\n")
	cfg, err := ResolveConfig(path, map[string]string{"lr": "0.002", "eval-every": "3"})
	if err != nil {
		t.Fatal(err)
	}
	def := DefaultConfig("awm")
	if cfg.Algo != "awm" || cfg.Steps != 7 || cfg.LR != 0.002 || cfg.EvalEvery != 3 || cfg.AWM.KLBeta != 0.01 {
		t.Fatalf("layers not applied: %+v", cfg)
	}
	if cfg.AWM.Timesteps != def.AWM.Timesteps || cfg.AWM.Weighting != def.AWM.Weighting || cfg.Group != def.Group {
		t.Fatalf("keys absent from the file lost their defaults: %+v", cfg)
	}
	cfg, err = ResolveConfig(path, map[string]string{"algo": "ram"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Algo != "ram" || cfg.Steps != 7 {
		t.Fatalf("algo override: %+v", cfg)
	}
	if cfg, err := ResolveConfig("", nil); err != nil || cfg != DefaultConfig("") || cfg.Algo != DefaultAlgo {
		t.Fatalf("no file, no flags: %v %+v", err, cfg)
	}
}

// Only the flags given on the command line override the file: RegisterFlags + flag.Visit.
func TestFlagsOverrideOnlyWhenSet(t *testing.T) {
	path := writeFile(t, "steps: 9\nlr: 0.004\nram:\n  multiplier: 30\n")
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	c := DefaultConfig("")
	c.RegisterFlags(fs)
	if err := fs.Parse([]string{"-lr", "0.01", "-ram.multiplier", "50", "-eval-seeds=3"}); err != nil {
		t.Fatal(err)
	}
	set := map[string]string{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = f.Value.String() })
	cfg, err := ResolveConfig(path, set)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Steps != 9 || cfg.LR != 0.01 || cfg.RAM.Multiplier != 50 || cfg.EvalSeeds != 3 {
		t.Fatalf("got steps %d lr %g m %g eval_seeds %d, want 9 0.01 50 3", cfg.Steps, cfg.LR, cfg.RAM.Multiplier, cfg.EvalSeeds)
	}
	if err := fs.Parse([]string{"-steps", "x"}); err == nil {
		t.Fatal("a non-integer -steps was accepted")
	}
}

func TestConfigYAMLRoundTrip(t *testing.T) {
	c := DefaultConfig("nft")
	c.Reward, c.Seed, c.NFT.Beta, c.LR, c.Task = "pref=0.5,jpeg=0.01,aesthetic@http://10.0.0.7:8700/v1?m=a=2", 1<<40+3, 0.1, 1.0/3, "pref"
	c.RewardTimeout, c.RewardRetries = 2.5, 7
	y, err := c.YAML()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ResolveConfig(writeFile(t, string(y)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got != c {
		t.Fatalf("round trip changed the config:\n%s\n%+v\n%+v", y, got, c)
	}
}

func TestValidateNamesTheChoices(t *testing.T) {
	cases := []struct {
		key, value string
		parts      []string
	}{
		{"algo", "ppo", []string{`"ppo"`, "awm, ram, flowgrpo, nft"}},
		{"task", "geneval", []string{`"geneval"`, "compose, text, pref"}},
		{"reward", "compose,clip", []string{`"clip"`, "compose, compose_strict, ocr, jpeg, pref"}},
		{"reward", "compose=x", []string{"weight"}},
		{"reward", "pref,pref", []string{"twice"}},
		{"group", "1", []string{"group"}},
		{"lr", "0", []string{"lr"}},
		{"reward_timeout", "0", []string{"reward_timeout", "seconds"}},
		{"reward-retries", "0", []string{"reward_retries", "first attempt included"}},
		{"reward", "compose@localhost:8700", []string{`"compose@localhost:8700"`, "http://", "name@http://host:port[=weight]"}},
		{"reward", "compose@http://:8700=2", []string{"no host", "name@http://host:port[=weight]"}},
		{"reward", "@http://h:1", []string{"no name before '@'"}},
		{"reward", "compose@http://h:1=x", []string{`"compose@http://h:1=x"`, "name@http://host:port[=weight]"}},
		{"reward", "compose@http://a:1,compose", []string{"twice"}},
	}
	for _, c := range cases {
		_, err := ResolveConfig("", map[string]string{c.key: c.value})
		wantErr(t, err, c.parts...)
	}
	_, err := ResolveConfig("", map[string]string{"algo": "awm", "awm.weighting": "cosine"})
	wantErr(t, err, "ghuber")
	_, err = ResolveConfig("", map[string]string{"algo": "awm", "awm.time_type": "uniform"})
	wantErr(t, err, "discrete_wo_init")
	_, err = ResolveConfig("", map[string]string{"algo": "flowgrpo", "flowgrpo.sde": "ddim"})
	wantErr(t, err, "flow, cps")
	_, err = ResolveConfig("", map[string]string{"algo": "nft", "nft.timesteps": "10"})
	wantErr(t, err, "nft.timesteps")
}

func TestRewardSpec(t *testing.T) {
	c := DefaultConfig("")
	c.Reward = " compose=1, pref=0.5 ,jpeg"
	rws, err := c.Rewards()
	if err != nil {
		t.Fatal(err)
	}
	want := []RewardWeight{{Name: "compose", Weight: 1}, {Name: "pref", Weight: 0.5}, {Name: "jpeg", Weight: 1}}
	if len(rws) != len(want) {
		t.Fatalf("got %v", rws)
	}
	for i := range want {
		if rws[i] != want[i] {
			t.Fatalf("got %v, want %v", rws, want)
		}
	}
	for task, name := range map[string]string{"compose": "compose", "text": "ocr", "pref": "pref"} {
		c := DefaultConfig("")
		c.Task = task
		rws, err := c.Rewards()
		if err != nil || len(rws) != 1 || rws[0] != (RewardWeight{Name: name, Weight: 1}) {
			t.Fatalf("task %s: default reward %v (%v), want %s", task, rws, err, name)
		}
	}
}

// Remote entries: name@URL with an optional weight after the last '=' (only when that is a
// finite number), next to registered ones; any name is accepted for a remote reward.
func TestRemoteRewardSpec(t *testing.T) {
	cases := []struct {
		spec string
		want []RewardWeight
	}{
		{"a@http://h:1=2,pref=0.5", []RewardWeight{{Name: "a", Weight: 2, URL: "http://h:1"}, {Name: "pref", Weight: 0.5}}},
		{"a@http://h:1", []RewardWeight{{Name: "a", Weight: 1, URL: "http://h:1"}}},
		{" compose @ https://rm.example/score?model=big , pref", []RewardWeight{
			{Name: "compose", Weight: 1, URL: "https://rm.example/score?model=big"}, {Name: "pref", Weight: 1}}},
		{"pickscore@http://h:1/x?k=v=0.25", []RewardWeight{{Name: "pickscore", Weight: 0.25, URL: "http://h:1/x?k=v"}}},
		{"a@http://h:1/x?k=3=1", []RewardWeight{{Name: "a", Weight: 1, URL: "http://h:1/x?k=3"}}},
		{"a@http://h:1=-1e-3", []RewardWeight{{Name: "a", Weight: -1e-3, URL: "http://h:1"}}},
	}
	for _, c := range cases {
		cfg := DefaultConfig("")
		cfg.Reward = c.spec
		got, err := cfg.Rewards()
		if err != nil {
			t.Fatalf("%q: %v", c.spec, err)
		}
		if len(got) != len(c.want) {
			t.Fatalf("%q: got %+v, want %+v", c.spec, got, c.want)
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Fatalf("%q: got %+v, want %+v", c.spec, got, c.want)
			}
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("%q does not validate: %v", c.spec, err)
		}
	}
	for _, bad := range []string{"a@ftp://h:1", "a@http://", "a@h:1=2", "a@http://h:1=NaN", "a@http://h:1=inf"} {
		cfg := DefaultConfig("")
		cfg.Reward = bad
		wantErr(t, cfg.Validate(), bad, "name@http://host:port[=weight]")
	}
	cfg, err := ResolveConfig("", map[string]string{"reward": "compose@http://127.0.0.1:8700=1,pref=0.5", "reward-timeout": "0.5", "reward-retries": "1"})
	if err != nil || cfg.RewardTimeout != 0.5 || cfg.RewardRetries != 1 {
		t.Fatalf("remote flags: %v %+v", err, cfg)
	}
	if d := DefaultConfig(""); d.RewardTimeout != 60 || d.RewardRetries != 3 {
		t.Fatalf("defaults: reward_timeout %g, reward_retries %d; want 60 and 3", d.RewardTimeout, d.RewardRetries)
	}
}
