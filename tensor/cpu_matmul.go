package tensor

import "github.com/flowtune/flowtune/tensor/internal/gemm"

// Batched matrix multiply on the CPU: the batch is cut into work items of (matrix, block of
// rows of C), and each item is one gemm.Sgemm call on sub-slices. Rows of C are independent, so
// the split does not change any result.

// mmItemMACs is the smallest number of multiply-adds worth a goroutine of its own.
const mmItemMACs = 1 << 18

// mmMaxRowSplits caps how many row blocks one matrix is cut into.
const mmMaxRowSplits = 16

func (cpuBackend) MatMul(c, a, b Storage, p MatMulArgs) {
	cs, as, bs := cpuData(c), cpuData(a), cpuData(b)
	if p.Batch == 0 || p.M == 0 || p.N == 0 {
		return
	}
	// Leading dimensions of the stored matrices.
	lda, ldb, ldc := p.K, p.N, p.N
	if p.TransA {
		lda = p.M
	}
	if p.TransB {
		ldb = p.K
	}

	// Rows of C per work item: enough multiply-adds to pay for a goroutine, and at most
	// mmMaxRowSplits blocks per matrix; a multiple of 4 keeps micro-kernels full.
	perRow := max(1, p.N*p.K)
	rows := max((mmItemMACs+perRow-1)/perRow, (p.M+mmMaxRowSplits-1)/mmMaxRowSplits)
	rows = min((rows+3)/4*4, p.M)
	blocks := (p.M + rows - 1) / rows

	// item runs the rows [r0, r1) of batch entry q.
	item := func(q, r0, r1 int) {
		aOff := p.OffA + q*p.StrideA
		if p.TransA {
			aOff += r0 // op(A) row i is column i of the stored K×M matrix
		} else {
			aOff += r0 * lda
		}
		cOff := p.OffC + q*p.StrideC + r0*ldc
		gemm.Sgemm(p.TransA, p.TransB, r1-r0, p.N, p.K, p.Alpha,
			as[aOff:], lda, bs[p.OffB+q*p.StrideB:], ldb, p.Beta, cs[cOff:], ldc)
	}

	if p.StrideC == 0 && p.Batch > 1 {
		// Every entry updates the same C: apply them in batch order, each split by rows.
		for q := 0; q < p.Batch; q++ {
			parallelFor(blocks, 1, func(lo, hi int) {
				for blk := lo; blk < hi; blk++ {
					item(q, blk*rows, min((blk+1)*rows, p.M))
				}
			})
		}
		return
	}
	// Small matrices are grouped so that each goroutine still gets mmItemMACs of work.
	grain := max(1, mmItemMACs/max(1, rows*perRow))
	parallelFor(p.Batch*blocks, grain, func(lo, hi int) {
		for it := lo; it < hi; it++ {
			q, blk := it/blocks, it%blocks
			item(q, blk*rows, min((blk+1)*rows, p.M))
		}
	})
}
