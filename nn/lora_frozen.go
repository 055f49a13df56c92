package nn

import (
	"fmt"

	"github.com/flowtune/flowtune/tensor"
)

// Frozen adapters: for sampling without gradients, an adapter's low-rank path x·Aᵀ·Bᵀ·s costs
// three products and an addition beside the base layer's product. On a GPU running a small
// model each of those is a kernel launch, and launches, not arithmetic, set the time (the toy
// model's rollouts). FreezeAdapter merges the adapter into a copy of the base weight once,
// W' = W + s·B·A, so the layer is one product again. The merged result differs from the
// unmerged one by rounding only.

// FreezeAdapter merges adapter name into a weight copy on every Linear of m that carries it.
// While that adapter is active and gradients are off (tensor.NoGrad), those layers compute
// x·W'ᵀ + b. The base weights and the adapter must not change until release is called (it
// drops the copies); with gradients on, or another adapter active, the layers run as before.
// It panics when no layer has the adapter, or when one is already frozen.
func FreezeAdapter(m Module, name string) (release func()) {
	var frozen []*Linear
	eachLinear(m, func(_ string, l *Linear) {
		a := l.Adapter(name)
		if a == nil {
			return
		}
		if l.frozenFor != nil {
			panic(fmt.Sprintf("nn.FreezeAdapter(%q): adapter %q is already frozen", name, l.frozenFor.Name))
		}
		tensor.NoGrad(func() {
			l.frozen = tensor.Add(l.Weight, tensor.MulScalar(tensor.MatMul(a.B, a.A), a.Scale()))
		})
		l.frozenFor = a
		frozen = append(frozen, l)
	})
	if len(frozen) == 0 {
		panic(fmt.Sprintf("nn.FreezeAdapter: no layer has adapter %q", name))
	}
	return func() {
		for _, l := range frozen {
			l.frozen, l.frozenFor = nil, nil
		}
	}
}
