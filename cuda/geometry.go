package cuda

// Launch geometry the Go launchers share with kernels.cu. Each constant has a twin there, a
// #define of the name in the comment beside it, and TestGeometry checks that they agree.
const (
	attTile    = 64  // ATT_TILE: queries and keys per attention tile
	attPad     = 4   // ATT_PAD: floats of padding behind each shared row
	attThreads = 256 // ATT_THREADS: 16×16 threads, 4×4 scores each

	gemmTile       = 128 // GEMM_TILE: rows and columns of C per block
	gemmThreads    = 256 // GEMM_THREADS
	gemmF32BK      = 8   // GEMM_F32_BK
	gemmTF32BK     = 16  // GEMM_TF32_BK
	gemmTF32Stages = 3   // GEMM_TF32_STAGES
	gemmTF32Pad    = 4   // GEMM_TF32_PAD
	gemmBF16BK     = 32  // GEMM_BF16_BK
	gemmBF16Stages = 4   // GEMM_BF16_STAGES
	gemmBF16Pad    = 8   // GEMM_BF16_PAD
	gemmBigBM      = 128 // GEMM_BIG_BM: block tile of the large-problem bf16 GEMM
	gemmBigBN      = 256 // GEMM_BIG_BN
	gemmBigBK      = 64  // GEMM_BIG_BK
	gemmBigStages  = 3   // GEMM_BIG_STAGES
	gemmBigGroup   = 8   // GEMM_BIG_GROUP: tile rows per rasterisation group
	gemmMidBN      = 128 // GEMM_MID_BN: the same kernel with 128×128 tiles (4 warps)

	attbTile    = 64  // ATTB_TILE: queries per block and keys per tile of the bf16 attention
	attbThreads = 128 // ATTB_THREADS: 4 warps × 16 query rows
	attbPad     = 8   // ATTB_PAD: bf16 of padding behind each shared row

	rowWarps    = 8   // ROW_WARPS: rows (a warp each) per block of the row kernels
	scatterCols = 128 // SCATTER_COLS: columns per block of scatter_add_rows

	attStride = attTile + attPad // row stride of the 64-wide attention tiles, in floats
)

// geometry lists the constants above under their kernels.cu names (for TestGeometry).
var geometry = map[string]int{
	"ATT_TILE": attTile, "ATT_PAD": attPad, "ATT_THREADS": attThreads,
	"GEMM_TILE": gemmTile, "GEMM_THREADS": gemmThreads, "GEMM_F32_BK": gemmF32BK,
	"GEMM_TF32_BK": gemmTF32BK, "GEMM_TF32_STAGES": gemmTF32Stages, "GEMM_TF32_PAD": gemmTF32Pad,
	"GEMM_BF16_BK": gemmBF16BK, "GEMM_BF16_STAGES": gemmBF16Stages, "GEMM_BF16_PAD": gemmBF16Pad,
	"GEMM_BIG_BM": gemmBigBM, "GEMM_BIG_BN": gemmBigBN, "GEMM_BIG_BK": gemmBigBK,
	"GEMM_BIG_STAGES": gemmBigStages, "GEMM_BIG_GROUP": gemmBigGroup, "GEMM_MID_BN": gemmMidBN,
	"ATTB_TILE": attbTile, "ATTB_THREADS": attbThreads, "ATTB_PAD": attbPad,
	"ROW_WARPS": rowWarps, "SCATTER_COLS": scatterCols,
}

// Shared memory of the attention kernels, in bytes, for head dimension tile d (kernels.cu §6
// carves it in this order).
func attnFwdSmem(d int) int {
	return 4 * (2*d*attStride + attTile*(d+attPad) + attTile*attStride + attTile)
}
func attnDkdvSmem(d int) int {
	return 4 * (2*d*attStride + 2*attTile*(d+attPad) + 2*attTile*attStride + 3*attTile)
}
func attnDqSmem(d int) int {
	return 4 * (2*d*attStride + 3*attTile*(d+attPad) + attTile*attStride + 3*attTile)
}

