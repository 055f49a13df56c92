package tensor

import (
	"fmt"

	"github.com/flowtune/flowtune/tensor/internal/gemm"
)

// MatMul hands the whole strided batch to gemm.SgemmBatch, which decides how to use the cores:
// large products one after another, each spread over the goroutines by the packed kernel, and
// small ones spread whole across goroutines. (Cutting one product into row slivers here would
// make every sliver repack B.) A StrideC of 0 applies the products to the one C in batch order.
func (cpuBackend) MatMul(c, a, b Storage, p MatMulArgs) { cpuMatMul(c, a, b, nil, p) }

// MatMulBias is MatMul with bias[j] added to column j of every C_p (BiasMatMul, which Linear
// uses): the GEMM adds it to each block of C as the block's product finishes, so Linear makes
// no second output and no second pass, and the values are bit for bit MatMul's plus an Add's.
func (cpuBackend) MatMulBias(c, a, b, bias Storage, p MatMulArgs) {
	bv := cpuData(bias)
	if len(bv) != p.N {
		panic(fmt.Sprintf("tensor/cpu: MatMulBias: bias of %d elements for N = %d", len(bv), p.N))
	}
	cpuMatMul(c, a, b, bv, p)
}

func cpuMatMul(c, a, b Storage, bias []float32, p MatMulArgs) {
	cs, as, bs := cpuData(c), cpuData(a), cpuData(b)
	if p.Batch == 0 || p.M == 0 || p.N == 0 {
		return
	}
	// Leading dimensions of the stored matrices: A is M×K (K×M when transposed), B is K×N
	// (N×K), C is M×N.
	lda, ldb := p.K, p.N
	if p.TransA {
		lda = p.M
	}
	if p.TransB {
		ldb = p.K
	}
	gemm.SgemmBatchBias(p.TransA, p.TransB, p.Batch, p.M, p.N, p.K, p.Alpha,
		tail(as, p.OffA), lda, p.StrideA, tail(bs, p.OffB), ldb, p.StrideB,
		p.Beta, bias, cs[p.OffC:], p.N, p.StrideC)
}

// tail is x[off:], or nil past the end (a K = 0 product has empty operands).
func tail(x []float32, off int) []float32 {
	if off >= len(x) {
		return nil
	}
	return x[off:]
}
