package tensor

import "fmt"

// Linear algebra: batched matrix products over the last two axes, with the leading (batch)
// axes broadcast. Three layouts reach Backend.MatMul directly:
//
//   - equal batches: one strided batched GEMM;
//   - a shared right operand (one matrix, e.g. weights): with A untransposed the whole batch is
//     one tall GEMM of (batch·M) rows; otherwise StrideB = 0;
//   - a shared left operand: StrideA = 0.
//
// Anything else (both batches partially broadcast) is first stretched with BroadcastTo.
// Backward passes use the transpose flags instead of explicit transposes, and the gradient of
// a shared operand is summed over the batch.

// MatMul multiplies the last two axes ([..., M, K] × [..., K, N]); leading axes broadcast
// (a 2-D right operand is shared by the whole batch, as weights are).
func MatMul(a, b *Tensor) *Tensor { return MatMulT(a, b, false, false) }

// MatMulT is MatMul with either operand transposed in its last two axes, without a copy.
func MatMulT(a, b *Tensor, transA, transB bool) *Tensor {
	be := mustSameBackend("MatMul", a, b)
	if a.Dims() < 2 || b.Dims() < 2 {
		panic(fmt.Sprintf("tensor.MatMul: operands need at least 2 axes, got %v and %v", a.shape, b.shape))
	}
	M, K := lastTwo(a.shape, transA)
	Kb, N := lastTwo(b.shape, transB)
	if K != Kb {
		panic(fmt.Sprintf("tensor.MatMul: inner sizes differ: %v (transA %v) × %v (transB %v)", a.shape, transA, b.shape, transB))
	}
	aBatch, bBatch := a.shape[:a.Dims()-2], b.shape[:b.Dims()-2]
	batch := broadcastShape("MatMul", aBatch, bBatch)
	P, pa, pb := numel(batch), numel(aBatch), numel(bBatch)
	if (pa != P && pa != 1) || (pb != P && pb != 1) {
		// Both batches partly broadcast: stretch them (differentiably) and start again.
		if pa != P {
			a = BroadcastTo(a, append(append([]int(nil), batch...), a.shape[a.Dims()-2:]...)...)
		}
		if pb != P {
			b = BroadcastTo(b, append(append([]int(nil), batch...), b.shape[b.Dims()-2:]...)...)
		}
		return MatMulT(a, b, transA, transB)
	}

	out := Empty(be, append(append([]int(nil), batch...), M, N)...) // β = 0: C is written, not read
	if K == 0 {
		out = Zeros(be, out.shape...)
	}
	args := MatMulArgs{Batch: P, M: M, N: N, K: K, TransA: transA, TransB: transB, Alpha: 1,
		StrideA: M * K, StrideB: K * N, StrideC: M * N}
	if pa == 1 {
		args.StrideA = 0
	}
	if pb == 1 {
		args.StrideB = 0
		if !transA { // rows of every A_p stack into one tall matrix
			args.Batch, args.M, args.StrideA, args.StrideC = 1, P*M, 0, 0
		}
	}
	be.MatMul(out.data, a.data, b.data, args)

	return record(out, "MatMul", func(g *Tensor) []*Tensor {
		var ga, gb *Tensor
		if a.requiresGrad {
			// dA' = dC·op(B)ᵀ; when A is stored transposed, dA = op(B)·dCᵀ.
			if !transA {
				ga = MatMulT(g, b, false, !transB)
			} else {
				ga = MatMulT(b, g, transB, true)
			}
			ga = sumTo(ga, a.shape)
		}
		if b.requiresGrad {
			if pb == 1 && !transA && P > 1 {
				// Shared B: Σ_p A_pᵀ·dC_p is one GEMM over the stacked rows.
				af, gf := Reshape(a, P*M, K), Reshape(g, P*M, N)
				if !transB {
					gb = MatMulT(af, gf, true, false)
				} else {
					gb = MatMulT(gf, af, true, false)
				}
				gb = Reshape(gb, b.shape...)
			} else {
				// dB' = op(A)ᵀ·dC; when B is stored transposed, dB = dCᵀ·op(A).
				if !transB {
					gb = MatMulT(a, g, !transA, false)
				} else {
					gb = MatMulT(g, a, true, transA)
				}
				gb = sumTo(gb, b.shape)
			}
		}
		return []*Tensor{ga, gb}
	}, a, b)
}

// lastTwo returns the rows and columns of op(X) for a matrix stored in the last two axes.
func lastTwo(shape []int, trans bool) (rows, cols int) {
	r, c := shape[len(shape)-2], shape[len(shape)-1]
	if trans {
		return c, r
	}
	return r, c
}

// BiasMatMul is an optional Backend extension: MatMulBias computes what MatMul computes and
// adds bias[j] to column j of every row of every C_p (bias: N elements; in the accumulate case
// StrideC = 0, once), i.e. C = α·op(A)·op(B) + β·C + bias. A backend that adds the bias in its
// GEMM's epilogue saves Linear a broadcast add, one more pass over the output.
type BiasMatMul interface {
	MatMulBias(c, a, b, bias Storage, args MatMulArgs)
}

// Linear is x·wᵀ + bias for x [..., in], w [out, in] (PyTorch layout), bias [out] or nil.
// x is viewed as one [N, in] matrix, so the product is a single GEMM (w used transposed); on a
// backend with BiasMatMul the bias is added by that GEMM, else by a broadcast Add.
func Linear(x, w, bias *Tensor) *Tensor {
	if w.Dims() != 2 || x.Dims() < 1 || x.Dim(-1) != w.shape[1] {
		panic(fmt.Sprintf("tensor.Linear: x %v, w %v (want x [..., in], w [out, in])", x.shape, w.shape))
	}
	if bias != nil && (bias.Dims() != 1 || bias.shape[0] != w.shape[0]) {
		panic(fmt.Sprintf("tensor.Linear: bias %v for w %v (want [out])", bias.shape, w.shape))
	}
	in, outDim := w.shape[1], w.shape[0]
	x2 := Reshape(x, x.Size()/max(in, 1), in)
	var y *Tensor
	if fb, ok := mustSameBackend("Linear", x, w, bias).(BiasMatMul); ok && bias != nil {
		y = linearBias(fb, x2, w, bias)
	} else {
		y = MatMulT(x2, w, false, true)
		if bias != nil {
			y = Add(y, bias)
		}
	}
	shape := append(append([]int(nil), x.shape[:x.Dims()-1]...), outDim)
	return Reshape(y, shape...)
}

// linearBias is x·wᵀ + bias for x [N, in] through BiasMatMul, with the gradients MatMulT and
// Add would give: dx = g·w, dw = gᵀ·x, dbias = Σ_rows g.
func linearBias(be BiasMatMul, x, w, bias *Tensor) *Tensor {
	rows, in, out := x.shape[0], x.shape[1], w.shape[0]
	y := Empty(x.Backend(), rows, out) // β = 0: the product writes y whole, then the bias is added
	if in == 0 {
		y = Zeros(x.Backend(), rows, out)
	}
	be.MatMulBias(y.data, x.data, w.data, bias.data, MatMulArgs{Batch: 1, M: rows, N: out, K: in, TransB: true, Alpha: 1})
	return record(y, "Linear", func(g *Tensor) []*Tensor {
		var gx, gw, gb *Tensor
		if x.requiresGrad {
			gx = MatMulT(g, w, false, false)
		}
		if w.requiresGrad {
			gw = MatMulT(g, x, true, false)
		}
		if bias.requiresGrad {
			gb = sumTo(g, bias.shape)
		}
		return []*Tensor{gx, gw, gb}
	}, x, w, bias)
}
