//go:build amd64 && !purego

#include "textflag.h"

// Micro-kernels for the packed GEMM (see kernel.go for the contract). Each computes one MR×NR
// tile of C = alpha·Ã·B̃ (+ beta·C) from a packed A panel (k steps of MR floats: one column of
// op(A) per step) and a packed B panel (k steps of NR floats: one row of op(B) per step), holding
// the whole tile in vector registers. Per k step a kernel loads the NR-wide row of B̃ into two
// vectors and, for every row r, broadcasts Ã[r] and issues two fused multiply-adds.

// ---------------------------------------------------------------------------------------------
// AVX-512: 14×32. Z4..Z31 hold the 28 accumulators (row r in Z(4+2r), Z(5+2r)); Z0, Z1 the row
// of B̃; Z2, Z3 alternate as broadcast registers so consecutive rows do not serialise.

#define ROW512(off, bc, c0, c1) \
	VBROADCASTSS off(AX), bc; \
	VFMADD231PS  Z0, bc, c0;  \
	VFMADD231PS  Z1, bc, c1

#define STEP512 \
	VMOVUPS (BX), Z0;            \
	VMOVUPS 64(BX), Z1;          \
	ROW512(0, Z2, Z4, Z5);       \
	ROW512(4, Z3, Z6, Z7);       \
	ROW512(8, Z2, Z8, Z9);       \
	ROW512(12, Z3, Z10, Z11);    \
	ROW512(16, Z2, Z12, Z13);    \
	ROW512(20, Z3, Z14, Z15);    \
	ROW512(24, Z2, Z16, Z17);    \
	ROW512(28, Z3, Z18, Z19);    \
	ROW512(32, Z2, Z20, Z21);    \
	ROW512(36, Z3, Z22, Z23);    \
	ROW512(40, Z2, Z24, Z25);    \
	ROW512(44, Z3, Z26, Z27);    \
	ROW512(48, Z2, Z28, Z29);    \
	ROW512(52, Z3, Z30, Z31)

// STORE512 writes row = alpha·acc; UPDATE512 writes row = alpha·acc + beta·row. Z2 = alpha,
// Z3 = beta, DI = the row, DX = the row stride in bytes.
#define STORE512(c0, c1) \
	VMULPS  Z2, c0, c0;  \
	VMULPS  Z2, c1, c1;  \
	VMOVUPS c0, (DI);    \
	VMOVUPS c1, 64(DI);  \
	ADDQ    DX, DI

#define UPDATE512(c0, c1)         \
	VMULPS      Z2, c0, c0;       \
	VMULPS      Z2, c1, c1;       \
	VFMADD231PS (DI), Z3, c0;     \
	VFMADD231PS 64(DI), Z3, c1;   \
	VMOVUPS     c0, (DI);         \
	VMOVUPS     c1, 64(DI);       \
	ADDQ        DX, DI

// func kernel14x32(k int, a, b, c *float32, ldc int, alpha, beta float32, loadC int)
TEXT ·kernel14x32(SB), NOSPLIT, $0-56
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), AX
	MOVQ b+16(FP), BX
	MOVQ c+24(FP), DI
	MOVQ ldc+32(FP), DX
	SHLQ $2, DX

	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15
	VPXORD Z16, Z16, Z16
	VPXORD Z17, Z17, Z17
	VPXORD Z18, Z18, Z18
	VPXORD Z19, Z19, Z19
	VPXORD Z20, Z20, Z20
	VPXORD Z21, Z21, Z21
	VPXORD Z22, Z22, Z22
	VPXORD Z23, Z23, Z23
	VPXORD Z24, Z24, Z24
	VPXORD Z25, Z25, Z25
	VPXORD Z26, Z26, Z26
	VPXORD Z27, Z27, Z27
	VPXORD Z28, Z28, Z28
	VPXORD Z29, Z29, Z29
	VPXORD Z30, Z30, Z30
	VPXORD Z31, Z31, Z31

	// Two k steps per iteration, then the odd one.
	MOVQ CX, R8
	SHRQ $1, R8
	JZ   tail512

loop512:
	STEP512
	ADDQ $56, AX
	ADDQ $128, BX
	STEP512
	ADDQ $56, AX
	ADDQ $128, BX
	DECQ R8
	JNZ  loop512

tail512:
	TESTQ $1, CX
	JZ    epilogue512
	STEP512

