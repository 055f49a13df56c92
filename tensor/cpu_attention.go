package tensor

import (
	"github.com/flowtune/flowtune/tensor/internal/gemm"
	"github.com/flowtune/flowtune/tensor/internal/vec"
)

// Scaled-dot-product attention on the CPU. Queries are processed in blocks of attnBlock rows
// per (batch, head): the scores of one block against all keys (attnBlock × Lk floats) are the
// only intermediate, so memory stays linear in the sequence length. Both matrix products of a
// block go through gemm.Sgemm.
//
// Forward, per query row i with scores s_ij = scale·q_i·k_j + mask_j:
//
//	lse_i = log Σ_j exp(s_ij),  P_ij = exp(s_ij − lse_i),  out_i = Σ_j P_ij v_j.
//
// Backward rebuilds P from lse, then (with D_i = Σ_d dout_id·out_id):
//
//	dV = Pᵀ·dOut,  dP = dOut·Vᵀ,  dS = P ⊙ (dP − D),  dQ = scale·dS·K,  dK = scale·dSᵀ·Q.

// attnBlock is the number of query rows handled together.
const attnBlock = 64

// attnItemMACs is the smallest number of multiply-adds worth a goroutine of its own.
const attnItemMACs = 1 << 18

func (cpuBackend) Attention(out, lse, q, k, v, mask Storage, a AttnArgs) {
	os, ls, qs, ks, vs, ms := cpuData(out), cpuData(lse), cpuData(q), cpuData(k), cpuData(v), cpuDataOrNil(mask)
	Lq, Lk, Dh := a.Lq, a.Lk, a.Dh
	if a.B*a.H == 0 || Lq == 0 {
		return
	}
	blocks := (Lq + attnBlock - 1) / attnBlock
	work := attnBlock * Lk * Dh * 2 // multiply-adds in one block
	parallelFor(a.B*a.H*blocks, max(1, attnItemMACs/max(1, work)), func(lo, hi int) {
		scores := make([]float32, attnBlock*Lk)
		for it := lo; it < hi; it++ {
			bh, blk := it/blocks, it%blocks
			i0 := blk * attnBlock
			rows := min(attnBlock, Lq-i0)
			qOff := (bh*Lq + i0) * Dh
			kvOff := bh * Lk * Dh
			s := scores[:rows*Lk]
			attnScores(s, qs[qOff:], ks[kvOff:], keyBias(ms, bh/a.H, Lk), rows, Lk, Dh, a.Scale)
			softmaxRows(s, s, rows, Lk, ls[bh*Lq+i0:bh*Lq+i0+rows])
			gemm.Sgemm(false, false, rows, Dh, Lk, 1, s, Lk, vs[kvOff:], Dh, 0, os[qOff:], Dh)
		}
	})
}

// keyBias returns the mask row of batch entry b, or nil without a mask.
func keyBias(mask []float32, b, Lk int) []float32 {
	if mask == nil {
		return nil
	}
	return mask[b*Lk : (b+1)*Lk]
}

// attnScores writes s = scale·Q·Kᵀ + bias for rows query rows (Q and K row-major with Dh
// columns); bias, when non-nil, is added to every row by the GEMM's epilogue.
func attnScores(s, q, k, bias []float32, rows, Lk, Dh int, scale float32) {
	gemm.SgemmBias(false, true, rows, Lk, Dh, scale, q, Dh, k, Dh, 0, bias, s, Lk)
}

// AttentionBackward: one work item is a whole (batch, head), because dK and dV add up over all
// of its query blocks.
func (cpuBackend) AttentionBackward(dq, dk, dv, dout, q, k, v, out, lse, mask Storage, a AttnArgs) {
	dqs, dks, dvs := cpuData(dq), cpuData(dk), cpuData(dv)
	dos, qs, ks, vs, os, ls := cpuData(dout), cpuData(q), cpuData(k), cpuData(v), cpuData(out), cpuData(lse)
	ms := cpuDataOrNil(mask)
	Lq, Lk, Dh := a.Lq, a.Lk, a.Dh
	if a.B*a.H == 0 {
		return
	}
	work := Lq * Lk * Dh * 4
	parallelFor(a.B*a.H, max(1, attnItemMACs/max(1, work)), func(lo, hi int) {
		p := make([]float32, attnBlock*Lk)  // probabilities of one query block
		dp := make([]float32, attnBlock*Lk) // their gradient, then the score gradient dS
		for bh := lo; bh < hi; bh++ {
			kvOff := bh * Lk * Dh
			dK, dV := dks[kvOff:kvOff+Lk*Dh], dvs[kvOff:kvOff+Lk*Dh]
			clear(dK)
			clear(dV)
			bias := keyBias(ms, bh/a.H, Lk)
			for i0 := 0; i0 < Lq; i0 += attnBlock {
				rows := min(attnBlock, Lq-i0)
				qOff := (bh*Lq + i0) * Dh
				P, dS := p[:rows*Lk], dp[:rows*Lk]
				attnScores(P, qs[qOff:], ks[kvOff:], bias, rows, Lk, Dh, a.Scale)
				for r := 0; r < rows; r++ {
					l := ls[bh*Lq+i0+r]
					row := P[r*Lk : (r+1)*Lk]
					vec.ApplyScalar(vec.OpSub, row, row, l)
					expfSlice(row, row)
				}
				// dV += Pᵀ·dOut and dP = dOut·Vᵀ.
				gemm.Sgemm(true, false, Lk, Dh, rows, 1, P, Lk, dos[qOff:], Dh, 1, dV, Dh)
				gemm.Sgemm(false, true, rows, Lk, Dh, 1, dos[qOff:], Dh, vs[kvOff:], Dh, 0, dS, Lk)
				for r := 0; r < rows; r++ {
					o, g := os[qOff+r*Dh:qOff+(r+1)*Dh], dos[qOff+r*Dh:qOff+(r+1)*Dh]
					var d float64
					for t := range o {
						d += float64(o[t]) * float64(g[t])
					}
					pr, sr := P[r*Lk:(r+1)*Lk], dS[r*Lk:(r+1)*Lk]
					for j := range sr {
						sr[j] = float32(float64(pr[j]) * (float64(sr[j]) - d))
					}
				}
				// dQ = scale·dS·K (this block's rows only) and dK += scale·dSᵀ·Q.
				gemm.Sgemm(false, false, rows, Dh, Lk, a.Scale, dS, Lk, ks[kvOff:], Dh, 0, dqs[qOff:], Dh)
				gemm.Sgemm(true, false, Lk, Dh, rows, a.Scale, dS, Lk, qs[qOff:], Dh, 1, dK, Dh)
			}
		}
	})
}
