package tensor

// The Backend contract.
//
// A Backend owns memory (Storage) and runs a small, fixed set of primitives on it. Everything
// else — shapes, broadcasting rules, the autograd graph — lives in Go above this line and is
// written once. A primitive receives contiguous, row-major float32 storages plus the integer
// sizes it needs; the caller (package tensor) has already checked every shape, so a backend may
// assume valid input. Offsets and sizes are in elements, never bytes.
//
// The CPU backend (cpu.go) is the reference: every other backend must agree with it within the
// tolerances of tensor/backendtest, which is the one conformance suite all backends run.
//
// The contract holds generic primitives only. Fused kernels for one domain (the diffusion / RL
// ops of fused.go) are optional extensions: a backend implements them when it has a faster
// kernel, and package tensor composes them from the primitives when it has not.

// DType is the element type of a Storage. Float32 is the compute type everywhere; BFloat16 is a
// storage type a GPU backend may offer for weights and activations (it converts at the edges).
type DType uint8

const (
	Float32 DType = iota
	BFloat16
)

func (d DType) String() string {
	switch d {
	case Float32:
		return "float32"
	case BFloat16:
		return "bfloat16"
	}
	return "dtype(?)"
}

// Size returns the number of bytes of one element.
func (d DType) Size() int {
	if d == BFloat16 {
		return 2
	}
	return 4
}

// Storage is an opaque block of device memory owned by one Backend.
type Storage interface {
	Backend() Backend
	Len() int // number of elements
	DType() DType
}

// UnaryOp names an elementwise map y = f(x; p). p is the op's scalar parameter where it has one.
type UnaryOp uint8

const (
	OpNeg       UnaryOp = iota // -x
	OpExp                      // e^x
	OpLog                      // ln x
	OpSqrt                     // √x
	OpSquare                   // x²
	OpAbs                      // |x|
	OpTanh                     // tanh x
	OpSigmoid                  // 1/(1+e^-x)
	OpSiLU                     // x·sigmoid(x)
	OpGELU                     // tanh form: ½x(1+tanh(√(2/π)(x+0.044715x³)))
	OpReLU                     // max(x,0)
	OpPow                      // x^p
	OpAddScalar                // x+p
	OpMulScalar                // x·p
	OpClampMin                 // max(x,p)
	OpClampMax                 // min(x,p)
	OpRecip                    // 1/x
	numUnaryOps
)

var unaryNames = [...]string{"neg", "exp", "log", "sqrt", "square", "abs", "tanh", "sigmoid",
	"silu", "gelu", "relu", "pow", "add_scalar", "mul_scalar", "clamp_min", "clamp_max", "recip"}

func (o UnaryOp) String() string {
	if int(o) < len(unaryNames) {
		return unaryNames[o]
	}
	return "unary(?)"
}

// BinaryOp names an elementwise z = f(a, b).
type BinaryOp uint8

const (
	OpAdd BinaryOp = iota
	OpSub
	OpMul
	OpDiv
	OpMax
	OpMin
	OpGE // 1 if a >= b else 0 (used for the gradient masks of max/min/clamp)
	numBinaryOps
)

var binaryNames = [...]string{"add", "sub", "mul", "div", "max", "min", "ge"}

func (o BinaryOp) String() string {
	if int(o) < len(binaryNames) {
		return binaryNames[o]
	}
	return "binary(?)"
}

// MaxBroadcastDims is how many (merged) axes Binary handles. Package tensor merges adjacent
// axes that broadcast the same way before calling, so any NumPy-style broadcast whose operands
// alternate between "present" and "broadcast" at most this many times fits.
const MaxBroadcastDims = 4

// Strides4 gives an operand's element stride along each of the MaxBroadcastDims axes of the
// output; a stride of 0 broadcasts that axis.
type Strides4 [MaxBroadcastDims]int

