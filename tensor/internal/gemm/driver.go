package gemm

import (
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sync/errgroup"
)

// minFlopsPerWorker keeps small products on one goroutine: below roughly this much work per
// worker (about 20 µs at 200 GFLOP/s), waking and joining goroutines costs more than it saves.
const minFlopsPerWorker = 1 << 22

// maxPackedB caps the packed copy of B (floats): a column block of B is packed whole, every
// kc slice of it, so that one call needs only two rounds of goroutines per column block.
const maxPackedB = 1 << 22

// plan is one Sgemm call being run with a given kernel and number of workers. The loops are
// those of GotoBLAS/BLIS, reordered so that the workers meet only twice per column block:
//
//	for each nc-wide column block jc of C:
//	  pack B(:, jc) into B̃, one kc-deep slice after another   (workers split the panels)
//	  for each task (mc-row block ic of C, group of nr-panels), first come first served:
//	    for each kc-deep slice pc:
//	      pack A(ic, pc) into the worker's Ã                  (kept in L2)
//	      for each nr-panel jr: for each mr-sliver ir: kernel on the mr×nr tile of C
//
// The kernel streams one kc×nr sliver of B̃ from L1 against successive mr×kc slivers of Ã, and
// a task's block of C stays in cache across the pc slices. C accumulates over the slices: the
// first applies the caller's beta, later ones beta = 1. A bias, when there is one, is added to
// the task's block after its last slice, while the block is still in cache: each element gets
// exactly the float32 sum the product alone would have left there, plus bias[j].
type plan struct {
	kern         *microKernel
	m, n, k      int
	a, b         view
	alpha, beta  float32
	bias         []float32 // nil, or n values added to every row of C
	c            []float32
	ldc, workers int
}

// run executes the plan. m, n, k ≥ 1 and alpha ≠ 0 (Sgemm handles the degenerate cases).
func (pl *plan) run() {
	kn := pl.kern
	mr, nr, kcMax := kn.mr, kn.nr, kn.kc
	mc := pl.rowBlock()
	mBlocks := ceilDiv(pl.m, mc)
	slices := ceilDiv(pl.k, kcMax)
	ncMax := min(kn.nc, max(nr, maxPackedB/pl.k/nr*nr))
	sliceLen := min(kcMax, pl.k) * roundUp(min(ncMax, pl.n), nr) // floats per slice of B̃

	bBuf := getBuf(slices * sliceLen)
	defer putBuf(bBuf)
	aBufs := make([]*buffer, pl.workers)
	for w := range aBufs {
		aBufs[w] = getBuf(min(kcMax, pl.k)*roundUp(mc, mr) + mr*nr) // + one edge tile
		defer putBuf(aBufs[w])
	}

	for jc := 0; jc < pl.n; jc += ncMax {
		nc := min(ncMax, pl.n-jc)
		nPanels := ceilDiv(nc, nr)

		// Pack every (slice, panel) of B̃, shared out evenly.
		items := slices * nPanels
		parallel(min(pl.workers, items), func(w, nw int) {
			lo, hi := split(items, nw, w)
			for it := lo; it < hi; it++ {
				s, q := it/nPanels, it%nPanels
				pc := s * kcMax
				packB(bBuf.f[s*sliceLen:], pl.b, pc, min(kcMax, pl.k-pc), jc, nc, nr, q, q+1, kn.packers)
			}
		})

		// Tasks are taken first come, first served; with fewer than two per worker the load
		// cannot even out, so then the column panels are split into groups as well (each group
		// repacks its row block of A, which is cheap next to the products).
		nGroups := 1
		if pl.workers > 1 && mBlocks < 2*pl.workers {
			nGroups = min(nPanels, ceilDiv(2*pl.workers, mBlocks))
		}
		tasks := mBlocks * nGroups
		var next atomic.Int64
		parallel(min(pl.workers, tasks), func(w, _ int) {
			buf := aBufs[w].f
			for t := int(next.Add(1)) - 1; t < tasks; t = int(next.Add(1)) - 1 {
				ib, g := t/nGroups, t%nGroups
				i0 := ib * mc
				rows := min(mc, pl.m-i0)
				q0, q1 := split(nPanels, nGroups, g)
				for s := range slices {
					pc := s * kcMax
					kc := min(kcMax, pl.k-pc)
					beta := pl.beta
					if s > 0 {
						beta = 1
					}
					aPack, tile := buf[:kc*roundUp(rows, mr)], buf[len(buf)-mr*nr:]
					packA(aPack, pl.a, i0, rows, pc, kc, mr, kn.packers)
					pl.macroKernel(aPack, bBuf.f[s*sliceLen:], tile, i0, rows, jc, nc, q0, q1, kc, beta)
				}
				if pl.bias != nil {
					j0, j1 := jc+q0*nr, min(jc+q1*nr, jc+nc)
					addBias(rows, j1-j0, pl.bias[j0:], pl.c[i0*pl.ldc+j0:], pl.ldc)
				}
			}
		})
	}
}

