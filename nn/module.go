package nn

import (
	"fmt"
	"strconv"

	"github.com/flowtune/flowtune/tensor"
)

// Module is anything that owns parameters, directly or through sub-modules. Params calls visit
// once per parameter with its full dotted name (prefix + "." + local name, PyTorch style, e.g.
// "blocks.3.x.attn.to_q.weight"), always in the same order.
type Module interface {
	Params(prefix string, visit func(name string, p *tensor.Tensor))
}

// Parent is a Module built from named sub-modules. Model-wide operations (adding LoRA
// adapters, switching them, freezing) find layers by walking Children, so every composite
// module must implement it; its Params is then usually just ChildParams(m, prefix, visit).
// Children must skip absent (nil) optional sub-modules.
type Parent interface {
	Module
	Children(visit func(name string, m Module))
}

// Join appends a local name to a dotted path ("" + "weight" = "weight").
func Join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// ChildParams visits the parameters of every child of p under prefix.<child name>.
func ChildParams(p Parent, prefix string, visit func(name string, t *tensor.Tensor)) {
	p.Children(func(name string, m Module) {
		m.Params(Join(prefix, name), visit)
	})
}

// Walk calls visit for m (at path "") and every module below it, parents before children.
func Walk(m Module, visit func(path string, m Module)) {
	walk("", m, visit)
}

func walk(path string, m Module, visit func(string, Module)) {
	visit(path, m)
	if p, ok := m.(Parent); ok {
		p.Children(func(name string, c Module) { walk(Join(path, name), c, visit) })
	}
}

// List is an ordered sequence of modules named "0", "1", … (PyTorch's ModuleList).
type List[T Module] []T

// Children visits the elements by index.
func (l List[T]) Children(visit func(name string, m Module)) {
	for i, m := range l {
		visit(strconv.Itoa(i), m)
	}
}

// Params visits every element's parameters under prefix.<index>.
func (l List[T]) Params(prefix string, visit func(name string, p *tensor.Tensor)) {
	ChildParams(l, prefix, visit)
}

// Named is a parameter with its dotted name.
type Named struct {
	Name string
	P    *tensor.Tensor
}

// NamedParams lists every parameter of m (base weights and all LoRA adapters) in visiting
// order. It panics if two parameters share a name, which would break checkpoints.
func NamedParams(m Module) []Named {
	var out []Named
	seen := map[string]bool{}
	m.Params("", func(name string, p *tensor.Tensor) {
		if seen[name] {
			panic(fmt.Sprintf("nn.NamedParams: two parameters are named %q", name))
		}
		seen[name] = true
		out = append(out, Named{name, p})
	})
	return out
}

// Trainable lists the parameters of m that require gradients.
func Trainable(m Module) []Named {
	var out []Named
	for _, n := range NamedParams(m) {
		if n.P.RequiresGrad() {
			out = append(out, n)
		}
	}
	return out
}

// Tensors drops the names.
func Tensors(ps []Named) []*tensor.Tensor {
	out := make([]*tensor.Tensor, len(ps))
	for i, n := range ps {
		out[i] = n.P
	}
	return out
}

// ParamMap keys the tensors by name (the form SaveTensors and LoadInto take).
func ParamMap(ps []Named) map[string]*tensor.Tensor {
	out := make(map[string]*tensor.Tensor, len(ps))
	for _, n := range ps {
		out[n.Name] = n.P
	}
	return out
}

// SetRequiresGrad marks every listed parameter as trained (true) or frozen (false).
func SetRequiresGrad(ps []Named, v bool) {
	for _, n := range ps {
		n.P.SetRequiresGrad(v)
	}
}

// ZeroGrads drops the accumulated gradient of every parameter of m.
func ZeroGrads(m Module) {
	m.Params("", func(_ string, p *tensor.Tensor) { p.ZeroGrad() })
}

// FreezeBase freezes every parameter of m that is not a LoRA adapter weight, so that only
// adapters train (the LoRA fine-tuning setup). Adapter weights keep their own flag (AddAdapter
// makes them trainable). SetRequiresGrad(NamedParams(m), true) undoes it (full fine-tuning).
func FreezeBase(m Module) {
	adapter := map[*tensor.Tensor]bool{}
	eachLinear(m, func(_ string, l *Linear) {
		for _, a := range l.adapters {
			adapter[a.A] = true
			adapter[a.B] = true
		}
	})
	m.Params("", func(_ string, p *tensor.Tensor) {
		if !adapter[p] {
			p.SetRequiresGrad(false)
		}
	})
}

// CountParams returns the number of scalar parameters of m.
func CountParams(m Module) int {
	n := 0
	m.Params("", func(_ string, p *tensor.Tensor) { n += p.Size() })
	return n
}

// Count returns the number of scalars in a parameter list.
func Count(ps []Named) int {
	n := 0
	for _, p := range ps {
		n += p.P.Size()
	}
	return n
}

// newParam allocates a zero parameter that requires gradients.
func newParam(b tensor.Backend, shape ...int) *tensor.Tensor {
	return tensor.Zeros(b, shape...).SetRequiresGrad(true)
}
