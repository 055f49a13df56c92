package tensor

import (
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
)

// Tensor is a dense, contiguous, row-major array on one Backend, and a node of the autograd
// graph. Tensors are immutable once made by an op: in-place updates are reserved for
// optimisers, which work on Storage directly.
type Tensor struct {
	shape []int
	data  Storage

	requiresGrad bool
	grad         *Tensor // accumulated gradient of a leaf (or retained node)
	node         *node   // how this tensor was made; nil for leaves and no-grad results
	name         string
}

// node records one op application on the tape: its inputs and how to push an output gradient
// back to them.
type node struct {
	op       string
	inputs   []*Tensor
	backward func(g *Tensor) []*Tensor // one gradient per input (nil where the input needs none)
}

// noGrad counts open NoGrad scopes (process-wide: the trainer builds no-grad targets and taped
// losses on one goroutine; concurrent goroutines that need different modes must not share it).
var noGrad atomic.Int32

// NoGrad runs f without recording anything on the tape: results of ops inside f never require
// gradients. RL targets (v_ref, v_old, reward-corrected targets) are built this way.
func NoGrad(f func()) {
	noGrad.Add(1)
	defer noGrad.Add(-1)
	f()
}

// GradEnabled reports whether ops record the tape now.
func GradEnabled() bool { return noGrad.Load() == 0 }

// FromStorage wraps an existing storage in a tensor of the given shape (no copy).
func FromStorage(s Storage, shape ...int) *Tensor {
	n := numel(shape)
	if s.Len() != n {
		panic(fmt.Sprintf("tensor.FromStorage: storage holds %d elements, shape %v needs %d", s.Len(), shape, n))
	}
	return &Tensor{shape: append([]int(nil), shape...), data: s}
}

// New uploads data into a new tensor of the given shape on backend b.
func New(b Backend, data []float32, shape ...int) *Tensor {
	n := numel(shape)
	if len(data) != n {
		panic(fmt.Sprintf("tensor.New: %d values for shape %v (needs %d)", len(data), shape, n))
	}
	s := allocEmpty(b, n)
	b.Upload(s, data)
	return FromStorage(s, shape...)
}

// UninitAllocator is a Backend that can also hand out storage without zero-filling it (the CUDA
// backend: the fill is a driver call of its own, as costly as a small kernel launch). Ops use it
// through Empty for outputs their primitive overwrites whole.
type UninitAllocator interface {
	AllocUninit(n int, dt DType) Storage // contents undefined
}

// allocEmpty returns n float32 elements whose contents the caller overwrites whole before
// reading: uninitialised where the backend allows it, zero-filled elsewhere.
func allocEmpty(b Backend, n int) Storage {
	if u, ok := b.(UninitAllocator); ok {
		return u.AllocUninit(n, Float32)
	}
	return b.Alloc(n, Float32)
}

// Empty makes a tensor whose contents are undefined (zeros on backends without
// UninitAllocator): for outputs that are written whole before they are read.
func Empty(b Backend, shape ...int) *Tensor {
	return FromStorage(allocEmpty(b, numel(shape)), shape...)
}

// Zeros makes a zero-filled tensor.
func Zeros(b Backend, shape ...int) *Tensor {
	return FromStorage(b.Alloc(numel(shape), Float32), shape...)
}

// Full makes a tensor with every element v.
func Full(b Backend, v float32, shape ...int) *Tensor {
	t := Zeros(b, shape...)
	if v != 0 {
		b.Fill(t.data, v)
	}
	return t
}

// Scalar makes a 0-d tensor.
func Scalar(b Backend, v float32) *Tensor { return New(b, []float32{v}) }

// Shape returns a copy of the shape.
func (t *Tensor) Shape() []int { return append([]int(nil), t.shape...) }

// Dims returns the number of axes.
func (t *Tensor) Dims() int { return len(t.shape) }

// Dim returns the size of axis i; negative i counts from the end.
func (t *Tensor) Dim(i int) int { return t.shape[t.axis(i)] }

// Size returns the number of elements.
func (t *Tensor) Size() int { return t.data.Len() }

// Storage exposes the backing storage (for backends, optimisers and serialisation).
func (t *Tensor) Storage() Storage { return t.data }

// Backend returns the backend that owns the tensor.
func (t *Tensor) Backend() Backend { return t.data.Backend() }

// Data downloads the elements to a new host slice.
func (t *Tensor) Data() []float32 {
	out := make([]float32, t.Size())
	t.Backend().Download(out, t.data)
	return out
}

// Item returns the only element of a one-element tensor.
func (t *Tensor) Item() float32 {
	if t.Size() != 1 {
		panic(fmt.Sprintf("tensor.Item: tensor of shape %v has %d elements", t.shape, t.Size()))
	}
	return t.Data()[0]
}

// SetData overwrites the elements from a host slice (parameters loaded from a checkpoint).
func (t *Tensor) SetData(v []float32) {
	if len(v) != t.Size() {
		panic(fmt.Sprintf("tensor.SetData: %d values for shape %v", len(v), t.shape))
	}
	t.Backend().Upload(t.data, v)
}

// Name / SetName label a tensor (parameters carry their checkpoint name).
func (t *Tensor) Name() string             { return t.name }
func (t *Tensor) SetName(n string) *Tensor { t.name = n; return t }

