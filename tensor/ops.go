package tensor

// Differentiable ops. This file is the contract other packages code against; each op's
// implementation (forward through the Backend, backward recorded on the tape) lives in the
// ops_*.go files by family. Shape errors panic with the op name and the shapes.
//
// Broadcasting follows NumPy: shapes are aligned from the right, a size-1 (or missing) axis
// stretches. The gradient of a broadcast operand is summed back to its shape.

const unimplemented = "tensor: op not implemented yet"

// Elementwise, broadcasting.
func Add(a, b *Tensor) *Tensor     { panic(unimplemented) }
func Sub(a, b *Tensor) *Tensor     { panic(unimplemented) }
func Mul(a, b *Tensor) *Tensor     { panic(unimplemented) }
func Div(a, b *Tensor) *Tensor     { panic(unimplemented) }
func Maximum(a, b *Tensor) *Tensor { panic(unimplemented) } // gradient to a where a >= b
func Minimum(a, b *Tensor) *Tensor { panic(unimplemented) } // gradient to a where a <= b

// Elementwise with a scalar / unary.
func AddScalar(x *Tensor, s float32) *Tensor  { panic(unimplemented) }
func MulScalar(x *Tensor, s float32) *Tensor  { panic(unimplemented) }
func Pow(x *Tensor, p float32) *Tensor        { panic(unimplemented) }
func Clamp(x *Tensor, lo, hi float32) *Tensor { panic(unimplemented) } // gradient 0 outside [lo,hi]
func Neg(x *Tensor) *Tensor                   { panic(unimplemented) }
func Exp(x *Tensor) *Tensor                   { panic(unimplemented) }
func Log(x *Tensor) *Tensor                   { panic(unimplemented) }
func Sqrt(x *Tensor) *Tensor                  { panic(unimplemented) }
func Square(x *Tensor) *Tensor                { panic(unimplemented) }
func Abs(x *Tensor) *Tensor                   { panic(unimplemented) }
func Tanh(x *Tensor) *Tensor                  { panic(unimplemented) }
func Sigmoid(x *Tensor) *Tensor               { panic(unimplemented) }
func SiLU(x *Tensor) *Tensor                  { panic(unimplemented) }
func GELU(x *Tensor) *Tensor                  { panic(unimplemented) } // tanh approximation
func ReLU(x *Tensor) *Tensor                  { panic(unimplemented) }

// Reductions. Negative axes count from the end; the reduced axes are removed (SumKeep/MeanKeep
// keep them with size 1). With no axes, every axis is reduced to a 0-d tensor.
func Sum(x *Tensor, axes ...int) *Tensor      { panic(unimplemented) }
func Mean(x *Tensor, axes ...int) *Tensor     { panic(unimplemented) }
func SumKeep(x *Tensor, axes ...int) *Tensor  { panic(unimplemented) }
func MeanKeep(x *Tensor, axes ...int) *Tensor { panic(unimplemented) }

// Shape ops. Reshape accepts one -1. Permute/Transpose copy (tensors are always contiguous).
func Reshape(x *Tensor, shape ...int) *Tensor           { panic(unimplemented) }
func Permute(x *Tensor, perm ...int) *Tensor            { panic(unimplemented) }
func Transpose(x *Tensor, i, j int) *Tensor             { panic(unimplemented) }
func Concat(axis int, ts ...*Tensor) *Tensor            { panic(unimplemented) }
func Split(x *Tensor, axis int, sizes ...int) []*Tensor { panic(unimplemented) }
func Slice(x *Tensor, axis, start, end int) *Tensor     { panic(unimplemented) }
func BroadcastTo(x *Tensor, shape ...int) *Tensor       { panic(unimplemented) }

// Linear algebra.
// MatMul multiplies the last two axes ([..., M, K] × [..., K, N]); leading axes broadcast
// (a 2-D right operand is shared by the whole batch, as weights are).
func MatMul(a, b *Tensor) *Tensor { panic(unimplemented) }

// MatMulT is MatMul with either operand transposed in its last two axes, without a copy.
func MatMulT(a, b *Tensor, transA, transB bool) *Tensor { panic(unimplemented) }

// Linear is x·wᵀ + bias for x [..., in], w [out, in] (PyTorch layout), bias [out] or nil.
func Linear(x, w, bias *Tensor) *Tensor { panic(unimplemented) }

// Neural-network primitives.
func Softmax(x *Tensor) *Tensor                      { panic(unimplemented) } // last axis
func LayerNorm(x, w, b *Tensor, eps float32) *Tensor { panic(unimplemented) } // last axis; w, b may be nil
func RMSNorm(x, w *Tensor, eps float32) *Tensor      { panic(unimplemented) } // last axis; w may be nil

// Attention is softmax(scale·QKᵀ + mask)·V for q [B,H,Lq,Dh], k and v [B,H,Lk,Dh], mask [B,Lk]
// additive key bias or nil. Returns [B,H,Lq,Dh].
func Attention(q, k, v, mask *Tensor, scale float32) *Tensor { panic(unimplemented) }

// Embedding gathers rows of table [V, D]: result [len(idx), D]. Indices outside [0,V) panic.
func Embedding(table *Tensor, idx []int32) *Tensor { panic(unimplemented) }

// MSE is mean((a−b)²) over all elements, a 0-d tensor.
func MSE(a, b *Tensor) *Tensor { panic(unimplemented) }

// Fused diffusion / RL ops.

// SqErr is the per-sample mean squared error of [B, ...] tensors: e[b] = mean over the other
// axes of (v − target)². Gradients flow to both operands.
func SqErr(v, target *Tensor) *Tensor { panic(unimplemented) }

// SDELogProb is log π(xNext | x) of one Euler–Maruyama step with velocity v, per sample ([B]);
// x and xNext are constants, the gradient flows to v only (spec §2.1, §2.4).
func SDELogProb(x, v, xNext *Tensor, a SDEArgs) *Tensor { panic(unimplemented) }

// SDESample draws xNext = μ + std·z for one step and returns it with its log-prob (no tape).
func SDESample(x, v, z *Tensor, a SDEArgs) (xNext, logp *Tensor) { panic(unimplemented) }
