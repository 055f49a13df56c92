package tensor

import "fmt"

// Image ops on [N, C, H, W] tensors: GroupNorm, Conv2D (im2col + GEMM) and nearest-neighbour
// 2× upsampling (a broadcast, no kernel of its own).

// GroupNorm normalises x [N, C, ...] over each group of C/groups consecutive channels and all
// trailing axes, then scales and shifts every channel by w and b ([C] or nil), as PyTorch's
// nn.GroupNorm.
func GroupNorm(x, w, b *Tensor, groups int, eps float32) *Tensor {
	be := mustSameBackend("GroupNorm", x, w, b)
	if x.Dims() < 2 || groups <= 0 || x.shape[1]%groups != 0 {
		panic(fmt.Sprintf("tensor.GroupNorm: x %v with %d groups (want [N, C, ...] with C divisible by the groups)", x.shape, groups))
	}
	C := x.shape[1]
	checkVector("GroupNorm", "weight", w, C, x)
	checkVector("GroupNorm", "bias", b, C, x)
	a := GroupNormArgs{N: x.shape[0], C: C, HW: numel(x.shape[2:]), Groups: groups, Eps: eps}
	y := Zeros(be, x.shape...)
	mean, rstd := be.Alloc(a.Rows(), Float32), be.Alloc(a.Rows(), Float32)
	if x.Size() > 0 {
		be.GroupNorm(y.data, mean, rstd, x.data, storageOf(w), storageOf(b), a)
	}
	return record(y, "GroupNorm", func(g *Tensor) []*Tensor {
		dx := Zeros(be, x.shape...)
		dw, db := gradBuffer(w), gradBuffer(b)
		if x.Size() > 0 {
			be.GroupNormBackward(dx.data, storageOf(dw), storageOf(db), g.data, x.data, mean, rstd, storageOf(w), a)
		}
		return []*Tensor{dx, dw, db}
	}, x, w, b)
}

// convColBudget caps the elements of one im2col buffer: images are unfolded in chunks of at
// most this size (at least one image per chunk), so memory stays bounded at any batch size.
var convColBudget = 1 << 26

