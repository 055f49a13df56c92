package train

import (
	"reflect"
	"testing"
)

// FuzzConfig feeds arbitrary bytes to the config file reader. It must never panic, and every
// config it accepts must be valid and come back from its own config.yaml (what -resume and
// -config read) unchanged but for the redacted credentials of reward URLs. Run: go test -run x -fuzz FuzzConfig -fuzztime 60s ./rl/train/
func FuzzConfig(f *testing.F) {
	for _, algo := range Algorithms {
		y, err := DefaultConfig(algo).YAML()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(y)
	}
	for _, s := range []string{
		"", "---\n", "steps: 3\n", "algo: awm\nawm:\n  weighting: t**2\n  ghuber_p: 0.5\n",
		"algo: flowgrpo\nflowgrpo:\n  sde: cps\n  noise: 0.5\n", "algo: nft\nnft:\n  timesteps: 9\n",
		"reward: compose=1,pref=0.5\n", "reward: compose@http://127.0.0.1:8700=0.5\n", "reward: 'a@http://u:p@h:1/x?k=1=2'\n",
		"weight_decay: .nan\n", "lr: 1e999\n", "steps: 3\n---\nsteps: 4\n", "ram: {targets: 2}\n", "[1, 2]\n",
		"seed: 18446744073709551615\n", "eval_seed: -1\n", "task: 'te\\u0000xt'\n", "a: &x 1\nb: *x\n",
		"steps: !!float 3\n", "steps: 0x10\n", "lr: 1_000\n", "lora_alpha: 1e-400\n", "cfg: \"1\"\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := resolveConfigData("fuzz.yaml", data, nil, nil)
		if err != nil {
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("accepted an invalid config: %v", err)
		}
		y, err := cfg.YAML()
		if err != nil {
			t.Fatalf("accepted config does not render: %v", err)
		}
		back, err := resolveConfigData("config.yaml", y, nil, nil)
		if err != nil {
			t.Fatalf("config.yaml of an accepted config does not read back: %v\n%s", err, y)
		}
		cfg.Reward = RedactSpec(cfg.Reward) // config.yaml never holds credentials
		if !reflect.DeepEqual(back, cfg) {
			t.Fatalf("config.yaml does not round-trip:\nread    %+v\nre-read %+v\n%s", cfg, back, y)
		}
	})
}
