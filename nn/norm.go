package nn

import (
	"fmt"

	"github.com/flowtune/flowtune/tensor"
)

// LayerNorm normalises the last axis: y = (x−μ)/√(σ²+eps)·w + b. Without affine parameters
// (Weight and Bias nil) it is the plain normalisation the adaLN blocks modulate.
type LayerNorm struct {
	Weight, Bias *tensor.Tensor // [dim] each, or both nil
	Dim          int
	Eps          float32
}

// NewLayerNorm makes a LayerNorm over dim features; affine adds w = 1, b = 0.
func NewLayerNorm(b tensor.Backend, dim int, affine bool, eps float32) *LayerNorm {
	n := &LayerNorm{Dim: dim, Eps: eps}
	if affine {
		n.Weight = tensor.Full(b, 1, dim).SetRequiresGrad(true)
		n.Bias = newParam(b, dim)
	}
	return n
}

// Forward normalises x [..., dim].
func (n *LayerNorm) Forward(x *tensor.Tensor) *tensor.Tensor {
	if x.Dim(-1) != n.Dim {
		panic(fmt.Sprintf("nn.LayerNorm: input %v, dim %d", x.Shape(), n.Dim))
	}
	return tensor.LayerNorm(x, n.Weight, n.Bias, n.Eps)
}

// Params visits weight and bias when affine.
func (n *LayerNorm) Params(prefix string, visit func(name string, p *tensor.Tensor)) {
	if n.Weight != nil {
		visit(Join(prefix, "weight"), n.Weight)
	}
	if n.Bias != nil {
		visit(Join(prefix, "bias"), n.Bias)
	}
}

// RMSNorm scales the last axis to unit root-mean-square: y = x/√(mean(x²)+eps)·w. SD3.5 applies
// it per attention head to queries and keys ("qk-norm").
type RMSNorm struct {
	Weight *tensor.Tensor // [dim], or nil
	Dim    int
	Eps    float32
}

// NewRMSNorm makes an RMSNorm over dim features; affine adds w = 1.
func NewRMSNorm(b tensor.Backend, dim int, affine bool, eps float32) *RMSNorm {
	n := &RMSNorm{Dim: dim, Eps: eps}
	if affine {
		n.Weight = tensor.Full(b, 1, dim).SetRequiresGrad(true)
	}
	return n
}

// Forward normalises x [..., dim].
func (n *RMSNorm) Forward(x *tensor.Tensor) *tensor.Tensor {
	if x.Dim(-1) != n.Dim {
		panic(fmt.Sprintf("nn.RMSNorm: input %v, dim %d", x.Shape(), n.Dim))
	}
	return tensor.RMSNorm(x, n.Weight, n.Eps)
}

// Params visits the weight when affine.
func (n *RMSNorm) Params(prefix string, visit func(name string, p *tensor.Tensor)) {
	if n.Weight != nil {
		visit(Join(prefix, "weight"), n.Weight)
	}
}
