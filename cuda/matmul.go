//go:build cuda

package cuda

import (
	"fmt"
	"math"

	"github.com/flowtune/flowtune/tensor"
)

// Batched GEMM (kernels.cu §7). Three kernel families share one argument list:
//
//	gemm_f32_*   exact fp32 (SIMT), the default for Float32 storages
//	gemm_tf32_*  tensor cores in tf32 (Options.MatMul = TF32)
//	gemm_bf16_*  tensor cores in bf16 — whenever an operand is a BFloat16 storage, or for
//	             Float32 storages with Options.MatMul = BF16 (operands rounded on the device)
//
// The suffix names the transposes (n: as stored, t: transposed); "_u" marks the bf16 variant
// without 16-byte alignment requirements. The swizzled bf16 kernels (_big_, _mid_) take one
// more argument, a bias pointer after B (0: none).
//
// bf16 has three kernels (bf16Kernel in geometry.go chooses): gemm_bf16_big_* with 128×256
// block tiles for large aligned problems, gemm_bf16_mid_* (the same code with 128×128 tiles)
// for aligned ones just too small for those, gemm_bf16_* with 128×128 tiles for the rest (small
// grids, cards with less shared memory, unaligned operands).

func layout(ta, tb bool) string {
	s := [2]byte{'n', 'n'}
	if ta {
		s[0] = 't'
	}
	if tb {
		s[1] = 't'
	}
	return string(s[:])
}

// span is the number of elements a batched operand reaches: off + (batch−1)·stride + size.
func span(off, stride, batch, size int) int { return off + (batch-1)*stride + size }

func (b *Backend) MatMul(c, a, bm tensor.Storage, p tensor.MatMulArgs) {
	defer b.exit(b.enter("MatMul"))
	b.matMul(c, a, bm, nil, p, tileAuto)
}

// MatMulBias is MatMul followed by C_p[i][j] += bias[j] in every batch entry (tensor.BiasMatMul,
// which tensor.Linear uses): gemm_bf16_big_* and _mid_* add the bias in their epilogue, after
// the other kernels add_bias_f32 does, in place. bias is a Float32 storage of N elements.
func (b *Backend) MatMulBias(c, a, bm, bias tensor.Storage, p tensor.MatMulArgs) {
	defer b.exit(b.enter("MatMulBias"))
	bs := b.f32(bias, "MatMulBias")
	if bs.n != p.N {
		panic(fmt.Sprintf("cuda: MatMulBias: bias of %d elements for N = %d", bs.n, p.N))
	}
	b.matMul(c, a, bm, bs, p, tileAuto)
}