epilogue512:
	VBROADCASTSS alpha+40(FP), Z2
	VBROADCASTSS beta+44(FP), Z3
	MOVQ         loadC+48(FP), R9
	TESTQ        R9, R9
	JNZ          update512

	STORE512(Z4, Z5)
	STORE512(Z6, Z7)
	STORE512(Z8, Z9)
	STORE512(Z10, Z11)
	STORE512(Z12, Z13)
	STORE512(Z14, Z15)
	STORE512(Z16, Z17)
	STORE512(Z18, Z19)
	STORE512(Z20, Z21)
	STORE512(Z22, Z23)
	STORE512(Z24, Z25)
	STORE512(Z26, Z27)
	STORE512(Z28, Z29)
	STORE512(Z30, Z31)
	VZEROUPPER
	RET

update512:
	UPDATE512(Z4, Z5)
	UPDATE512(Z6, Z7)
	UPDATE512(Z8, Z9)
	UPDATE512(Z10, Z11)
	UPDATE512(Z12, Z13)
	UPDATE512(Z14, Z15)
	UPDATE512(Z16, Z17)
	UPDATE512(Z18, Z19)
	UPDATE512(Z20, Z21)
	UPDATE512(Z22, Z23)
	UPDATE512(Z24, Z25)
	UPDATE512(Z26, Z27)
	UPDATE512(Z28, Z29)
	UPDATE512(Z30, Z31)
	VZEROUPPER
	RET

// ---------------------------------------------------------------------------------------------
// AVX2 + FMA: 6×16. Y4..Y15 hold the 12 accumulators (row r in Y(4+2r), Y(5+2r)); Y0, Y1 the
// row of B̃; Y2, Y3 alternate as broadcast registers.

#define ROW256(off, bc, c0, c1) \
	VBROADCASTSS off(AX), bc; \
	VFMADD231PS  Y0, bc, c0;  \
	VFMADD231PS  Y1, bc, c1

#define STEP256 \
	VMOVUPS (BX), Y0;         \
	VMOVUPS 32(BX), Y1;       \
	ROW256(0, Y2, Y4, Y5);    \
	ROW256(4, Y3, Y6, Y7);    \
	ROW256(8, Y2, Y8, Y9);    \
	ROW256(12, Y3, Y10, Y11); \
	ROW256(16, Y2, Y12, Y13); \
	ROW256(20, Y3, Y14, Y15)

#define STORE256(c0, c1) \
	VMULPS  Y2, c0, c0;  \
	VMULPS  Y2, c1, c1;  \
	VMOVUPS c0, (DI);    \
	VMOVUPS c1, 32(DI);  \
	ADDQ    DX, DI

#define UPDATE256(c0, c1)       \
	VMULPS      Y2, c0, c0;     \
	VMULPS      Y2, c1, c1;     \
	VFMADD231PS (DI), Y3, c0;   \
	VFMADD231PS 32(DI), Y3, c1; \
	VMOVUPS     c0, (DI);       \
	VMOVUPS     c1, 32(DI);     \
	ADDQ        DX, DI

// func kernel6x16(k int, a, b, c *float32, ldc int, alpha, beta float32, loadC int)
TEXT ·kernel6x16(SB), NOSPLIT, $0-56
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), AX
	MOVQ b+16(FP), BX
	MOVQ c+24(FP), DI
	MOVQ ldc+32(FP), DX
	SHLQ $2, DX

	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	VXORPS Y12, Y12, Y12
	VXORPS Y13, Y13, Y13
	VXORPS Y14, Y14, Y14
	VXORPS Y15, Y15, Y15

	MOVQ CX, R8
	SHRQ $1, R8
	JZ   tail256

loop256:
	STEP256
	ADDQ $24, AX
	ADDQ $64, BX
	STEP256
	ADDQ $24, AX
	ADDQ $64, BX
	DECQ R8
	JNZ  loop256

tail256:
	TESTQ $1, CX
	JZ    epilogue256
	STEP256

epilogue256:
	VBROADCASTSS alpha+40(FP), Y2
	VBROADCASTSS beta+44(FP), Y3
	MOVQ         loadC+48(FP), R9
	TESTQ        R9, R9
	JNZ          update256

	STORE256(Y4, Y5)
	STORE256(Y6, Y7)
	STORE256(Y8, Y9)
	STORE256(Y10, Y11)
	STORE256(Y12, Y13)
	STORE256(Y14, Y15)
	VZEROUPPER
	RET

