package gemm

import (
	"fmt"
	"runtime"
	"sync/atomic"
)

// SgemmBatch runs batch products with one call: for p in [0, batch),
//
//	C_p = alpha·op(A_p)·op(B_p) + beta·C_p,  A_p = a[p·strideA:], B_p = b[p·strideB:], C_p = c[p·strideC:]
//
// each laid out as in Sgemm. A stride of 0 shares one matrix across the batch (weights); a
// strideC of 0 makes every product update the same C, applied in batch order. Distinct C_p must
// not overlap.
//
// Large products run one after another, each spread over the goroutines by Sgemm; products
// too small to share are instead spread whole over up to GOMAXPROCS goroutines. Either way no
// product is cut into slivers that would each repack the other operand.
func SgemmBatch(transA, transB bool, batch, m, n, k int, alpha float32, a []float32, lda, strideA int, b []float32, ldb, strideB int, beta float32, c []float32, ldc, strideC int) {
	SgemmBatchBias(transA, transB, batch, m, n, k, alpha, a, lda, strideA, b, ldb, strideB, beta, nil, c, ldc, strideC)
}

// SgemmBatchBias is SgemmBatch followed by C_p[i][j] += bias[j] in every product (bias: n values,
// or nil for none). The bias is added to each block of C as its product finishes, while the
// block is in cache, in one float32 addition: the result is bit for bit SgemmBatch's C plus the
// bias, without a second pass over C.
func SgemmBatchBias(transA, transB bool, batch, m, n, k int, alpha float32, a []float32, lda, strideA int, b []float32, ldb, strideB int, beta float32, bias, c []float32, ldc, strideC int) {
	checkBias(bias, n)
	if batch < 0 || strideA < 0 || strideB < 0 || strideC < 0 {
		panic(fmt.Sprintf("gemm.SgemmBatch: negative batch=%d or stride (%d, %d, %d)", batch, strideA, strideB, strideC))
	}
	if batch == 0 {
		return
	}
	item := func(p int) (ap, bp, cp []float32) {
		return sub(a, p*strideA), sub(b, p*strideB), sub(c, p*strideC)
	}
	// Checking the last product checks every earlier one: their slices are longer.
	ap, bp, cp := item(batch - 1)
	checkArgs(transA, transB, m, n, k, ap, lda, bp, ldb, cp, ldc)

	procs := runtime.GOMAXPROCS(0)
	if batch == 1 || strideC == 0 || workersFor(m, n, k) >= procs {
		for p := range batch {
			ap, bp, cp := item(p)
			sgemmChecked(workersFor(m, n, k), transA, transB, m, n, k, alpha, ap, lda, bp, ldb, beta, bias, cp, ldc)
		}
		return
	}
	flops := 2 * float64(batch) * float64(m) * float64(n) * float64(k)
	workers := max(1, min(procs, batch, int(flops/minFlopsPerWorker)))
	var next atomic.Int64
	parallel(workers, func(_, _ int) {
		for p := int(next.Add(1)) - 1; p < batch; p = int(next.Add(1)) - 1 {
			ap, bp, cp := item(p)
			sgemmChecked(1, transA, transB, m, n, k, alpha, ap, lda, bp, ldb, beta, bias, cp, ldc)
		}
	})
}

// sub is x[off:], or nil when off is at or past the end (an empty matrix needs no data).
func sub(x []float32, off int) []float32 {
	if off >= len(x) {
		return nil
	}
	return x[off:]
}
