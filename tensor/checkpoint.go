package tensor

import (
	"fmt"
	"slices"
)

// Activation recomputation ("gradient checkpointing").
//
// Checkpoint runs a differentiable function without keeping its intermediate activations on
// the tape: the forward runs as under NoGrad, and only the inputs and the output are kept. When
// the backward pass reaches the output, the function runs again with the tape on, from the
// saved inputs, and its gradient is pushed through that fresh tape. The price is one more
// forward of f per backward; the gain is that a deep model holds one block's activations at a
// time instead of all of them.

// Checkpoint returns f(inputs) with its backward recomputed on demand. params lists the leaves
// inside f that train (LoRA weights, say): they make the output require a gradient even when no
// input does, and their gradients accumulate directly into their Grad during the recomputation,
// exactly as an ordinary backward would. f must be deterministic (the recomputation has to
// reproduce the forward) and must not keep references to the tensors it builds.
func Checkpoint(f func(in []*Tensor) *Tensor, inputs []*Tensor, params []*Tensor) *Tensor {
	if !GradEnabled() {
		return f(inputs)
	}
	var out *Tensor
	NoGrad(func() { out = f(inputs) })
	nodeInputs := append(append([]*Tensor(nil), inputs...), params...)
	return record(out, "Checkpoint", func(g *Tensor) []*Tensor {
		fresh := make([]*Tensor, len(inputs))
		for i, x := range inputs {
			fresh[i] = &Tensor{shape: x.shape, data: x.data, requiresGrad: x.requiresGrad}
		}
		var y *Tensor
		withGrad(func() {
			y = f(fresh)
			if !slices.Equal(y.shape, out.shape) {
				panic(fmt.Sprintf("tensor.Checkpoint: the recomputation gave shape %v, the forward %v", y.shape, out.shape))
			}
			if y.requiresGrad {
				y.Backward(g)
			}
		})
		grads := make([]*Tensor, len(nodeInputs))
		for i, x := range fresh {
			grads[i] = x.grad
		}
		return grads // params: nil, their gradients are already accumulated
	}, nodeInputs...)
}

// withGrad runs f with the tape on, whatever NoGrad scopes are open around it (the backward
// pass runs under NoGrad; a recomputation inside it must record).
func withGrad(f func()) {
	saved := noGrad.Swap(0)
	defer noGrad.Store(saved)
	f()
}

// TapeBytes is the device memory the tape holds for t: the bytes of every distinct storage
// that t's graph references (op outputs and the inputs ops keep for their backward), except the
// storages of the exclude tensors (model parameters, say). It is what a backward through t
// keeps alive, the activation memory of a training step.
func TapeBytes(t *Tensor, exclude ...*Tensor) int64 {
	skip := map[Storage]bool{}
	for _, e := range exclude {
		if e != nil {
			skip[e.data] = true
		}
	}
	seen := map[*Tensor]bool{}
	counted := map[Storage]bool{}
	var total int64
	var visit func(x *Tensor)
	visit = func(x *Tensor) {
		if x == nil || seen[x] {
			return
		}
		seen[x] = true
		if !skip[x.data] && !counted[x.data] {
			counted[x.data] = true
			total += int64(x.data.Len()) * int64(x.data.DType().Size())
		}
		if x.node != nil {
			for _, in := range x.node.inputs {
				visit(in)
			}
		}
	}
	visit(t)
	return total
}