update256:
	UPDATE256(Y4, Y5)
	UPDATE256(Y6, Y7)
	UPDATE256(Y8, Y9)
	UPDATE256(Y10, Y11)
	UPDATE256(Y12, Y13)
	UPDATE256(Y14, Y15)
	VZEROUPPER
	RET

// ---------------------------------------------------------------------------------------------
// CPU feature detection.

// func cpuid(leaf, subleaf uint32) (eax, ebx, ecx, edx uint32)
TEXT ·cpuid(SB), NOSPLIT, $0-24
	MOVL leaf+0(FP), AX
	MOVL subleaf+4(FP), CX
	CPUID
	MOVL AX, eax+8(FP)
	MOVL BX, ebx+12(FP)
	MOVL CX, ecx+16(FP)
	MOVL DX, edx+20(FP)
	RET

// func xgetbv0() (eax, edx uint32) reads XCR0, the register-state components the OS saves.
TEXT ·xgetbv0(SB), NOSPLIT, $0-8
	MOVL $0, CX
	XGETBV
	MOVL AX, eax+0(FP)
	MOVL DX, edx+4(FP)
	RET

// ---------------------------------------------------------------------------------------------
// AVX-512 packing of a row-major operand: one gather per k step collects a column of up to 16
// values lying rs floats apart.

// func gatherPanel(dst, src *float32, rs, steps, dstStep int, gatherMask, storeMask uint16)
// For p < steps: dst[p·dstStep + r] = src[p + r·rs] for the lanes r set in gatherMask and 0 for
// the other lanes set in storeMask (dstStep ≤ 16 lanes; 15·rs must fit in int32).
TEXT ·gatherPanel(SB), NOSPLIT, $0-44
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ rs+16(FP), AX
	MOVQ steps+24(FP), CX
	MOVQ dstStep+32(FP), DX
	SHLQ $2, DX
	MOVWQZX gatherMask+40(FP), R9
	KMOVW   storeMask+42(FP), K2

	// Z1 = [0, rs, 2·rs, …, 15·rs] as int32 lanes.
	VPBROADCASTD AX, Z2
	VMOVDQU32    lanes<>(SB), Z1
	VPMULLD      Z2, Z1, Z1

	TESTQ CX, CX
	JZ    gatherDone

gatherLoop:
	KMOVW      R9, K1
	VPXORD     Z0, Z0, Z0
	VGATHERDPS (SI)(Z1*4), K1, Z0
	VMOVUPS    Z0, K2, (DI)
	ADDQ       $4, SI
	ADDQ       DX, DI
	DECQ       CX
	JNZ        gatherLoop

gatherDone:
	VZEROUPPER
	RET

DATA lanes<>+0(SB)/4, $0
DATA lanes<>+4(SB)/4, $1
DATA lanes<>+8(SB)/4, $2
DATA lanes<>+12(SB)/4, $3
DATA lanes<>+16(SB)/4, $4
DATA lanes<>+20(SB)/4, $5
DATA lanes<>+24(SB)/4, $6
DATA lanes<>+28(SB)/4, $7
DATA lanes<>+32(SB)/4, $8
DATA lanes<>+36(SB)/4, $9
DATA lanes<>+40(SB)/4, $10
DATA lanes<>+44(SB)/4, $11
DATA lanes<>+48(SB)/4, $12
DATA lanes<>+52(SB)/4, $13
DATA lanes<>+56(SB)/4, $14
DATA lanes<>+60(SB)/4, $15
GLOBL lanes<>(SB), RODATA|NOPTR, $64

// ---------------------------------------------------------------------------------------------
// AVX-512 packing of a full 14-row panel of a row-major operand by 16×16 in-register
// transposes: 16 k steps at a time, load 16 floats from each of the 14 rows (rows 14 and 15
// are zero), transpose, and store each column's first 14 lanes as one packed step.