// MatMulArgs describes a batched GEMM: for each p in [0,Batch):
//
//	C_p = Alpha · op(A_p) · op(B_p) + Beta · C_p
//
// op(A_p) is M×K and op(B_p) is K×N. With TransA false A_p is stored M×K row-major, with TransA
// true it is stored K×M (likewise B: K×N, or N×K when TransB). A_p starts at element
// OffA + p·StrideA of A (a StrideA of 0 shares one matrix across the batch — weights), and so on.
// With Beta 0, C is overwritten (NaNs already in C do not propagate: the BLAS convention).
// StrideC must be non-zero when Batch > 1.
type MatMulArgs struct {
	Batch, M, N, K            int
	TransA, TransB            bool
	Alpha, Beta               float32
	OffA, OffB, OffC          int
	StrideA, StrideB, StrideC int
}

// AttnArgs describes multi-head scaled-dot-product attention on [B, H, L, Dh] tensors.
// Q is [B,H,Lq,Dh], K and V are [B,H,Lk,Dh], Out is [B,H,Lq,Dh]. Scale multiplies QKᵀ (usually
// 1/√Dh). Mask, when non-nil, is an additive key bias of shape [B, Lk] (0 keeps a key, a large
// negative number drops it) shared by every head and query. LSE receives, per (b,h,query), the
// log-sum-exp of the scaled, masked scores: the backward pass rebuilds the softmax from it, so
// no L×L matrix needs to be kept.
type AttnArgs struct {
	B, H, Lq, Lk, Dh int
	Scale            float32
}