// matMul is MatMul (plus the bias when not nil) with the choice of bf16 kernel left to
// bf16Kernel (tileAuto) or forced.
func (b *Backend) matMul(c, a, bm tensor.Storage, bias *buffer, p tensor.MatMulArgs, tile bf16Tile) {
	cs, as, bs := b.f32(c, "MatMul"), b.buf(a, "MatMul"), b.buf(bm, "MatMul")
	if p.Batch < 0 || p.M < 0 || p.N < 0 || p.K < 0 {
		panic(fmt.Sprintf("cuda: MatMul %+v: negative size", p))
	}
	if p.Batch == 0 || p.M == 0 || p.N == 0 {
		return
	}
	if span(p.OffA, p.StrideA, p.Batch, p.M*p.K) > as.n || span(p.OffB, p.StrideB, p.Batch, p.K*p.N) > bs.n ||
		span(p.OffC, p.StrideC, p.Batch, p.M*p.N) > cs.n {
		panic(fmt.Sprintf("cuda: MatMul %+v out of range of storages A %d, B %d, C %d", p, as.n, bs.n, cs.n))
	}

	// accum: every batch entry updates the same C, in order (see kernels.cu §7).
	accum := p.StrideC == 0 && p.Batch > 1
	betaC := p.Beta
	if accum && p.Beta != 0 {
		betaC = float32(math.Pow(float64(p.Beta), float64(p.Batch)))
	}

	prec := b.opt.MatMul
	if as.dt == tensor.BFloat16 || bs.dt == tensor.BFloat16 {
		prec = BF16
	}
	var name string
	smem, bn := 0, 0 // bn: block tile width of the swizzled bf16 kernels (0: another kernel)
	switch prec {
	case FP32:
		name = "gemm_f32_" + layout(p.TransA, p.TransB)
	case TF32:
		name = "gemm_tf32_" + layout(p.TransA, p.TransB)
		smem = tf32Smem(p.TransA, p.TransB)
	case BF16:
		name = "gemm_bf16_" + layout(p.TransA, p.TransB)
		smem = bf16Smem(p.TransA, p.TransB)
		// Operands stored as float32 are rounded into bf16 scratch first.
		for _, op := range []**buffer{&as, &bs} {
			if (*op).dt == tensor.Float32 {
				t := b.tmp((*op).n, tensor.BFloat16)
				b.launch("convert_f32_bf16", grid1((*op).n, threads), dim3{threads, 1, 1}, 0, ptr(t), ptr(*op), i32((*op).n))
				defer b.release(t)
				*op = t
			}
		}
		contigA, contigB := p.K, p.N
		if p.TransA {
			contigA = p.M
		}
		if p.TransB {
			contigB = p.K
		}
		aligned := contigA%8 == 0 && contigB%8 == 0 && p.OffA%8 == 0 && p.OffB%8 == 0 &&
			p.StrideA%8 == 0 && p.StrideB%8 == 0
		if tile == tileAuto {
			tile = bf16Kernel(p.M, p.N, p.Batch, accum, aligned, b.info.MaxSharedPerBlockOptin, b.info.SMs)
		}
		switch {
		case !aligned:
			if tile != tileSmall {
				panic(fmt.Sprintf("cuda: MatMul %+v: the swizzled bf16 kernels need operands aligned to 8 elements", p))
			}
			name += "_u"
		case tile == tileBig:
			name, smem, bn = "gemm_bf16_big_"+layout(p.TransA, p.TransB), bf16BigSmem, gemmBigBN
		case tile == tileMid:
			name, smem, bn = "gemm_bf16_mid_"+layout(p.TransA, p.TransB), bf16MidSmem, gemmMidBN
		}
	}
	for _, t := range []int{as.dt.Size(), bs.dt.Size()} {
		if (prec == BF16) != (t == 2) {
			panic(fmt.Sprintf("cuda: MatMul: operand dtypes %s, %s with precision %s", as.dt, bs.dt, prec))
		}
	}

	g := dim3{(p.N + gemmTile - 1) / gemmTile, (p.M + gemmTile - 1) / gemmTile, 1}
	block := dim3{gemmThreads, 1, 1}
	if bn > 0 { // one-dimensional in x, rasterised by the kernel; a thread per column of the tile
		g = dim3{((p.N + bn - 1) / bn) * ((p.M + gemmBigBM - 1) / gemmBigBM), 1, 1}
		block = dim3{bn, 1, 1}
	} else if g.y > 65535 {
		panic(fmt.Sprintf("cuda: MatMul: M = %d exceeds the grid (at most %d)", p.M, 65535*gemmTile))
	}
	pcount := p.Batch
	if accum {
		pcount = 1
	}
	for pbase := 0; pbase < pcount; pbase += 65535 {
		g.z = min(65535, pcount-pbase)
		args := []uint64{ptr(cs), ptr(as), ptr(bs)}
		if bn > 0 {
			args = append(args, 0)
			if bias != nil {
				args[3] = ptr(bias)
			}
		}
		args = append(args, i32(p.M), i32(p.N), i32(p.K), f32(p.Alpha), f32(betaC), f32(p.Beta),
			i32(p.OffA), i32(p.OffB), i32(p.OffC), i32(p.StrideA), i32(p.StrideB), i32(p.StrideC),
			i32(p.Batch), i32(b2i(accum)), i32(pbase))
		b.launch(name, g, block, smem, args...)
	}
	if bias != nil && bn == 0 {
		n := pcount * p.M * p.N
		b.launch("add_bias_f32", dim3{min((n+threads-1)/threads, 65535), 1, 1}, dim3{threads, 1, 1}, 0,
			ptr(cs), ptr(bias), i32(p.OffC), i32(p.StrideC), i32(p.M), i32(p.N), i32(pcount))
	}
}

func b2i(v bool) int {
	if v {
		return 1
	}
	return 0
}
