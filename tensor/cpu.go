package tensor

import (
	"fmt"
	"runtime"

	"golang.org/x/sync/errgroup"
)

// The CPU backend: the reference implementation of the Backend contract, in plain Go over
// []float32. Every primitive is written to be read first; the heavy loops are split into chunks
// that run on goroutines (parallelFor), and matrix products go to tensor/internal/gemm.
//
// The primitives live by family in cpu_*.go: memory here, elementwise and reductions in
// cpu_elementwise.go, matmul in cpu_matmul.go, softmax and norms in cpu_norm.go, attention in
// cpu_attention.go, the optimiser, RNG and diffusion ops in cpu_fused.go, and the float32 exp
// they share in cpu_math.go.
//
// Results do not depend on the number of cores: work is cut by problem size only, and sums
// over chunks are added in chunk order (TestCPUDeterministic).

// cpuBackend has no state: storages are Go slices and the goroutines come and go per call.
type cpuBackend struct{}

var cpuSingleton Backend = cpuBackend{}

// CPU returns the process-wide CPU backend.
func CPU() Backend { return cpuSingleton }

func (cpuBackend) Name() string { return "cpu" }

// cpuStorage is a block of host memory. The CPU backend stores and computes float32 only.
type cpuStorage struct{ data []float32 }

func (s *cpuStorage) Backend() Backend { return cpuSingleton }
func (s *cpuStorage) Len() int         { return len(s.data) }
func (s *cpuStorage) DType() DType     { return Float32 }

// cpuData returns the slice behind a CPU storage (no copy). It panics when s belongs to
// another backend, which is always a programming error in package tensor.
func cpuData(s Storage) []float32 {
	cs, ok := s.(*cpuStorage)
	if !ok {
		panic(fmt.Sprintf("tensor/cpu: storage of backend %s handed to the CPU backend", storageOwner(s)))
	}
	return cs.data
}

// cpuDataOrNil is cpuData for the optional operands of a primitive (affine weights, masks,
// gradient accumulators): a nil Storage gives a nil slice.
func cpuDataOrNil(s Storage) []float32 {
	if s == nil {
		return nil
	}
	return cpuData(s)
}

func storageOwner(s Storage) string {
	if s == nil {
		return "<nil storage>"
	}
	return s.Backend().Name()
}

// ---- Memory -----------------------------------------------------------------------------------

func (cpuBackend) Alloc(n int, dt DType) Storage {
	if dt != Float32 {
		panic(fmt.Sprintf("tensor/cpu: Alloc(%d, %s): the CPU backend stores float32 only", n, dt))
	}
	if n < 0 {
		panic(fmt.Sprintf("tensor/cpu: Alloc with negative length %d", n))
	}
	return &cpuStorage{data: make([]float32, n)}
}

func (cpuBackend) Upload(dst Storage, src []float32) {
	d := cpuData(dst)
	if len(src) != len(d) {
		panic(fmt.Sprintf("tensor/cpu: Upload of %d values into a storage of %d", len(src), len(d)))
	}
	copy(d, src)
}

func (cpuBackend) Download(dst []float32, src Storage) {
	s := cpuData(src)
	if len(dst) != len(s) {
		panic(fmt.Sprintf("tensor/cpu: Download of a storage of %d into %d values", len(s), len(dst)))
	}
	copy(dst, s)
}

func (cpuBackend) Fill(dst Storage, v float32) {
	d := cpuData(dst)
	parallelFor(len(d), elemGrain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			d[i] = v
		}
	})
}

// Copy moves n elements; overlapping ranges of one storage behave like memmove.
func (cpuBackend) Copy(dst Storage, dstOff int, src Storage, srcOff int, n int) {
	copy(cpuData(dst)[dstOff:dstOff+n], cpuData(src)[srcOff:srcOff+n])
}

func (cpuBackend) CopyBlocks(dst Storage, dOff, dStride int, src Storage, sOff, sStride, rows, cols int) {
	d, s := cpuData(dst), cpuData(src)
	parallelFor(rows, rowGrain(cols), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			copy(d[dOff+r*dStride:dOff+r*dStride+cols], s[sOff+r*sStride:sOff+r*sStride+cols])
		}
	})
}

