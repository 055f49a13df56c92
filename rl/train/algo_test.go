package train

import (
	"fmt"
	"strings"
	"testing"
)

// Per registered algorithm: a value for every key of its config section that differs from the
// default (so a key that silently keeps its default fails), a value of the wrong form that the
// typed field must reject with key and line, and a well-formed value that validation rejects.
var algoCases = map[string]struct {
	changed   map[string]string
	malformed [2]string // key, value
	invalid   [3]string // key, value, part of the message
}{
	"awm": {
		changed: map[string]string{"weighting": "t**2", "ghuber_p": "0.5", "clip_range": "0.2", "kl_beta": "0.01",
			"ema_beta": "0.5", "ema_max_decay": "0.2", "ema_ramp": "0.01", "timesteps": "3", "time_type": "discrete_with_init",
			"grid_steps": "12", "fraction": "0.5"},
		malformed: [2]string{"weighting", "cosine"},
		invalid:   [3]string{"fraction", "1.5", "fraction in (0,1]"},
	},
	"ram": {
		changed:   map[string]string{"multiplier": "20", "targets": "3", "old_max_decay": "0.5", "old_ramp": "0.1"},
		malformed: [2]string{"targets", "two"},
		invalid:   [3]string{"targets", "0", "ram.targets must be ≥ 1"},
	},
	"flowgrpo": {
		changed: map[string]string{"clip_range": "0.2", "adv_clip": "3", "kl_beta": "0.01", "timestep_fraction": "0.5",
			"sde": "cps", "noise": "0.5"},
		malformed: [2]string{"sde", "ddim"},
		invalid:   [3]string{"noise", "0", "flowgrpo.noise"},
	},
	"nft": {
		changed: map[string]string{"beta": "0.1", "kl_beta": "0.01", "adv_clip": "2", "timesteps": "5",
			"old_max_decay": "0.3", "old_ramp": "0.01"},
		malformed: [2]string{"beta", "strong"},
		invalid:   [3]string{"timesteps", "10", "nft.timesteps must be in [1, rollout_steps-1 = 9]"},
	},
}

func sectionKeys(c *Config, section string) map[string]ConfigKey {
	out := map[string]ConfigKey{}
	for _, k := range c.Keys() {
		if name, ok := strings.CutPrefix(k.Path, section+"."); ok {
			out[name] = k
		}
	}
	return out
}

// Every registered algorithm's config survives the YAML file and the flags unchanged, with each
// key of its section set away from its default.
func TestRegisteredAlgorithmsRoundTripTheirConfig(t *testing.T) {
	if len(algoCases) != len(registry) {
		t.Fatalf("%d algorithms registered (%v), %d in the test table", len(registry), Algorithms, len(algoCases))
	}
	for _, a := range registry {
		t.Run(a.name, func(t *testing.T) {
			tc, ok := algoCases[a.name]
			if !ok {
				t.Fatalf("no test case for %q", a.name)
			}
			def := DefaultConfig(a.name)
			if def.Algo != a.name {
				t.Fatalf("DefaultConfig(%q).Algo = %q", a.name, def.Algo)
			}
			if err := def.Validate(); err != nil {
				t.Fatalf("the defaults do not validate: %v", err)
			}
			keys := sectionKeys(&def, a.name)
			if len(keys) == 0 {
				t.Fatalf("Config has no section %q", a.name)
			}
			over := map[string]string{"algo": a.name}
			for name := range keys {
				v, ok := tc.changed[name]
				if !ok {
					t.Fatalf("the test sets no value for %s.%s", a.name, name)
				}
				over[a.name+"."+name] = v
			}
			cfg, err := ResolveConfig("", over)
			if err != nil {
				t.Fatal(err)
			}
			for name, k := range sectionKeys(&cfg, a.name) {
				if got := k.String(); got == keys[name].String() {
					t.Errorf("%s.%s = %s is still the default after setting %q", a.name, name, got, tc.changed[name])
				}
			}

			// YAML file.
			y, err := cfg.YAML()
			if err != nil {
				t.Fatal(err)
			}
			back, err := ResolveConfig(writeFile(t, string(y)), nil)
			if err != nil {
				t.Fatalf("%v\n%s", err, y)
			}
			if back != cfg {
				t.Fatalf("YAML round trip changed the config:\n%s\n%+v\nwant %+v", y, back, cfg)
			}

			// Flags: every key's printed value read back with Set.
			again := DefaultConfig(a.name)
			for _, k := range cfg.Keys() {
				if err := again.Set(FlagName(k.Path), k.String()); err != nil {
					t.Fatalf("-%s=%s: %v", FlagName(k.Path), k.String(), err)
				}
			}
			if again != cfg {
				t.Fatalf("flag round trip changed the config:\n%+v\nwant %+v", again, cfg)
			}

			// The registration is complete.
			if a.build == nil || a.defaults == nil || a.validate == nil {
				t.Fatal("incomplete registration")
			}
		})
	}
}

// A value of the wrong form is reported with its key (and, in a file, its line) when the
// config is read; a well-formed but invalid one by the algorithm's validation, naming the key.
func TestRegisteredAlgorithmsReportBadValues(t *testing.T) {
	for _, a := range registry {
		t.Run(a.name, func(t *testing.T) {
			tc := algoCases[a.name]
			key, val := a.name+"."+tc.malformed[0], tc.malformed[1]
			text := fmt.Sprintf("algo: %s\nsteps: 3\n%s:\n  %s: %s\n", a.name, a.name, tc.malformed[0], val)
			_, err := ResolveConfig(writeFile(t, text), nil)
			wantErr(t, err, "line 4", key, fmt.Sprintf("%q", val))

			_, err = ResolveConfig("", map[string]string{"algo": a.name, key: val})
			wantErr(t, err, key, fmt.Sprintf("%q", val))

			_, err = ResolveConfig("", map[string]string{"algo": a.name, a.name + "." + tc.invalid[0]: tc.invalid[1]})
			wantErr(t, err, tc.invalid[2])
		})
	}
	// An unknown algorithm lists the registered ones.
	_, err := ResolveConfig("", map[string]string{"algo": "ppo"})
	wantErr(t, err, `unknown algorithm "ppo"`, strings.Join(Algorithms, ", "))
}
