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
	"GEMM_BIG_STAGES": gemmBigStages, "GEMM_BIG_GROUP": gemmBigGroup,
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

// bf16BigSmem is the shared memory of gemm_bf16_big_*: STAGES × (A and B slices), unpadded
// (the rows are XOR-swizzled instead), the same for every layout: 3 × 48 KiB.
const bf16BigSmem = gemmBigStages * (gemmBigBM*gemmBigBK + gemmBigBK*gemmBigBN) * 2

// bigTile reports whether the 128×256 kernel runs a bf16 product: the operands are aligned
// (it has no unaligned variant), its 144 KiB of shared memory fit the card (not so on sm_86 /
// sm_89, 99 KiB), and its grid (128×256 tiles × batch entries, or the tiles alone when the
// batch accumulates into one C) has at least one block per SM. With fewer, SMs would idle that
// the twice as many 128×128 blocks keep busy; at one block per SM or more the larger tile's
// better ratio of math to shared-memory traffic wins. (This crossover is reasoned, not yet
// measured; cmd/kernelbench's SD3.5 rows straddle it.)
func bigTile(m, n, batch int, accum, aligned bool, smemOptin, sms int) bool {
	if !aligned || bf16BigSmem > smemOptin {
		return false
	}
	blocks := ((m + gemmBigBM - 1) / gemmBigBM) * ((n + gemmBigBN - 1) / gemmBigBN)
	if !accum {
		blocks *= batch
	}
	return blocks >= sms
}

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