// Permute walks dst in row-major order. Each "row" of dst (its last axis) is a strided run of
// src, so the work splits over rows; a row's start in src is decoded from its dst index.
func (cpuBackend) Permute(dst, src Storage, shape []int, perm []int) {
	d, s := cpuData(dst), cpuData(src)
	nd := len(shape)
	if nd == 0 {
		copy(d, s)
		return
	}
	if nd > 6 || len(perm) != nd {
		panic(fmt.Sprintf("tensor/cpu: Permute of shape %v by %v (at most 6 axes)", shape, perm))
	}
	// srcStride[i] is the row-major stride of src axis i; dShape and step describe dst axis i
	// (its size, and how far one step along it moves in src).
	var srcStride, dShape, step [6]int
	acc := 1
	for i := nd - 1; i >= 0; i-- {
		srcStride[i] = acc
		acc *= shape[i]
	}
	for i := 0; i < nd; i++ {
		dShape[i] = shape[perm[i]]
		step[i] = srcStride[perm[i]]
	}
	cols, inner := dShape[nd-1], step[nd-1]
	if cols == 0 || acc == 0 {
		return
	}
	rows := acc / cols
	parallelFor(rows, rowGrain(cols), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			off, rem := 0, r
			for ax := nd - 2; ax >= 0; ax-- {
				off += (rem % dShape[ax]) * step[ax]
				rem /= dShape[ax]
			}
			out := d[r*cols : (r+1)*cols]
			if inner == 1 { // the last axis stays last (attention's head split): a plain copy
				copy(out, s[off:off+cols])
				continue
			}
			for j := range out {
				out[j] = s[off+j*inner]
			}
		}
	})
}

// ---- Parallel loops ---------------------------------------------------------------------------

const (
	// elemGrain is the smallest number of cheap elementwise items worth a goroutine.
	elemGrain = 1 << 15
	// maxChunks caps how many pieces one loop is cut into.
	maxChunks = 64
)

// rowGrain is the number of rows of the given length that make one goroutine's worth of work.
func rowGrain(cols int) int {
	if cols <= 0 {
		return elemGrain
	}
	return max(1, elemGrain/cols)
}

// chunking returns how parallelFor cuts [0,n): size of a chunk and how many there are. It
// depends only on n and grain, never on the number of cores, so reductions that add per-chunk
// partials in chunk order give the same bits on every machine.
func chunking(n, grain int) (size, count int) {
	if n <= 0 {
		return 0, 0
	}
	grain = max(grain, 1)
	count = min((n+grain-1)/grain, maxChunks)
	size = (n + count - 1) / count
	count = (n + size - 1) / size
	return size, count
}

// parallelFor calls fn on consecutive sub-ranges of [0,n), each of at least grain items, at
// most GOMAXPROCS at a time. A loop of one chunk runs on the calling goroutine. A panic in fn
// is re-raised on the caller once all chunks have stopped.
func parallelFor(n, grain int, fn func(lo, hi int)) {
	parallelChunks(n, grain, func(_, lo, hi int) { fn(lo, hi) })
}

// parallelChunks is parallelFor that also tells fn the index of its chunk (0 ≤ chunk < count,
// with count from chunking), so a reduction can keep one partial result per chunk.
func parallelChunks(n, grain int, fn func(chunk, lo, hi int)) {
	size, count := chunking(n, grain)
	if count == 0 {
		return
	}
	if count == 1 {
		fn(0, 0, n)
		return
	}
	var g errgroup.Group
	g.SetLimit(runtime.GOMAXPROCS(0))
	panics := make([]any, count)
	for c := 0; c < count; c++ {
		lo, hi := c*size, min((c+1)*size, n)
		g.Go(func() error {
			defer func() { panics[c] = recover() }()
			fn(c, lo, hi)
			return nil
		})
	}
	g.Wait()
	for _, p := range panics {
		if p != nil {
			panic(p)
		}
	}
}