// Backend is the small set of primitives a device must provide. Methods panic on device
// failure with a message naming the op (the CUDA backend recovers driver panics at its own
// boundary first); package tensor turns user mistakes into errors before reaching here.
type Backend interface {
	Name() string

	// Memory.
	Alloc(n int, dt DType) Storage       // zero-filled
	Upload(dst Storage, src []float32)   // host → device, len(src) == dst.Len()
	Download(dst []float32, src Storage) // device → host (synchronises)
	Fill(dst Storage, v float32)         // every element = v
	Copy(dst Storage, dstOff int, src Storage, srcOff int, n int)
	// CopyBlocks copies rows blocks of cols elements: dst[dOff+r·dStride+j] = src[sOff+r·sStride+j].
	// It is the one primitive behind slice, concat and split.
	CopyBlocks(dst Storage, dOff, dStride int, src Storage, sOff, sStride, rows, cols int)
	// Permute writes dst = src transposed: src has the given shape (≤ 6 axes), and dst axis i is
	// src axis perm[i].
	Permute(dst, src Storage, shape []int, perm []int)

	// Elementwise.
	Unary(op UnaryOp, dst, x Storage, p float32)
	// UnaryBackward writes dx = dy · f'(x) for the op (with its parameter p). At kinks:
	// abs'(0) = relu'(0) = 0; clamp_min passes the gradient where x ≥ p, clamp_max where x ≤ p.
	UnaryBackward(op UnaryOp, dx, x, dy Storage, p float32)
	// Binary writes dst[i] = op(a[i·sa], b[i·sb]) over the 4-axis index space shape; dst is
	// contiguous with that shape.
	Binary(op BinaryOp, dst, a Storage, sa Strides4, b Storage, sb Strides4, shape [MaxBroadcastDims]int)
	// Axpby writes dst = alpha·x + beta·y (the Euler ODE step is Axpby(x', 1, x, dt, v)).
	// dst may alias x or y (EMA updates write in place).
	Axpby(dst Storage, alpha float32, x Storage, beta float32, y Storage)

	// Reductions. Sum views x as [outer, n, inner] and writes dst[o, i] = Σ_j x[o, j, i].
	Sum(dst, x Storage, outer, n, inner int)
	// SumSquares returns Σ x² accumulated in float64 (gradient-norm clipping; synchronises).
	// A backend that can sum many storages with one wait implements SquareSummer too.
	SumSquares(x Storage) float64

	// Linear algebra.
	MatMul(c, a, b Storage, args MatMulArgs)

	// Normalisation and softmax, all over the last axis of a [rows, cols] view.
	Softmax(y, x Storage, rows, cols int)
	SoftmaxBackward(dx, y, dy Storage, rows, cols int)
	// LayerNorm: y = (x−μ)/√(σ²+eps)·w + b; w and b may be nil (no affine). mean and rstd ([rows])
	// are saved for the backward.
	LayerNorm(y, mean, rstd, x, w, b Storage, rows, cols int, eps float32)
	// LayerNormBackward writes dx; accumulates (+=) into dw and db when they are non-nil.
	LayerNormBackward(dx, dw, db, dy, x, mean, rstd, w Storage, rows, cols int)
	// RMSNorm: y = x/√(mean(x²)+eps)·w; w may be nil. rstd ([rows]) is saved for the backward.
	RMSNorm(y, rstd, x, w Storage, rows, cols int, eps float32)
	RMSNormBackward(dx, dw, dy, x, rstd, w Storage, rows, cols int)

	// Image ops on [N, C, H, W] tensors (backend_image.go holds their argument types).
	// GroupNorm normalises each (image, group) of C/Groups channels over those channels and
	// H·W, then applies the per-channel w and b (each [C] or nil). mean and rstd
	// ([N·Groups]) are saved for the backward.
	GroupNorm(y, mean, rstd, x, w, b Storage, a GroupNormArgs)
	// GroupNormBackward writes dx; accumulates (+=) into dw and db when they are non-nil.
	GroupNormBackward(dx, dw, db, dy, x, mean, rstd, w Storage, a GroupNormArgs)
	// Im2Col unfolds a.Batch images of x, starting at element xOff, into col
	// [Batch, C·KH·KW, OH·OW]: col[n, (c·KH+i)·KW+j, oh·OW+ow] = x[n, c, oh·S−P+i, ow·S−P+j],
	// 0 outside the image. A convolution is then a GEMM of the weights with col.
	Im2Col(col, x Storage, xOff int, a ConvArgs)
	// Col2Im is Im2Col's adjoint: it overwrites the a.Batch images of dx starting at dxOff with
	// the sums of the col entries that each pixel was copied to.
	Col2Im(dx Storage, dxOff int, col Storage, a ConvArgs)

	// Attention (flash-style on GPUs: no L×L matrix in memory). mask may be nil.
	Attention(out, lse, q, k, v, mask Storage, args AttnArgs)
	// AttentionBackward writes dq, dk, dv (overwriting them).
	AttentionBackward(dq, dk, dv, dout, q, k, v, out, lse, mask Storage, args AttnArgs)

	// Embedding rows: dst[i,:] = table[idx[i],:]; ScatterAdd is its adjoint (+= into dtable).
	Gather(dst, table Storage, idx []int32, dim int)
	ScatterAdd(dtable, dy Storage, idx []int32, dim int)

	// Optimiser: one fused AdamW step on a parameter block in PyTorch's form, with g = GradScale·grad:
	// m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², p ← p(1 − lr·wd) − lr·m̂/(√v̂ + eps), where
	// m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ) and t = Step ≥ 1.
	AdamW(param, grad, m, v Storage, a AdamWArgs)

	// Random numbers from the counter-based Philox4x32-10 generator (philox.go holds the
	// definition every backend must reproduce bit for bit on the integer side): element i of
	// dst takes counter = offset + i under key = seed.
	RandNormal(dst Storage, seed, offset uint64)
	RandUniform(dst Storage, seed, offset uint64)
}

// AdamWArgs are the scalars of one AdamW step.
type AdamWArgs struct {
	LR, Beta1, Beta2, Eps, WeightDecay float32
	Step                               int     // 1-based, for bias correction
	GradScale                          float32 // multiplies grad first (gradient clipping); 1 for none
}

// SquareSummer is a Backend that adds up the SumSquares of many storages at the cost of one
// (one wait for the device): SumSquaresMany(xs) must equal Σ_k SumSquares(xs[k]) added in order.
type SquareSummer interface {
	SumSquaresMany(xs []Storage) float64
}

// LaunchBound is implemented by backends where issuing a primitive can cost more than its
// arithmetic on small problems (a GPU, where each primitive is a kernel launch): callers may
// then trade a little extra arithmetic for fewer primitives (nn.FreezeAdapter in rollouts).
type LaunchBound interface {
	LaunchBound() bool
}

// IsLaunchBound reports whether b says it is launch-bound.
func IsLaunchBound(b Backend) bool {
	l, ok := b.(LaunchBound)
	return ok && l.LaunchBound()
}