// RequiresGrad reports whether gradients flow to this tensor.
func (t *Tensor) RequiresGrad() bool { return t.requiresGrad }

// SetRequiresGrad marks a leaf as a trainable parameter (or freezes it).
func (t *Tensor) SetRequiresGrad(v bool) *Tensor {
	if t.node != nil {
		panic("tensor.SetRequiresGrad: only leaves can change; use Detach first")
	}
	t.requiresGrad = v
	return t
}

// Grad returns the accumulated gradient, or nil when none has been computed.
func (t *Tensor) Grad() *Tensor { return t.grad }

// ZeroGrad drops the accumulated gradient.
func (t *Tensor) ZeroGrad() { t.grad = nil }

// Detach returns a tensor that shares storage but is cut from the graph.
func (t *Tensor) Detach() *Tensor { return &Tensor{shape: t.shape, data: t.data, name: t.name} }

// Clone copies the data into a fresh leaf.
func (t *Tensor) Clone() *Tensor {
	b := t.Backend()
	s := b.Alloc(t.Size(), Float32)
	b.Copy(s, 0, t.data, 0, t.Size())
	return FromStorage(s, t.shape...)
}

func (t *Tensor) String() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "Tensor%v", t.shape)
	if t.Size() <= 16 {
		fmt.Fprintf(&sb, "%v", t.Data())
	}
	return sb.String()
}

// record attaches a backward function to out when any input requires a gradient and the tape is
// on. It returns out for chaining.
func record(out *Tensor, op string, backward func(g *Tensor) []*Tensor, inputs ...*Tensor) *Tensor {
	if !GradEnabled() {
		return out
	}
	need := false
	for _, in := range inputs {
		if in != nil && in.requiresGrad {
			need = true
			break
		}
	}
	if !need {
		return out
	}
	out.requiresGrad = true
	out.node = &node{op: op, inputs: inputs, backward: backward}
	return out
}

// Backward computes d(t)/d(leaf) for every leaf that requires a gradient and adds it to the
// leaf's Grad (gradients accumulate across calls until ZeroGrad). t must hold one element
// unless a seed gradient of t's shape is given.
func (t *Tensor) Backward(seed ...*Tensor) {
	if !t.requiresGrad {
		panic("tensor.Backward: the tensor does not depend on any parameter that requires a gradient")
	}
	var g *Tensor
	switch {
	case len(seed) > 0:
		g = seed[0]
		if !slices.Equal(g.shape, t.shape) {
			panic(fmt.Sprintf("tensor.Backward: seed shape %v, tensor shape %v", g.shape, t.shape))
		}
	case t.Size() == 1:
		g = Full(t.Backend(), 1, t.shape...)
	default:
		panic(fmt.Sprintf("tensor.Backward: tensor of shape %v is not a scalar; pass a seed gradient", t.shape))
	}

	// Topological order: every node after all nodes that consume it.
	var order []*Tensor
	seen := map[*Tensor]bool{}
	var visit func(x *Tensor)
	visit = func(x *Tensor) {
		if seen[x] {
			return
		}
		seen[x] = true
		if x.node != nil {
			for _, in := range x.node.inputs {
				if in != nil && in.requiresGrad {
					visit(in)
				}
			}
		}
		order = append(order, x)
	}
	visit(t)

	grads := map[*Tensor]*Tensor{t: g}
	NoGrad(func() {
		for i := len(order) - 1; i >= 0; i-- {
			x := order[i]
			gx := grads[x]
			if gx == nil {
				continue
			}
			delete(grads, x)
			if x.node == nil { // leaf: accumulate
				if x.grad == nil {
					x.grad = gx.Detach() // tensors are immutable, so sharing storage is safe
				} else {
					x.grad = Add(x.grad, gx)
				}
				continue
			}
			gin := x.node.backward(gx)
			for j, in := range x.node.inputs {
				if in == nil || !in.requiresGrad || gin[j] == nil {
					continue
				}
				if !slices.Equal(gin[j].shape, in.shape) {
					panic(fmt.Sprintf("tensor.Backward: op %s produced gradient %v for input %d of shape %v", x.node.op, gin[j].shape, j, in.shape))
				}
				if prev := grads[in]; prev != nil {
					grads[in] = Add(prev, gin[j])
				} else {
					grads[in] = gin[j]
				}
			}
		}
	})
}

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		if d < 0 {
			panic(fmt.Sprintf("tensor: negative dimension in shape %v", shape))
		}
		n *= d
	}
	return n
}

// axis resolves a possibly negative axis index.
func (t *Tensor) axis(i int) int {
	n := len(t.shape)
	if i < 0 {
		i += n
	}
	if i < 0 || i >= n {
		panic(fmt.Sprintf("tensor: axis out of range for shape %v", t.shape))
	}
	return i
}

// mustSameBackend panics when tensors live on different backends.
func mustSameBackend(op string, ts ...*Tensor) Backend {
	var b Backend
	for _, t := range ts {
		if t == nil {
			continue
		}
		if b == nil {
			b = t.Backend()
		} else if t.Backend() != b {
			panic(fmt.Sprintf("tensor.%s: operands on different backends (%s and %s)", op, b.Name(), t.Backend().Name()))
		}
	}
	return b
}
