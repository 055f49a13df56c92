package train

// Config fields that are a choice by name. Each type reads and writes itself as its name
// (encoding.TextMarshaler and TextUnmarshaler), so the YAML file, the flags and config.yaml all
// use the names, and a bad name is reported with its key (and line, in a file) when the config
// is read, not when the run starts.

import (
	"fmt"
	"strings"

	"github.com/flowtune/flowtune/diffusion"
	"github.com/flowtune/flowtune/rl"
	"github.com/flowtune/flowtune/tensor"
)

// Weighting is awm.weighting, AWM's log-likelihood proxy (rl.Weighting by its name).
type Weighting rl.Weighting

func (w Weighting) String() string               { return rl.Weighting(w).String() }
func (w Weighting) MarshalText() ([]byte, error) { return []byte(w.String()), nil }

func (w *Weighting) UnmarshalText(b []byte) error {
	v, err := rl.ParseWeighting(string(b))
	if err != nil {
		return fmt.Errorf("unknown weighting %q (valid: ghuber, Uniform, t, t**2, huber)", b)
	}
	*w = Weighting(v)
	return nil
}

// TimeType is awm.time_type, how AWM's training levels are stratified on the grid.
type TimeType diffusion.AWMTimeType

var timeTypes = []diffusion.AWMTimeType{diffusion.AWMDiscreteWoInit, diffusion.AWMDiscrete, diffusion.AWMDiscreteWithInit}

func (t TimeType) String() string               { return diffusion.AWMTimeType(t).String() }
func (t TimeType) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

func (t *TimeType) UnmarshalText(b []byte) error {
	names := make([]string, len(timeTypes))
	for i, v := range timeTypes {
		if v.String() == string(b) {
			*t = TimeType(v)
			return nil
		}
		names[i] = v.String()
	}
	return fmt.Errorf("unknown time type %q (valid: %s)", b, strings.Join(names, ", "))
}

// SDE is flowgrpo.sde, the stochastic sampler of Flow-GRPO's rollouts: "flow" (the Flow-GRPO
// SDE, the default; an empty value reads as it) or "cps" (coefficients-preserving sampling).
type SDE tensor.SDEKind

func (s SDE) String() string {
	if tensor.SDEKind(s) == tensor.SDECPS {
		return "cps"
	}
	return "flow"
}

func (s SDE) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

func (s *SDE) UnmarshalText(b []byte) error {
	switch string(b) {
	case "flow", "":
		*s = SDE(tensor.SDEFlow)
	case "cps":
		*s = SDE(tensor.SDECPS)
	default:
		return fmt.Errorf("unknown SDE %q (valid: flow, cps)", b)
	}
	return nil
}
