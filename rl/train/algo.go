package train

// The registry of algorithms: everything the config and the trainer need to know about one
// algorithm — its name, its config section's defaults, the validation of that section, its
// advantage normalisation and the constructor of its training step — is one algoSpec, declared
// in the algorithm's own file (algo_*.go). Adding an algorithm is adding a file and a line here.

import (
	"fmt"
	"strings"

	"github.com/flowtune/flowtune/rl"
)

// registry lists the algorithms in the order the config's help and error messages name them.
var registry = []*algoSpec{awmSpec, ramSpec, grpoSpec, nftSpec}

// Algorithms lists the trainable algorithms by their config names.
var Algorithms = algoNames()

// An algoSpec is one algorithm as the config and the trainer know it.
type algoSpec struct {
	name string
	// defaults writes the algorithm's section of c with its defaults. Every section is filled
	// whatever the configured algorithm, so that config.yaml shows (and round-trips) them all.
	defaults func(c *Config)
	// validate checks the algorithm's section of a config whose shared keys are already valid;
	// it runs only for the configured algorithm. Malformed values (a bad name, a non-number)
	// never get this far: the typed fields reject them when the config is read.
	validate func(c Config) error
	// advantages is the normalisation of the group-relative advantages (docs/algorithms.md
	// §2.3, §4.6, §6.5).
	advantages rl.AdvantageConfig
	// build creates the algorithm's lagged adapters (as copies of the fresh policy) and returns
	// its training step.
	build func(r *run) algorithm
}

// lookupAlgo returns the registered algorithm called name, or an error listing the valid ones.
func lookupAlgo(name string) (*algoSpec, error) {
	for _, a := range registry {
		if a.name == name {
			return a, nil
		}
	}
	return nil, fmt.Errorf("unknown algorithm %q (valid: %s)", name, strings.Join(Algorithms, ", "))
}

func algoNames() []string {
	out := make([]string, len(registry))
	for i, a := range registry {
		out[i] = a.name
	}
	return out
}

func checkDecay(key string, maxDecay, ramp float64) error {
	if maxDecay < 0 || maxDecay >= 1 || ramp < 0 {
		return fmt.Errorf("config: %s_max_decay must be in [0,1) and %s_ramp ≥ 0 (got %g, %g)", key, key, maxDecay, ramp)
	}
	return nil
}

// rampDecay is the lagged-policy schedule min(maxDecay, ramp·step) (docs/algorithms.md §7.3).
func rampDecay(maxDecay, ramp float64, step int) float32 {
	return float32(min(maxDecay, ramp*float64(step)))
}

// advantageConfig is the configured algorithm's advantage normalisation.
func (c Config) advantageConfig() rl.AdvantageConfig {
	a, err := lookupAlgo(c.Algo)
	if err != nil {
		panic("train: " + err.Error()) // Validate rejects it first
	}
	return a.advantages
}
