//go:build amd64 && !purego

#include "textflag.h"

// AVX-512 helpers for packA and packB (pack.go); the Go wrappers in pack_amd64.go check the
// bounds. Each replaces a Go loop that would spend a call or a scattered store per element.

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
// AVX-512 packing of full panels of strided storage by 16×16 in-register transposes: 16 steps
// at a time, load 16 floats from each of the 14 or 16 rows (missing rows read as zero),
// transpose, and store each step's first `rows` lanes.

// func transposePanel(dst, src *float32, rs, blocks, rows, dstStep int)
// For p < 16·blocks and r < rows (14 or 16): dst[p·dstStep + r] = src[r·rs + p].
TEXT ·transposePanel(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ rs+16(FP), DX
	SHLQ $2, DX
	MOVQ blocks+24(FP), CX
	MOVQ rows+32(FP), R13
	MOVQ dstStep+40(FP), R9
	SHLQ $2, R9           // R9 = bytes between packed steps
	MOVQ R9, R12
	SHLQ $4, R12          // R12 = bytes per 16 packed steps
	MOVQ $0x3fff, AX      // store mask: 14 lanes, or 16
	CMPQ R13, $16
	JNE  transposeMask
	MOVQ $0xffff, AX

transposeMask:
	KMOVW AX, K1
	TESTQ CX, CX
	JZ    transposeDone

transposeLoop:
	// Z0..Z15 = 16 consecutive steps of rows 0..15 (rows 14, 15 zero unless present).
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
	ADDQ    DX, R8
	VPXORD  Z14, Z14, Z14
	VPXORD  Z15, Z15, Z15
	CMPQ    R13, $16
	JNE     transposeRows
	VMOVUPS (R8), Z14
	ADDQ    DX, R8
	VMOVUPS (R8), Z15

transposeRows:
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

	// 4×4 transposes of 128-bit blocks: step 4b+c gathers block b of Z(c), Z(4+c), Z(8+c),
	// Z(12+c); the results land in Zj for step j.
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

	// Store step j's first `rows` lanes dstStep floats apart.
	MOVQ DI, R8
	VMOVUPS Z0, K1, (R8)
	ADDQ    R9, R8
	VMOVUPS Z1, K1, (R8)
	ADDQ    R9, R8
	VMOVUPS Z2, K1, (R8)
	ADDQ    R9, R8
	VMOVUPS Z3, K1, (R8)
	ADDQ    R9, R8
	VMOVUPS Z4, K1, (R8)
	ADDQ    R9, R8
	VMOVUPS Z5, K1, (R8)
	ADDQ    R9, R8
	VMOVUPS Z6, K1, (R8)
	ADDQ    R9, R8
	VMOVUPS Z7, K1, (R8)
	ADDQ    R9, R8
	VMOVUPS Z8, K1, (R8)
	ADDQ    R9, R8
	VMOVUPS Z9, K1, (R8)
	ADDQ    R9, R8
	VMOVUPS Z10, K1, (R8)
	ADDQ    R9, R8
	VMOVUPS Z11, K1, (R8)
	ADDQ    R9, R8
	VMOVUPS Z12, K1, (R8)
	ADDQ    R9, R8
	VMOVUPS Z13, K1, (R8)
	ADDQ    R9, R8
	VMOVUPS Z14, K1, (R8)
	ADDQ    R9, R8
	VMOVUPS Z15, K1, (R8)
	ADDQ    $64, SI
	ADDQ    R12, DI
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
