package nn

import (
	"fmt"
	"slices"
)

// Exponential moving averages of parameters: θ_ema ← d·θ_ema + (1−d)·θ, element-wise, in place,
// through the backend's Axpby. The RL methods keep EMAs of LoRA weights as lagged "old"
// policies and for evaluation (docs/algorithms.md §7.3); pretraining keeps one of the whole model.

// EMAUpdate moves every dst[i] towards src[i]: dst ← decay·dst + (1−decay)·src. The lists pair
// by position and must agree in shape; decay 0 copies, decay 1 leaves dst as it is.
func EMAUpdate(dst, src []Named, decay float32) {
	if len(dst) != len(src) {
		panic(fmt.Sprintf("nn.EMAUpdate: %d destination and %d source parameters", len(dst), len(src)))
	}
	for i := range dst {
		d, s := dst[i].P, src[i].P
		if !slices.Equal(d.Shape(), s.Shape()) {
			panic(fmt.Sprintf("nn.EMAUpdate: %s %v and %s %v", dst[i].Name, d.Shape(), src[i].Name, s.Shape()))
		}
		d.Backend().Axpby(d.Storage(), decay, d.Storage(), 1-decay, s.Storage())
	}
}

// UpdateAdapterEMA moves adapter dst of every layer towards adapter src (e.g. "ema" towards
// "policy"), creating dst as a copy of src where it does not exist yet.
func UpdateAdapterEMA(m Module, dst, src string, decay float32) {
	if !HasAdapter(m, dst) {
		CopyAdapter(m, dst, src)
		return
	}
	EMAUpdate(AdapterParams(m, dst), AdapterParams(m, src), decay)
}

// EMA keeps shadow copies of a parameter list (the pretraining EMA of a whole model).
type EMA struct {
	Decay  float32
	src    []Named
	shadow []Named
}

// NewEMA starts the average at the parameters' current values. The shadows carry the same
// names and never require gradients.
func NewEMA(params []Named, decay float32) *EMA {
	e := &EMA{Decay: decay, src: append([]Named(nil), params...)}
	for _, p := range params {
		e.shadow = append(e.shadow, Named{p.Name, p.P.Clone()})
	}
	return e
}

// Update folds the parameters' current values into the average.
func (e *EMA) Update() { EMAUpdate(e.shadow, e.src, e.Decay) }

// Shadow returns the averaged tensors (live: checkpoints read and restore them in place).
func (e *EMA) Shadow() []Named { return append([]Named(nil), e.shadow...) }

// CopyTo writes the averages into the tracked parameters (for evaluation or export).
func (e *EMA) CopyTo() {
	for i, s := range e.shadow {
		copyParam(e.src[i].P, s.P)
	}
}
