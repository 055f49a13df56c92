// Package gemm is the CPU single-precision matrix multiply behind the CPU backend's MatMul.
//
// Sgemm packs blocks of op(A) and op(B) into contiguous, zero-padded panels (which also
// absorbs the transpose flags) and runs a register-blocked micro-kernel over them,
// GotoBLAS/BLIS style (driver.go), sharing row blocks of C among up to GOMAXPROCS goroutines.
// SgemmBatch does the same for strided batches. On amd64 the micro-kernel is assembly —
// AVX-512 (14×32 tile, with AVX-512 packing helpers) or AVX2+FMA (6×16) as CPUID allows;
// elsewhere, or with the purego build tag, a portable Go kernel runs in the same framework.
// sgemmRef is the plain definition every path is tested against.
//
// Measured on the 2-core AMD EPYC (Zen 5) development machine, one goroutine, best call:
// 512³ ≈ 205 GFLOP/s, 4096×256·256×256 ≈ 210 GFLOP/s with the AVX-512 kernel, about twice
// OpenBLAS 0.3.21's single-thread sgemm there (which runs its Haswell AVX2 kernel);
// tensor/bench_matmul.sh measures both side by side; docs/measurements.md §6 keeps the dated
// figures with the load they were taken under (ratios on a loaded machine mean little).
package gemm

import (
	"fmt"

	"github.com/flowtune/flowtune/tensor/internal/vec"
)

// kernels lists the micro-kernels this machine can run, fastest first; Sgemm uses the first.
var kernels = availableKernels()

// KernelName names the micro-kernel Sgemm uses on this machine (for benchmark logs).
func KernelName() string { return kernels[0].name }

// Sgemm computes C = alpha·op(A)·op(B) + beta·C for row-major matrices.
//
// op(A) is m×k: A is stored m×k with row stride lda, or k×m when transA. op(B) is k×n: B is
// stored k×n with row stride ldb, or n×k when transB. C is m×n with row stride ldc. When beta
// is 0, C is overwritten (NaNs already in C do not propagate). When alpha is 0 or k is 0, A and
// B are not read and C is just scaled by beta (as in reference BLAS).
//
// Sgemm panics if a stride is shorter than its row or a slice is too short for its matrix.
// It may run on several goroutines; C must not overlap A or B.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	SgemmBias(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, nil, c, ldc)
}

// SgemmBias is Sgemm followed by C[i][j] += bias[j] (bias: n values, or nil for none), added
// by the epilogue as in SgemmBatchBias.
func SgemmBias(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, bias, c []float32, ldc int) {
	checkBias(bias, n)
	checkArgs(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	sgemmChecked(workersFor(m, n, k), transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, bias, c, ldc)
}

// sgemmChecked is one product on up to workers goroutines (arguments already checked),
// including the degenerate k = 0 and alpha = 0 cases, which only scale C (and add the bias).
func sgemmChecked(workers int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, bias, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scale(m, n, beta, c, ldc)
		if bias != nil {
			addBias(m, n, bias, c, ldc)
		}
		return
	}
	sgemmWithBias(kernels[0], workers, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, bias, c, ldc)
}

// checkBias panics unless bias is nil or holds at least n values.
func checkBias(bias []float32, n int) {
	if bias != nil && len(bias) < n {
		panic(fmt.Sprintf("gemm: %d bias values for n=%d", len(bias), n))
	}
}

// sgemmWith runs the packed algorithm with a chosen kernel and worker count (tests use it to
// cover every kernel the machine has). It assumes m, n, k ≥ 1 and alpha ≠ 0.
func sgemmWith(kern *microKernel, workers int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemmWithBias(kern, workers, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, nil, c, ldc)
}

// sgemmWithBias is sgemmWith plus bias[j] on every row of C when bias is not nil (n values).
func sgemmWithBias(kern *microKernel, workers int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, bias, c []float32, ldc int) {
	pl := plan{kern: kern, m: m, n: n, k: k, alpha: alpha, beta: beta, bias: bias, c: c, ldc: ldc, workers: workers}
	pl.a = view{data: a, rs: lda, cs: 1}
	if transA {
		pl.a = view{data: a, rs: 1, cs: lda}
	}
	pl.b = view{data: b, rs: ldb, cs: 1}
	if transB {
		pl.b = view{data: b, rs: 1, cs: ldb}
	}
	pl.run()
}

// addBias adds bias[j] to column j of the m×n matrix C: the epilogue of SgemmBatchBias.
func addBias(m, n int, bias, c []float32, ldc int) {
	bias = bias[:n]
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		vec.Add(row, row, bias)
	}
}

// scale sets C = beta·C, or C = 0 when beta is 0.
func scale(m, n int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}

// checkArgs panics, naming the problem, when the dimensions, strides and slice lengths do not
// describe valid matrices.
func checkArgs(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("gemm.Sgemm: negative dimension m=%d n=%d k=%d", m, n, k))
	}
	check := func(name string, rows, cols, ld, have int) {
		if rows == 0 || cols == 0 {
			return
		}
		if ld < cols {
			panic(fmt.Sprintf("gemm.Sgemm: ld%s=%d < %d columns (%s stored %d×%d)", name, ld, cols, name, rows, cols))
		}
		if need := (rows-1)*ld + cols; have < need {
			panic(fmt.Sprintf("gemm.Sgemm: len(%s)=%d < %d needed (%s stored %d×%d, ld%s=%d)", name, have, need, name, rows, cols, name, ld))
		}
	}
	if transA {
		check("a", k, m, lda, len(a))
	} else {
		check("a", m, k, lda, len(a))
	}
	if transB {
		check("b", n, k, ldb, len(b))
	} else {
		check("b", k, n, ldb, len(b))
	}
	check("c", m, n, ldc, len(c))
}

// sgemmRef is the plain triple loop: the readable definition the fast path must match.
func sgemmRef(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float32
			for p := 0; p < k; p++ {
				var av, bv float32
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += av * bv
			}
			if beta == 0 {
				c[i*ldc+j] = alpha * s
			} else {
				c[i*ldc+j] = alpha*s + beta*c[i*ldc+j]
			}
		}
	}
}
