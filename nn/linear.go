package nn

import (
	"fmt"
	"math"

	"github.com/flowtune/flowtune/tensor"
)

// Linear is y = x·Wᵀ + b with W [out, in] (PyTorch layout) and an optional bias [out], plus any
// number of named LoRA adapters on top of the same base weights (lora.go). At most one adapter
// is active; with none active the layer is the plain base layer.
type Linear struct {
	Weight *tensor.Tensor // [out, in]
	Bias   *tensor.Tensor // [out], or nil

	adapters  []*LoRA        // in the order they were added (fixes the parameter order)
	active    *LoRA          // nil: base layer only
	frozen    *tensor.Tensor // W + s·B·A of adapter frozenFor (lora_frozen.go), or nil
	frozenFor *LoRA
}

// NewLinear makes a Linear with PyTorch's default initialisation: weight and bias uniform in
// ±1/√in. Its parameters require gradients.
func NewLinear(b tensor.Backend, in, out int, bias bool, rng *tensor.RNG) *Linear {
	if in <= 0 || out <= 0 {
		panic(fmt.Sprintf("nn.NewLinear: in=%d out=%d must be positive", in, out))
	}
	l := &Linear{Weight: newParam(b, out, in)}
	bound := 1 / math.Sqrt(float64(in))
	InitUniform(l.Weight, rng, -bound, bound)
	if bias {
		l.Bias = newParam(b, out)
		InitUniform(l.Bias, rng, -bound, bound)
	}
	return l
}

// NewLinearXavier makes a biased Linear with Xavier-uniform weight and zero bias (DiT's
// initialisation of transformer Linears).
func NewLinearXavier(b tensor.Backend, in, out int, rng *tensor.RNG) *Linear {
	l := NewLinearZero(b, in, out)
	InitXavierUniform(l.Weight, rng)
	return l
}

// NewLinearZero makes a biased Linear with zero weight and bias (adaLN-Zero modulations and the
// final projection: the layer's output starts at exactly zero).
func NewLinearZero(b tensor.Backend, in, out int) *Linear {
	if in <= 0 || out <= 0 {
		panic(fmt.Sprintf("nn.NewLinearZero: in=%d out=%d must be positive", in, out))
	}
	return &Linear{Weight: newParam(b, out, in), Bias: newParam(b, out)}
}

// In is the input width.
func (l *Linear) In() int { return l.Weight.Dim(1) }

// Out is the output width.
func (l *Linear) Out() int { return l.Weight.Dim(0) }

// Forward maps x [..., in] to [..., out]. With an active adapter it adds
// (alpha/r)·(x·Aᵀ)·Bᵀ; the scale is applied to the narrow [..., r] intermediate. An active
// adapter frozen by FreezeAdapter, with gradients off, is one product with the merged weight.
func (l *Linear) Forward(x *tensor.Tensor) *tensor.Tensor {
	if x.Dim(-1) != l.In() {
		panic(fmt.Sprintf("nn.Linear: input %v, weight %v", x.Shape(), l.Weight.Shape()))
	}
	if a := l.active; a != nil && a == l.frozenFor && !tensor.GradEnabled() {
		return tensor.Linear(x, l.frozen, l.Bias)
	}
	y := tensor.Linear(x, l.Weight, l.Bias)
	if a := l.active; a != nil {
		h := tensor.MulScalar(tensor.Linear(x, a.A, nil), a.Scale())
		y = tensor.Add(y, tensor.Linear(h, a.B, nil))
	}
	return y
}

// Params visits weight, bias, then every adapter's lora_A.<name>.weight and
// lora_B.<name>.weight (PEFT names), active or not.
func (l *Linear) Params(prefix string, visit func(name string, p *tensor.Tensor)) {
	visit(Join(prefix, "weight"), l.Weight)
	if l.Bias != nil {
		visit(Join(prefix, "bias"), l.Bias)
	}
	for _, a := range l.adapters {
		visit(Join(prefix, "lora_A."+a.Name+".weight"), a.A)
		visit(Join(prefix, "lora_B."+a.Name+".weight"), a.B)
	}
}