// func transpose14(dst, src *float32, rs, blocks int)
// For p < 16·blocks and r < 14: dst[p·14 + r] = src[r·rs + p].
TEXT ·transpose14(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ rs+16(FP), DX
	SHLQ $2, DX
	MOVQ blocks+24(FP), CX
	MOVQ $0x3fff, AX
	KMOVW AX, K1
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15
	TESTQ CX, CX
	JZ    transposeDone

transposeLoop:
	// Z0..Z13 = 16 consecutive steps of rows 0..13.
	MOVQ SI, R8
	VMOVUPS (R8), Z0
	ADDQ    DX, R8
	VMOVUPS (R8), Z1
	ADDQ    DX, R8
	VMOVUPS (R8), Z2
	ADDQ    DX, R8
	VMOVUPS (R8), Z3
	ADDQ    DX, R8
	VMOVUPS (R8), Z4
	ADDQ    DX, R8
	VMOVUPS (R8), Z5
	ADDQ    DX, R8
	VMOVUPS (R8), Z6
	ADDQ    DX, R8
	VMOVUPS (R8), Z7
	ADDQ    DX, R8
	VMOVUPS (R8), Z8
	ADDQ    DX, R8
	VMOVUPS (R8), Z9
	ADDQ    DX, R8
	VMOVUPS (R8), Z10
	ADDQ    DX, R8
	VMOVUPS (R8), Z11
	ADDQ    DX, R8
	VMOVUPS (R8), Z12
	ADDQ    DX, R8
	VMOVUPS (R8), Z13

	// Pairs of rows interleaved: Z(16+2i), Z(17+2i) = unpack lo/hi of rows 2i, 2i+1.
	VUNPCKLPS Z1, Z0, Z16
	VUNPCKHPS Z1, Z0, Z17
	VUNPCKLPS Z3, Z2, Z18
	VUNPCKHPS Z3, Z2, Z19
	VUNPCKLPS Z5, Z4, Z20
	VUNPCKHPS Z5, Z4, Z21
	VUNPCKLPS Z7, Z6, Z22
	VUNPCKHPS Z7, Z6, Z23
	VUNPCKLPS Z9, Z8, Z24
	VUNPCKHPS Z9, Z8, Z25
	VUNPCKLPS Z11, Z10, Z26
	VUNPCKHPS Z11, Z10, Z27
	VUNPCKLPS Z13, Z12, Z28
	VUNPCKHPS Z13, Z12, Z29
	VUNPCKLPS Z15, Z14, Z30
	VUNPCKHPS Z15, Z14, Z31

	// Groups of four rows: Z(4g+c) holds, in 128-bit block b, rows 4g..4g+3 of step 4b+c.
	VSHUFPS $0x44, Z18, Z16, Z0
	VSHUFPS $0xee, Z18, Z16, Z1
	VSHUFPS $0x44, Z19, Z17, Z2
	VSHUFPS $0xee, Z19, Z17, Z3
	VSHUFPS $0x44, Z22, Z20, Z4
	VSHUFPS $0xee, Z22, Z20, Z5
	VSHUFPS $0x44, Z23, Z21, Z6
	VSHUFPS $0xee, Z23, Z21, Z7
	VSHUFPS $0x44, Z26, Z24, Z8
	VSHUFPS $0xee, Z26, Z24, Z9
	VSHUFPS $0x44, Z27, Z25, Z10
	VSHUFPS $0xee, Z27, Z25, Z11
	VSHUFPS $0x44, Z30, Z28, Z12
	VSHUFPS $0xee, Z30, Z28, Z13
	VSHUFPS $0x44, Z31, Z29, Z14
	VSHUFPS $0xee, Z31, Z29, Z15

	// 4×4 transposes of 128-bit blocks: step 4b+c (in Z16..Z31, by step) gathers block b of
	// Z(c), Z(4+c), Z(8+c), Z(12+c).
	VSHUFF32X4 $0x88, Z4, Z0, Z16
	VSHUFF32X4 $0xdd, Z4, Z0, Z20
	VSHUFF32X4 $0x88, Z12, Z8, Z24
	VSHUFF32X4 $0xdd, Z12, Z8, Z28
	VSHUFF32X4 $0x88, Z5, Z1, Z17
	VSHUFF32X4 $0xdd, Z5, Z1, Z21
	VSHUFF32X4 $0x88, Z13, Z9, Z25
	VSHUFF32X4 $0xdd, Z13, Z9, Z29
	VSHUFF32X4 $0x88, Z6, Z2, Z18
	VSHUFF32X4 $0xdd, Z6, Z2, Z22
	VSHUFF32X4 $0x88, Z14, Z10, Z26
	VSHUFF32X4 $0xdd, Z14, Z10, Z30
	VSHUFF32X4 $0x88, Z7, Z3, Z19
	VSHUFF32X4 $0xdd, Z7, Z3, Z23
	VSHUFF32X4 $0x88, Z15, Z11, Z27
	VSHUFF32X4 $0xdd, Z15, Z11, Z31
	VSHUFF32X4 $0x88, Z24, Z16, Z0
	VSHUFF32X4 $0xdd, Z24, Z16, Z8
	VSHUFF32X4 $0x88, Z28, Z20, Z4
	VSHUFF32X4 $0xdd, Z28, Z20, Z12
	VSHUFF32X4 $0x88, Z25, Z17, Z1
	VSHUFF32X4 $0xdd, Z25, Z17, Z9
	VSHUFF32X4 $0x88, Z29, Z21, Z5
	VSHUFF32X4 $0xdd, Z29, Z21, Z13
	VSHUFF32X4 $0x88, Z26, Z18, Z2
	VSHUFF32X4 $0xdd, Z26, Z18, Z10
	VSHUFF32X4 $0x88, Z30, Z22, Z6
	VSHUFF32X4 $0xdd, Z30, Z22, Z14
	VSHUFF32X4 $0x88, Z27, Z19, Z3
	VSHUFF32X4 $0xdd, Z27, Z19, Z11
	VSHUFF32X4 $0x88, Z31, Z23, Z7
	VSHUFF32X4 $0xdd, Z31, Z23, Z15

	// Step j's first 14 lanes are the packed step: store them back to back.
	VMOVUPS Z0, K1, 0(DI)
	VMOVUPS Z1, K1, 56(DI)
	VMOVUPS Z2, K1, 112(DI)
	VMOVUPS Z3, K1, 168(DI)
	VMOVUPS Z4, K1, 224(DI)
	VMOVUPS Z5, K1, 280(DI)
	VMOVUPS Z6, K1, 336(DI)
	VMOVUPS Z7, K1, 392(DI)
	VMOVUPS Z8, K1, 448(DI)
	VMOVUPS Z9, K1, 504(DI)
	VMOVUPS Z10, K1, 560(DI)
	VMOVUPS Z11, K1, 616(DI)
	VMOVUPS Z12, K1, 672(DI)
	VMOVUPS Z13, K1, 728(DI)
	VMOVUPS Z14, K1, 784(DI)
	VMOVUPS Z15, K1, 840(DI)
	VPXORD  Z14, Z14, Z14
	VPXORD  Z15, Z15, Z15
	ADDQ    $64, SI
	ADDQ    $896, DI
	DECQ    CX
	JNZ     transposeLoop

transposeDone:
	VZEROUPPER
	RET

// ---------------------------------------------------------------------------------------------
// AVX-512 packing of contiguous runs (row-major B, transposed A): per step, masked loads of up
// to 32 floats (lanes outside the load masks read as zero and touch no memory) and masked
// stores of the packed step.

// func copyPanel(dst, src *float32, stride, steps, dstStep int, load0, load1, store0, store1 uint16)
// For p < steps: dst[p·dstStep + r] = src[p·stride + r] for lanes r in the load masks (lanes
// 0-15 in load0, 16-31 in load1), 0 for the other lanes in the store masks.
TEXT ·copyPanel(SB), NOSPLIT, $0-48
	MOVQ  dst+0(FP), DI
	MOVQ  src+8(FP), SI
	MOVQ  stride+16(FP), AX
	SHLQ  $2, AX
	MOVQ  steps+24(FP), CX
	MOVQ  dstStep+32(FP), DX
	SHLQ  $2, DX
	KMOVW load0+40(FP), K1
	KMOVW load1+42(FP), K2
	KMOVW store0+44(FP), K3
	KMOVW store1+46(FP), K4
	TESTQ CX, CX
	JZ    copyDone

copyLoop:
	VMOVUPS.Z (SI), K1, Z0
	VMOVUPS.Z 64(SI), K2, Z1
	VMOVUPS   Z0, K3, (DI)
	VMOVUPS   Z1, K4, 64(DI)
	ADDQ      AX, SI
	ADDQ      DX, DI
	DECQ      CX
	JNZ       copyLoop

copyDone:
	VZEROUPPER
	RET