// Conv2D is the 2-D cross-correlation of x [N, C, H, W] with w [O, C, KH, KW], the same stride
// and zero padding on both axes, plus bias ([O] or nil): result [N, O, OH, OW], as PyTorch's
// nn.Conv2d. A 1×1 stride-1 convolution multiplies directly; others unfold patches with
// Im2Col, a chunk of images at a time, and the backward unfolds them again instead of keeping
// the patches.
func Conv2D(x, w, bias *Tensor, stride, pad int) *Tensor {
	be := mustSameBackend("Conv2D", x, w, bias)
	if x.Dims() != 4 || w.Dims() != 4 || x.shape[1] != w.shape[1] || stride < 1 || pad < 0 {
		panic(fmt.Sprintf("tensor.Conv2D: x %v, weight %v, stride %d, padding %d (want x [N,C,H,W], weight [O,C,KH,KW], stride ≥ 1, padding ≥ 0)",
			x.shape, w.shape, stride, pad))
	}
	N, C, H, W := x.shape[0], x.shape[1], x.shape[2], x.shape[3]
	O, KH, KW := w.shape[0], w.shape[2], w.shape[3]
	OH, OW := ConvOut(H, KH, stride, pad), ConvOut(W, KW, stride, pad)
	if OH < 1 || OW < 1 {
		panic(fmt.Sprintf("tensor.Conv2D: kernel %dx%d with padding %d does not fit the %dx%d image", KH, KW, pad, H, W))
	}
	checkVector("Conv2D", "bias", bias, O, x)
	a := ConvArgs{C: C, H: H, W: W, KH: KH, KW: KW, Stride: stride, Pad: pad, OH: OH, OW: OW}
	K, P := a.ColRows(), a.ColCols()
	direct := KH == 1 && KW == 1 && stride == 1 && pad == 0 // col is x itself
	chunk := N
	if !direct {
		chunk = max(1, min(N, convColBudget/max(K*P, 1)))
	}
	// forEach calls f on each chunk of images [n0, n0+nb) with the chunk's patches.
	forEach := func(f func(n0, nb int, col Storage)) {
		var buf Storage
		for n0 := 0; n0 < N; n0 += chunk {
			nb := min(chunk, N-n0)
			if direct {
				f(n0, nb, x.data)
				continue
			}
			if buf == nil {
				buf = be.Alloc(chunk*K*P, Float32)
			}
			ca := a
			ca.Batch = nb
			be.Im2Col(buf, x.data, n0*C*H*W, ca)
			f(n0, nb, buf)
		}
	}
	colOff := func(n0 int) int { // where image n0's patches start in the chunk's col
		if direct {
			return n0 * K * P
		}
		return 0
	}
	out := Zeros(be, N, O, OH, OW)
	if out.Size() > 0 && K > 0 {
		forEach(func(n0, nb int, col Storage) {
			be.MatMul(out.data, w.data, col, MatMulArgs{Batch: nb, M: O, N: P, K: K, Alpha: 1,
				OffB: colOff(n0), OffC: n0 * O * P, StrideB: K * P, StrideC: O * P})
		})
	}
	// This node covers x and w; the bias's gradient is Add's below.
	record(out, "Conv2D", func(g *Tensor) []*Tensor {
		var dx, dw *Tensor
		if x.requiresGrad {
			dx = Zeros(be, x.shape...)
		}
		if w.requiresGrad {
			dw = Zeros(be, w.shape...)
		}
		if g.Size() == 0 || K == 0 {
			return []*Tensor{dx, dw}
		}
		var dcol Storage
		forEach(func(n0, nb int, col Storage) {
			if dw != nil { // dW += Σ_n dout_n · col_nᵀ, image by image (one accumulator)
				for i := 0; i < nb; i++ {
					be.MatMul(dw.data, g.data, col, MatMulArgs{Batch: 1, M: O, N: K, K: P, TransB: true,
						Alpha: 1, Beta: 1, OffA: (n0 + i) * O * P, OffB: colOff(n0) + i*K*P})
				}
			}
			if dx == nil {
				return
			}
			if direct { // dx_n = Wᵀ · dout_n straight into dx
				be.MatMul(dx.data, w.data, g.data, MatMulArgs{Batch: nb, M: K, N: P, K: O, TransA: true,
					Alpha: 1, OffB: n0 * O * P, OffC: n0 * K * P, StrideB: O * P, StrideC: K * P})
				return
			}
			if dcol == nil {
				dcol = be.Alloc(chunk*K*P, Float32)
			}
			be.MatMul(dcol, w.data, g.data, MatMulArgs{Batch: nb, M: K, N: P, K: O, TransA: true,
				Alpha: 1, OffB: n0 * O * P, StrideB: O * P, StrideC: K * P})
			ca := a
			ca.Batch = nb
			be.Col2Im(dx.data, n0*C*H*W, dcol, ca)
		})
		return []*Tensor{dx, dw}
	}, x, w)
	if bias != nil {
		out = Add(out, Reshape(bias, O, 1, 1))
	}
	return out
}

// Upsample2x repeats every pixel of x [N, C, H, W] into a 2×2 block: [N, C, 2H, 2W], PyTorch's
// interpolate(scale_factor=2, mode="nearest").
func Upsample2x(x *Tensor) *Tensor {
	if x.Dims() != 4 {
		panic(fmt.Sprintf("tensor.Upsample2x: x %v, want [N, C, H, W]", x.shape))
	}
	N, C, H, W := x.shape[0], x.shape[1], x.shape[2], x.shape[3]
	y := BroadcastTo(Reshape(x, N, C, H, 1, W, 1), N, C, H, 2, W, 2)
	return Reshape(y, N, C, 2*H, 2*W)
}
