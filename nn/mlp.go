package nn

import "github.com/flowtune/flowtune/tensor"

// MLP is the transformer feed-forward: Linear(dim→hidden) → GELU (tanh form) → Linear(hidden→dim).
type MLP struct {
	FC1, FC2 *Linear
}

// NewMLP makes an MLP with Xavier-uniform weights and zero biases (DiT's initialisation).
func NewMLP(b tensor.Backend, dim, hidden int, rng *tensor.RNG) *MLP {
	return &MLP{FC1: NewLinearXavier(b, dim, hidden, rng), FC2: NewLinearXavier(b, hidden, dim, rng)}
}

// Forward maps x [..., dim] to [..., dim].
func (m *MLP) Forward(x *tensor.Tensor) *tensor.Tensor {
	return m.FC2.Forward(tensor.GELU(m.FC1.Forward(x)))
}

// Children: fc1, fc2.
func (m *MLP) Children(visit func(name string, m Module)) {
	visit("fc1", m.FC1)
	visit("fc2", m.FC2)
}

// Params visits fc1.* and fc2.*.
func (m *MLP) Params(prefix string, visit func(name string, p *tensor.Tensor)) {
	ChildParams(m, prefix, visit)
}
