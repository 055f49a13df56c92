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