// macroKernel multiplies the packed row block Ã (rows i0…i0+rows of C) by panels [q0, q1) of
// B̃ (columns jc+q·nr… of C). Full tiles go straight to C; ragged edge tiles are computed
// into tile and the valid part merged by hand.
func (pl *plan) macroKernel(aPack, bPack, tile []float32, i0, rows, jc, nc, q0, q1, kc int, beta float32) {
	kn := pl.kern
	mr, nr := kn.mr, kn.nr
	loadC := beta != 0
	for q := q0; q < q1; q++ {
		bp := bPack[q*kc*nr : (q+1)*kc*nr]
		j := jc + q*nr
		cols := min(nr, nc-q*nr)
		for ir := 0; ir < rows; ir += mr {
			ap := aPack[(ir/mr)*kc*mr : (ir/mr+1)*kc*mr]
			h := min(mr, rows-ir)
			off := (i0+ir)*pl.ldc + j
			if h == mr && cols == nr {
				kn.fn(kc, ap, bp, pl.c[off:], pl.ldc, pl.alpha, beta, loadC)
				continue
			}
			kn.fn(kc, ap, bp, tile, nr, 1, 0, false)
			for i := 0; i < h; i++ {
				dst := pl.c[off+i*pl.ldc : off+i*pl.ldc+cols]
				src := tile[i*nr : i*nr+cols]
				for jj, v := range src {
					if loadC {
						dst[jj] = pl.alpha*v + beta*dst[jj]
					} else {
						dst[jj] = pl.alpha * v
					}
				}
			}
		}
	}
}

// rowBlock picks the height of the row blocks of C: at most the kernel's mc, and a multiple
// of mr that cuts the rows into near-equal blocks.
func (pl *plan) rowBlock() int {
	tiles := ceilDiv(pl.m, pl.kern.mr)
	blocks := ceilDiv(pl.m, pl.kern.mc)
	return ceilDiv(tiles, blocks) * pl.kern.mr
}

// workersFor decides how many goroutines a product of this size deserves.
func workersFor(m, n, k int) int {
	flops := 2 * float64(m) * float64(n) * float64(k)
	w := int(flops / minFlopsPerWorker)
	return max(1, min(w, runtime.GOMAXPROCS(0)))
}

// parallel runs fn(w, workers) for w in [0, workers), on the calling goroutine and
// workers−1 others, and returns when all are done.
func parallel(workers int, fn func(w, workers int)) {
	if workers <= 1 {
		fn(0, 1)
		return
	}
	var g errgroup.Group
	for w := 1; w < workers; w++ {
		g.Go(func() error { fn(w, workers); return nil })
	}
	fn(0, workers)
	_ = g.Wait() // the workers return no errors
}

// split returns the w-th of parts near-equal ranges covering [0, n).
func split(n, parts, w int) (lo, hi int) {
	return n * w / parts, n * (w + 1) / parts
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
func roundUp(a, b int) int { return ceilDiv(a, b) * b }

// buffer is a pooled packing buffer whose f starts on a 64-byte boundary, so packed panels
// do not straddle cache lines more than they must.
type buffer struct {
	raw, f []float32
}

var bufPool sync.Pool

func getBuf(n int) *buffer {
	b, _ := bufPool.Get().(*buffer)
	if b == nil {
		b = new(buffer)
	}
	const align = 16 // floats per 64 bytes
	if cap(b.raw) < n+align {
		b.raw = make([]float32, n+align)
	}
	skip := 0
	if mis := uintptr(unsafe.Pointer(unsafe.SliceData(b.raw))) % 64; mis != 0 {
		skip = int(64-mis) / 4
	}
	b.f = b.raw[skip : skip+n]
	return b
}

func putBuf(b *buffer) { bufPool.Put(b) }