// attnBF16Smem is the shared memory of attn_bf16_fwd_d<d>: the Q tile and two buffers of K and V
// tiles in bf16, two of the key bias; attnBF16BwdSmem that of the two backward kernels: four
// tiles, bias, lse and delta.
func attnBF16Smem(d int) int    { return 5*attbTile*(d+attbPad)*2 + 2*attbTile*4 }
func attnBF16BwdSmem(d int) int { return 4*attbTile*(d+attbPad)*2 + 3*attbTile*4 }

// Shared memory of the tensor-core GEMMs, in bytes: STAGES × (A slice + B slice), each slice
// stored with its contiguous axis padded.
func tf32Smem(ta, tb bool) int {
	return gemmTF32Stages * gemmSlices(ta, tb, gemmTF32BK, gemmTF32Pad) * 4
}
func bf16Smem(ta, tb bool) int {
	return gemmBF16Stages * gemmSlices(ta, tb, gemmBF16BK, gemmBF16Pad) * 2
}

// bf16BigSmem and bf16MidSmem are the shared memory of gemm_bf16_big_* and gemm_bf16_mid_*:
// STAGES × (A and B slices), unpadded (the rows are XOR-swizzled instead), the same for every
// layout: 3 × 48 KiB and 3 × 32 KiB.
const (
	bf16BigSmem = gemmBigStages * (gemmBigBM*gemmBigBK + gemmBigBK*gemmBigBN) * 2
	bf16MidSmem = gemmBigStages * (gemmBigBM*gemmBigBK + gemmBigBK*gemmMidBN) * 2
)

// bf16Tile names the bf16 GEMM kernels: gemm_bf16_* (128×128 tiles, padded shared memory,
// with unaligned variants), gemm_bf16_mid_* and gemm_bf16_big_* (the swizzled, fragment-
// double-buffered kernel with 128×128 and 128×256 tiles).
type bf16Tile int

const (
	tileAuto  bf16Tile = iota // let bf16Kernel decide
	tileSmall                 // gemm_bf16_*
	tileMid                   // gemm_bf16_mid_*
	tileBig                   // gemm_bf16_big_*
)

// bf16Kernel chooses the bf16 kernel of a product whose C has m×n elements per batch entry:
//   - unaligned operands (contiguous extent, offset or batch stride not a multiple of 8): the
//     128×128 kernel's _u variant, the only one that takes them;
//   - the 128×256 kernel when its 144 KiB of shared memory fit the card and its grid (tiles ×
//     batch entries, or the tiles alone when the batch accumulates into one C) has at least one
//     block per SM;
//   - else the swizzled 128×128 kernel when two of its blocks (2 × 96 KiB) fit (H100/H200, not
//     the A100's 163 KiB) and its grid has at least one block per SM: the products just too
//     small for the big tile, such as the 1536×1536 weight gradient of SD3.5-Medium (72 big
//     tiles, 144 of these on 132 SMs);
//   - else (small grids, smaller cards) the plain 128×128 kernel, with its 8 warps per block.
//
// The reasoning: with fewer blocks than SMs the larger tile idles SMs that smaller ones keep
// busy; with enough blocks the larger tile moves less data per flop. The crossovers are
// reasoned, not yet measured; cmd/kernelbench's SD3.5 rows straddle them.
func bf16Kernel(m, n, batch int, accum, aligned bool, smemOptin, sms int) bf16Tile {
	if !aligned {
		return tileSmall
	}
	entries := batch
	if accum {
		entries = 1
	}
	tiles := func(bn int) int { return ((m + gemmBigBM - 1) / gemmBigBM) * ((n + bn - 1) / bn) * entries }
	switch {
	case bf16BigSmem <= smemOptin && tiles(gemmBigBN) >= sms:
		return tileBig
	case 2*bf16MidSmem <= smemOptin && tiles(gemmMidBN) >= sms:
		return tileMid
	}
	return tileSmall
}

// gemmSlices is the number of elements of one stage: A is [BM][BK+pad] ([BK][BM+pad] when
// transposed), B is [BK][BN+pad] ([BN][BK+pad] when transposed).
func gemmSlices(ta, tb bool, bk, pad int) int {
	a, b := gemmTile*(bk+pad), bk*(gemmTile+pad)
	if ta {
		a = bk * (gemmTile + pad)
	}
	if tb {
		b = gemmTile * (bk + pad)
	}
	return a + b
}
